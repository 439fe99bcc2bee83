package app_test

import (
	"bufio"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// pipelineH1 opens an HTTP/1.1 mutual-TLS connection as the demo partner,
// writes raw in one piece and reads responses until the connection ends.
// It returns the responses, each with its body read, and the error that
// ended the reading.
func pipelineH1(t *testing.T, h *harness, raw string) ([]*http.Response, error) {
	t.Helper()
	conf := partnerTLS(t, h)
	conf.NextProtos = []string{"http/1.1"}
	c, err := tls.Dial("tcp", h.rt.Addr.String(), conf)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := io.WriteString(c, raw); err != nil {
		t.Fatal(err)
	}

	// The deadline only ends a hung test. Each read below returns as soon
	// as a response or the end of the connection arrives.
	c.SetReadDeadline(time.Now().Add(30 * time.Second))
	br := bufio.NewReader(c)
	var out []*http.Response
	for {
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			return out, err
		}
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			return out, err
		}
		resp.Body = io.NopCloser(strings.NewReader(string(body)))
		out = append(out, resp)
	}
}

// submitH1 returns a PAS submission as HTTP/1.1 bytes. framing contains the
// Content-Length and Transfer-Encoding lines, and chunked sends the body in
// the chunked transfer coding.
func submitH1(h *harness, token string, bundle []byte, framing string, chunked bool) string {
	var b strings.Builder
	b.WriteString("POST /fhir/Claim/$submit HTTP/1.1\r\n")
	b.WriteString("Host: " + h.rt.Addr.String() + "\r\n")
	b.WriteString("Authorization: Bearer " + token + "\r\n")
	b.WriteString("Content-Type: application/fhir+json\r\n")
	b.WriteString(framing)
	b.WriteString("\r\n")
	if chunked {
		fmt.Fprintf(&b, "%x\r\n%s\r\n0\r\n\r\n", len(bundle), bundle)
	} else {
		b.Write(bundle)
	}
	return b.String()
}

// TestH1BothFramingsCloseConnection sends, over HTTP/1.1, a submission
// with both Content-Length and Transfer-Encoding, followed on the same
// connection by a second submission. RFC 9112 section 6.1 requires the
// server to close the connection after responding to the first, so that
// bytes a Content-Length reader would take as the next request are never
// served. The first request gets its response, by its chunked framing,
// with "Connection: close". The second gets no response and never reaches
// the upstream.
func TestH1BothFramingsCloseConnection(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	token := h.accessToken()
	bundle := shippedBundle(t)
	length := fmt.Sprintf("Content-Length: %d\r\n", len(bundle))
	second := submitH1(h, token, bundle, length, false)
	// The pipelined request sends "Connection: close" itself, so that without the
	// server's close the connection ends after its response instead of
	// idling until the read deadline.
	secondLast := submitH1(h, token, bundle, length+"Connection: close\r\n", false)

	tests := []struct {
		name    string
		framing string
	}{
		{"Content-Length before Transfer-Encoding", "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n"},
		{"Transfer-Encoding before Content-Length", "Transfer-Encoding: chunked\r\nContent-Length: 5\r\n"},
		{"Transfer-Encoding alone", "Transfer-Encoding: chunked\r\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := h.upstream.count.Load()
			first := submitH1(h, token, bundle, tt.framing, true)
			resps, err := pipelineH1(t, h, first+secondLast)

			if len(resps) != 1 {
				t.Fatalf("got %d responses, want 1 before the connection closes", len(resps))
			}
			if !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
				t.Errorf("reading past the first response: %v, want the end of the connection", err)
			}
			if resps[0].StatusCode != http.StatusOK {
				t.Errorf("first status = %d, want 200", resps[0].StatusCode)
			}
			if !resps[0].Close {
				t.Errorf("first response Connection = %q, want close", resps[0].Header.Get("Connection"))
			}
			if n := h.upstream.count.Load() - before; n != 1 {
				t.Errorf("upstream received %d requests, want 1: the pipelined request must not be served", n)
			}
		})
	}

	t.Run("Content-Length alone keeps the connection", func(t *testing.T) {
		before := h.upstream.count.Load()
		resps, _ := pipelineH1(t, h, second+secondLast)
		if len(resps) != 2 {
			t.Fatalf("got %d responses, want 2", len(resps))
		}
		for i, resp := range resps {
			if resp.StatusCode != http.StatusOK {
				t.Errorf("response %d status = %d, want 200", i, resp.StatusCode)
			}
		}
		if n := h.upstream.count.Load() - before; n != 2 {
			t.Errorf("upstream received %d requests, want 2", n)
		}
	})
}
