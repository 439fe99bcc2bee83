package netguard

import (
	"fmt"
	"net"
	"net/netip"
	"testing"
	"time"
)

// fakeConn is a net.Conn with a fixed remote address and no I/O.
type fakeConn struct {
	net.Conn
	remote *net.TCPAddr
}

func (c *fakeConn) RemoteAddr() net.Addr { return c.remote }
func (c *fakeConn) Close() error         { return nil }

func allowlistOfSize(n int) *Allowlist {
	entries := make([]string, 0, n)
	for i := range n {
		entries = append(entries, fmt.Sprintf("10.%d.%d.0/24", i/256, i%256))
	}
	return MustParseAllowlist(entries...)
}

// BenchmarkAdmit measures the accept-time check of one connection: reading
// its address and matching it against the global allowlist of /24
// networks. A refusal also builds the DeniedError; no logger is set.
func BenchmarkAdmit(b *testing.B) {
	for _, size := range []int{4, 64, 1024} {
		allow := allowlistOfSize(size)
		last := netip.MustParseAddr(fmt.Sprintf("10.%d.%d.9", (size-1)/256, (size-1)%256))
		for _, tc := range []struct {
			name string
			addr netip.Addr
		}{{"allowed", last}, {"refused", netip.MustParseAddr("203.0.113.9")}} {
			b.Run(fmt.Sprintf("%d-networks/%s", size, tc.name), func(b *testing.B) {
				g := mustGuard(b, Options{Allow: allow, Now: time.Now})
				c := &fakeConn{remote: net.TCPAddrFromAddrPort(netip.AddrPortFrom(tc.addr, 40000))}
				b.ReportAllocs()
				for b.Loop() {
					g.admit(c)
				}
			})
		}
	}
}

// BenchmarkAcceptLoopback measures a whole loopback connect and accept
// through the Guard listener, for comparison with BenchmarkAdmit.
func BenchmarkAcceptLoopback(b *testing.B) {
	for _, guarded := range []bool{false, true} {
		b.Run(fmt.Sprintf("guarded=%v", guarded), func(b *testing.B) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				b.Fatal(err)
			}
			defer ln.Close()
			if guarded {
				ln = mustGuard(b, Options{Allow: MustParseAllowlist("127.0.0.1/32")}).Listen(ln)
			}
			go func() {
				for {
					c, err := ln.Accept()
					if err != nil {
						return
					}
					c.Close()
				}
			}()
			for b.Loop() {
				c, err := net.Dial("tcp", ln.Addr().String())
				if err != nil {
					b.Fatal(err)
				}
				c.Read(make([]byte, 1))
				c.Close()
			}
		})
	}
}
