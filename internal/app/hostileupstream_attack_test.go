package app_test

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse-health/gatehouse/internal/config"
	"github.com/gatehouse-health/gatehouse/internal/devmode"
	"github.com/gatehouse-health/gatehouse/internal/record"
)

// capabilityJSON is a response the gateway releases for GET /fhir/metadata
// with strict mode off.
const capabilityJSON = `{"resourceType":"CapabilityStatement","status":"active","date":"2024-01-01","kind":"instance","fhirVersion":"4.0.1","format":["json"]}`

// rawUpstream is a payer engine on a plain TCP listener that responds to each
// request with the bytes a test chooses, so that it can break HTTP framing
// in ways net/http's server never would. Only the first request gets
// those bytes: later ones get a valid CapabilityStatement.
type rawUpstream struct {
	ln      net.Listener
	respond func(w *bufio.Writer)
	served  atomic.Int64
	mu      sync.Mutex
	conns   []net.Conn
}

func newRawUpstream(t *testing.T, respond func(w *bufio.Writer)) *rawUpstream {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	u := &rawUpstream{ln: ln, respond: respond}
	go u.serve()
	t.Cleanup(func() {
		ln.Close()
		u.mu.Lock()
		for _, c := range u.conns {
			c.Close()
		}
		u.mu.Unlock()
	})
	return u
}

func (u *rawUpstream) serve() {
	for {
		c, err := u.ln.Accept()
		if err != nil {
			return
		}
		u.mu.Lock()
		u.conns = append(u.conns, c)
		u.mu.Unlock()
		go u.handle(c)
	}
}

func (u *rawUpstream) handle(c net.Conn) {
	defer c.Close()
	br := bufio.NewReader(c)
	bw := bufio.NewWriterSize(c, 64<<10)
	for {
		req, err := http.ReadRequest(br)
		if err != nil {
			return
		}
		_, _ = io.Copy(io.Discard, req.Body)
		if u.served.Add(1) > 1 {
			fmt.Fprintf(bw, "HTTP/1.1 200 OK\r\nContent-Type: application/fhir+json\r\nContent-Length: %d\r\n\r\n%s", len(capabilityJSON), capabilityJSON)
			if bw.Flush() != nil {
				return
			}
			continue
		}
		u.respond(bw)
		_ = bw.Flush()
		return
	}
}

func (u *rawUpstream) url() string { return "http://" + u.ln.Addr().String() + "/fhir-engine" }

// gzipBomb returns n zero bytes, gzip-compressed: 1 GB becomes about 1 MB.
func gzipBomb(t *testing.T, n int) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	zero := make([]byte, 1<<20)
	for n > 0 {
		k := min(n, len(zero))
		zw.Write(zero[:k])
		n -= k
	}
	zw.Close()
	return buf.Bytes()
}

