package netguard

import (
	"net"
	"net/netip"
	"testing"
	"time"
)

func TestRefusedBeforeTLS(t *testing.T) {
	logs := &logRecorder{}
	g := mustGuard(t, Options{Allow: MustParseAllowlist("127.0.0.1/32"), Logger: logs.logger()})
	s := startTLS(t, g, "127.0.0.1:0")

	// A client bound to 127.0.0.2 that sends nothing reads EOF or a reset.
	readClosed(t, dialFrom(t, "127.0.0.2", s.addr))

	// A TLS client from 127.0.0.2 fails before the server reads its hello.
	if err := tlsHandshake(dialFrom(t, "127.0.0.2", s.addr)); err == nil {
		t.Error("TLS handshake from 127.0.0.2 succeeded, want failure")
	}
	if n := s.reached.Load(); n != 0 {
		t.Errorf("%d refused connections reached the TLS listener, want 0", n)
	}
	if n := s.handshakes.Load(); n != 0 {
		t.Errorf("server started %d TLS handshakes for refused clients, want 0", n)
	}

	// The allowed address completes a handshake on the same listener.
	if err := tlsHandshake(dialFrom(t, "127.0.0.1", s.addr)); err != nil {
		t.Fatalf("TLS handshake from 127.0.0.1: %v", err)
	}
	if n := s.handshakes.Load(); n != 1 {
		t.Errorf("server started %d TLS handshakes, want 1", n)
	}

	st := g.Stats()
	if st.RefusedGlobal != 2 || st.Accepted != 1 {
		t.Errorf("stats = %+v, want 2 refused and 1 accepted", st)
	}
	lines := logs.attrs()
	if len(lines) == 0 {
		t.Fatal("no refusal was logged")
	}
	if lines[0]["source"] != "127.0.0.2" || lines[0]["rule"] != RuleGlobal {
		t.Errorf("first log line = %v, want source 127.0.0.2 and rule %s", lines[0], RuleGlobal)
	}
}

func TestIPv6Loopback(t *testing.T) {
	tests := []struct {
		name  string
		allow *Allowlist
		ok    bool
	}{
		{"::1/128 allows ::1", MustParseAllowlist("::1/128"), true},
		{"::/0 allows ::1", MustParseAllowlist("::/0"), true},
		{"IPv4 loopback does not allow ::1", MustParseAllowlist("127.0.0.1/32", "127.0.0.0/8"), false},
		{"other IPv6 network refuses ::1", MustParseAllowlist("2001:db8::/32"), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := mustGuard(t, Options{Allow: tt.allow})
			s := startTLS(t, g, "[::1]:0")
			err := tlsHandshake(dialFrom(t, "::1", s.addr))
			if tt.ok && err != nil {
				t.Errorf("handshake from ::1: %v, want success", err)
			}
			if !tt.ok && err == nil {
				t.Error("handshake from ::1 succeeded, want refusal")
			}
			if !tt.ok && s.reached.Load() != 0 {
				t.Error("refused ::1 connection reached the TLS listener")
			}
		})
	}
}

