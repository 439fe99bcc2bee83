package egress

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// startEcho starts a TCP echo server on 127.0.0.1 and returns its port.
func startEcho(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				io.Copy(c, c)
			}()
		}
	}()
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	return port
}

type attempts struct {
	mu   sync.Mutex
	list []ProxyAttempt
}

func (a *attempts) add(p ProxyAttempt) {
	a.mu.Lock()
	a.list = append(a.list, p)
	a.mu.Unlock()
}

func (a *attempts) all() []ProxyAttempt {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]ProxyAttempt(nil), a.list...)
}

// connect sends a CONNECT request for target through the proxy at addr and
// returns the connection and the response status.
func connect(t *testing.T, addr, target string) (net.Conn, *bufio.Reader, int) {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(5 * time.Second))
	io.WriteString(c, "CONNECT "+target+" HTTP/1.1\r\nHost: "+target+"\r\n\r\n")
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, &http.Request{Method: http.MethodConnect})
	if err != nil {
		t.Fatalf("reading CONNECT response: %v", err)
	}
	return c, br, resp.StatusCode
}

func TestForwardProxy(t *testing.T) {
	echoPort := startEcho(t)
	resolver := newStubResolver(map[string][]string{})
	for range 5 {
		resolver.then("echo.partner.test", "127.0.0.1")
		resolver.then("other.test", "127.0.0.1")
	}
	dialer := &dialRecorder{real: true}
	g, err := New(Options{Allow: []string{"echo.partner.test", "127.0.0.1/32"}, Resolver: resolver, Dial: dialer.dial})
	if err != nil {
		t.Fatal(err)
	}
	var seen attempts
	srv := httptest.NewServer(&ForwardProxy{Guard: g, OnAttempt: seen.add})
	defer srv.Close()
	proxyAddr := strings.TrimPrefix(srv.URL, "http://")

	t.Run("allowed", func(t *testing.T) {
		c, br, status := connect(t, proxyAddr, "echo.partner.test:"+echoPort)
		if status != 200 {
			t.Fatalf("status %d, want 200", status)
		}
		io.WriteString(c, "ping\n")
		line, err := br.ReadString('\n')
		if err != nil || line != "ping\n" {
			t.Errorf("echo through tunnel = %q, %v", line, err)
		}
	})
	for _, tt := range []struct{ name, target string }{
		{"host not listed", "other.test:" + echoPort},
		{"metadata address", "169.254.169.254:80"},
		{"metadata IPv6", "[fd00:ec2::254]:80"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			before := len(dialer.calls())
			if _, _, status := connect(t, proxyAddr, tt.target); status != http.StatusForbidden {
				t.Errorf("status %d, want 403", status)
			}
			if len(dialer.calls()) != before {
				t.Errorf("dialer called for a refused target: %v", dialer.calls()[before:])
			}
		})
	}
	t.Run("GET refused", func(t *testing.T) {
		resp, err := http.Get(srv.URL + "/")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusMethodNotAllowed {
			t.Errorf("status %d, want 405", resp.StatusCode)
		}
	})

	got := seen.all()
	if len(got) != 5 {
		t.Fatalf("OnAttempt called %d times, want 5: %+v", len(got), got)
	}
	if !got[0].Allowed || got[0].Err != nil {
		t.Errorf("first attempt = %+v, want allowed", got[0])
	}
	for _, a := range got[1:4] {
		var denied *DeniedError
		if a.Allowed || !errors.As(a.Err, &denied) {
			t.Errorf("attempt %+v, want denied with a *DeniedError", a)
		}
	}
	if got[4].Method != http.MethodGet || got[4].Allowed {
		t.Errorf("last attempt = %+v, want a refused GET", got[4])
	}
}