// TestHostileUpstreamResponses lets the payer engine respond with a
// decompression bomb, a never-ending body, oversized or endless headers,
// broken framing and a redirect. Each must reach the partner as a 502 or
// 504 OperationOutcome with the rule in the record, and the next request
// on a correct response must still pass.
func TestHostileUpstreamResponses(t *testing.T) {
	bomb := gzipBomb(t, 1<<30)
	cases := []struct {
		name       string
		wantStatus int
		wantCode   string
		wantRule   string
		respond    func(w *bufio.Writer)
	}{
		{"gzip bomb with Content-Encoding", 502, "too-long", "upstream.too-large", func(w *bufio.Writer) {
			fmt.Fprintf(w, "HTTP/1.1 200 OK\r\nContent-Type: application/fhir+json\r\nContent-Encoding: gzip\r\nContent-Length: %d\r\n\r\n", len(bomb))
			w.Write(bomb)
		}},
		{"slow drip", 504, "timeout", "upstream.timeout", func(w *bufio.Writer) {
			fmt.Fprintf(w, "HTTP/1.1 200 OK\r\nContent-Type: application/fhir+json\r\nTransfer-Encoding: chunked\r\n\r\n")
			w.Flush()
			for i := 0; i < 100; i++ {
				fmt.Fprintf(w, "1\r\n \r\n")
				if w.Flush() != nil {
					return
				}
				time.Sleep(100 * time.Millisecond)
			}
		}},
		{"huge header block", 502, "transient", "upstream.unavailable", func(w *bufio.Writer) {
			fmt.Fprintf(w, "HTTP/1.1 200 OK\r\nContent-Type: application/fhir+json\r\n")
			v := strings.Repeat("a", 8000)
			for i := 0; i < 2000; i++ {
				if _, err := fmt.Fprintf(w, "X-Pad-%d: %s\r\n", i, v); err != nil {
					return
				}
			}
			fmt.Fprintf(w, "Content-Length: %d\r\n\r\n%s", len(capabilityJSON), capabilityJSON)
		}},
		{"1xx flood", 502, "transient", "upstream.unavailable", func(w *bufio.Writer) {
			for i := 0; i < 500000; i++ {
				if _, err := w.WriteString("HTTP/1.1 103 Early Hints\r\nLink: </a>; rel=preload\r\n\r\n"); err != nil {
					return
				}
			}
			fmt.Fprintf(w, "HTTP/1.1 200 OK\r\nContent-Type: application/fhir+json\r\nContent-Length: %d\r\n\r\n%s", len(capabilityJSON), capabilityJSON)
		}},
		{"bad chunk", 502, "exception", "upstream.unreadable", func(w *bufio.Writer) {
			fmt.Fprintf(w, "HTTP/1.1 200 OK\r\nContent-Type: application/fhir+json\r\nTransfer-Encoding: chunked\r\n\r\n10\r\n{\"resourceType\"\r\nzz\r\n")
		}},
		{"redirect to another host", 502, "exception", "upstream.redirect", func(w *bufio.Writer) {
			fmt.Fprintf(w, "HTTP/1.1 302 Found\r\nLocation: http://169.254.169.254/latest/meta-data/\r\nContent-Length: 0\r\n\r\n")
		}},
		{"gzip without Content-Encoding", 502, "exception", "upstream.json", func(w *bufio.Writer) {
			small := gzipBomb(t, 1<<20)
			fmt.Fprintf(w, "HTTP/1.1 200 OK\r\nContent-Type: application/fhir+json\r\nContent-Length: %d\r\n\r\n", len(small))
			w.Write(small)
		}},
		{"Content-Length below the body", 502, "exception", "upstream.json", func(w *bufio.Writer) {
			fmt.Fprintf(w, "HTTP/1.1 200 OK\r\nContent-Type: application/fhir+json\r\nContent-Length: %d\r\n\r\n%s", len(capabilityJSON)-10, capabilityJSON)
		}},
		{"Content-Length short", 502, "exception", "upstream.unreadable", func(w *bufio.Writer) {
			fmt.Fprintf(w, "HTTP/1.1 200 OK\r\nContent-Type: application/fhir+json\r\nContent-Length: %d\r\n\r\n%s", len(capabilityJSON)+100, capabilityJSON)
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			up := newRawUpstream(t, tc.respond)
			h := newHarness(t, harnessOptions{upstreamURL: up.url(), edit: func(cfg *config.File, _ *devmode.Layout) {
				cfg.Upstream.Timeout = 3 * time.Second
			}})
			tok := http.Header{"Authorization": {"Bearer " + h.accessToken()}}
			resp := h.send(h.ehr.HTTPClient(), "GET", "/fhir/metadata", tok, nil)
			body := readBody(t, resp)
			if resp.StatusCode != tc.wantStatus {
				t.Fatalf("status %d, want %d: %.300s", resp.StatusCode, tc.wantStatus, body)
			}
			if code := outcomeCode(t, body); code != tc.wantCode {
				t.Errorf("OperationOutcome code %q, want %q", code, tc.wantCode)
			}
			entries := h.entries(resp)
			last := entries[len(entries)-1]
			if last.Phase != record.PhaseRefusal || last.Rule != tc.wantRule {
				t.Errorf("last record entry %s %q, want refusal %q", last.Phase, last.Rule, tc.wantRule)
			}

			next := h.send(h.ehr.HTTPClient(), "GET", "/fhir/metadata", tok, nil)
			nextBody := readBody(t, next)
			if next.StatusCode != http.StatusOK || !bytes.Equal(nextBody, []byte(capabilityJSON)) {
				t.Errorf("next request: status %d, body %.200s", next.StatusCode, nextBody)
			}
		})
	}
}