func TestProxyProtocol(t *testing.T) {
	client := netip.MustParseAddrPort("192.0.2.10:40000")
	client6 := netip.MustParseAddrPort("[2001:db8::10]:40000")
	dst := netip.MustParseAddrPort("198.51.100.1:443")
	tests := []struct {
		name   string
		from   string
		header []byte
		ok     bool
		rule   string
	}{
		{"trusted proxy, allowed client", "127.0.0.1", proxyV2(client, dst), true, ""},
		{"trusted proxy, IPv6 header", "127.0.0.1", proxyV2(client6, netip.MustParseAddrPort("[2001:db8::1]:443")), true, ""},
		{"trusted proxy, refused client", "127.0.0.1", proxyV2(netip.MustParseAddrPort("203.0.113.9:40000"), dst), false, RuleGlobal},
		{"trusted proxy, version 1", "127.0.0.1", []byte("PROXY TCP4 192.0.2.10 198.51.100.1 40000 443\r\n"), false, RuleProxyHeader},
		{"trusted proxy, garbage", "127.0.0.1", []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"), false, RuleProxyHeader},
		{"trusted proxy, no header", "127.0.0.1", nil, false, RuleProxyHeader},
		{"untrusted peer claims allowed client", "127.0.0.3", proxyV2(client, dst), false, RuleGlobal},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			logs := &logRecorder{}
			g := mustGuard(t, Options{
				Allow:              MustParseAllowlist("192.0.2.0/24", "2001:db8::/32"),
				TrustedProxies:     MustParseAllowlist("127.0.0.1/32"),
				ProxyProtocol:      true,
				ProxyHeaderTimeout: 300 * time.Millisecond,
				Logger:             logs.logger(),
			})
			s := startTLS(t, g, "127.0.0.1:0")
			c := dialFrom(t, tt.from, s.addr)
			if _, err := c.Write(tt.header); err != nil {
				t.Fatal(err)
			}
			err := tlsHandshake(c)
			if tt.ok {
				want := client
				if tt.name == "trusted proxy, IPv6 header" {
					want = client6
				}
				checkProxied(t, s, err, want, netip.MustParseAddrPort(c.LocalAddr().String()))
				return
			}
			if err == nil {
				t.Fatal("handshake succeeded, want refusal")
			}
			if n := s.handshakes.Load(); n != 0 {
				t.Errorf("server started %d handshakes, want 0", n)
			}
			if lines := logs.attrs(); len(lines) != 1 || lines[0]["rule"] != tt.rule {
				t.Errorf("log lines = %v, want one with rule %s", lines, tt.rule)
			}
		})
	}
}

// checkProxied checks that a proxied handshake succeeded and that the
// server saw the client address from the header, not the proxy's.
func checkProxied(t *testing.T, s *testServer, err error, client, proxy netip.AddrPort) {
	t.Helper()
	if err != nil {
		t.Fatalf("handshake through trusted proxy: %v", err)
	}
	if remote := (<-s.remotes).(*net.TCPAddr).AddrPort(); remote != client {
		t.Errorf("server RemoteAddr = %v, want %v from the header", remote, client)
	}
	if src := <-s.sources; src.Proxy != proxy || src.Client != client {
		t.Errorf("SourceOf = %+v, want client %v via proxy %v", src, client, proxy)
	}
}

func TestProxyProtocolLocalCommand(t *testing.T) {
	local := append(append([]byte{}, proxySignature...), 0x20, 0x00, 0, 0)
	for _, tt := range []struct {
		name  string
		allow *Allowlist
		ok    bool
	}{
		{"proxy allowed", MustParseAllowlist("127.0.0.1/32"), true},
		{"proxy not allowed", MustParseAllowlist("192.0.2.0/24"), false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			g := mustGuard(t, Options{Allow: tt.allow, TrustedProxies: MustParseAllowlist("127.0.0.1"), ProxyProtocol: true})
			s := startTLS(t, g, "127.0.0.1:0")
			c := dialFrom(t, "127.0.0.1", s.addr)
			c.Write(local)
			if err := tlsHandshake(c); (err == nil) != tt.ok {
				t.Errorf("handshake error = %v, want success %v", err, tt.ok)
			}
		})
	}
}

func TestProxyHeaderTimeout(t *testing.T) {
	g := mustGuard(t, Options{
		Allow:              MustParseAllowlist("192.0.2.0/24"),
		TrustedProxies:     MustParseAllowlist("127.0.0.1/32"),
		ProxyProtocol:      true,
		ProxyHeaderTimeout: 200 * time.Millisecond,
	})
	s := startTLS(t, g, "127.0.0.1:0")
	c := dialFrom(t, "127.0.0.1", s.addr)
	c.Write(proxySignature[:6]) // a partial header, then silence

	start := time.Now()
	readClosed(t, c)
	if waited := time.Since(start); waited > 3*time.Second {
		t.Errorf("server waited %s for the header, want about 200ms", waited)
	}
	if st := g.Stats(); st.RefusedProxyHeader != 1 {
		t.Errorf("RefusedProxyHeader = %d, want 1", st.RefusedProxyHeader)
	}
}

func TestNewRejectsMissingAllowlist(t *testing.T) {
	if _, err := New(Options{}); err == nil {
		t.Error("New without Allow succeeded")
	}
	if _, err := New(Options{Allow: MustParseAllowlist("0.0.0.0/0"), ProxyProtocol: true}); err == nil {
		t.Error("New with ProxyProtocol and no trusted proxy succeeded")
	}
}
