package app_test

import (
	"bytes"
	"fmt"
	"net/http"
	"strconv"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// h2Response is what the gateway sent on one HTTP/2 stream.
type h2Response struct {
	status int
	header http.Header
	body   []byte
}

// submitOverH2 sends a PAS submission on stream 1 of a new HTTP/2
// connection, with the given content-length field lines, and reads the
// response. The frames are written by hand because Go's HTTP/2 client
// sends one content-length of its own.
func submitOverH2(t *testing.T, h *harness, token string, lengths []string, body []byte) h2Response {
	t.Helper()
	c := openH2(t, h)
	c.framer.ReadMetaHeaders = hpack.NewDecoder(64<<10, nil)

	var block bytes.Buffer
	enc := hpack.NewEncoder(&block)
	fields := [][2]string{
		{":method", "POST"}, {":scheme", "https"}, {":authority", h.rt.Addr.String()},
		{":path", "/fhir/Claim/$submit"}, {"content-type", "application/fhir+json"},
		{"authorization", "Bearer " + token},
	}
	for _, l := range lengths {
		fields = append(fields, [2]string{"content-length", l})
	}
	for _, f := range fields {
		enc.WriteField(hpack.HeaderField{Name: f[0], Value: f[1]})
	}
	if err := c.framer.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: block.Bytes(), EndHeaders: true}); err != nil {
		t.Fatal(err)
	}
	// The default initial window of 65,535 bytes takes the shipped bundle
	// without waiting for WINDOW_UPDATE.
	if len(body) > 65535 {
		t.Fatalf("body of %d bytes exceeds the initial flow-control window", len(body))
	}
	for rest := body; len(rest) > 0; {
		n := min(len(rest), 16384)
		if err := c.framer.WriteData(1, n == len(rest), rest[:n]); err != nil {
			t.Fatal(err)
		}
		rest = rest[n:]
	}

	c.conn.SetReadDeadline(time.Now().Add(30 * time.Second))
	var resp h2Response
	for {
		fr, err := c.framer.ReadFrame()
		if err != nil {
			t.Fatalf("reading the response: %v", err)
		}
		switch fr := fr.(type) {
		case *http2.SettingsFrame:
			if !fr.IsAck() {
				_ = c.framer.WriteSettingsAck()
			}
		case *http2.MetaHeadersFrame:
			resp.status, _ = strconv.Atoi(fr.PseudoValue("status"))
			resp.header = http.Header{}
			for _, f := range fr.RegularFields() {
				resp.header.Add(f.Name, f.Value)
			}
			if fr.StreamEnded() {
				return resp
			}
		case *http2.DataFrame:
			resp.body = append(resp.body, fr.Data()...)
			if fr.StreamEnded() {
				return resp
			}
		case *http2.RSTStreamFrame:
			t.Fatalf("stream reset with %v before a response", fr.ErrCode)
		case *http2.GoAwayFrame:
			t.Fatalf("connection ended with %v before a response", fr.ErrCode)
		}
	}
}

// TestH2ConflictingContentLengthRejected sends a submission over HTTP/2
// with two content-length values, the first matching the body. Go's
// HTTP/2 server frames the body by the first and ignores the second, so
// the gateway must reject the request itself: 400 with an
// OperationOutcome, a refusal record, and nothing at the upstream. The
// same request with one content-length is forwarded, so the refusal is
// caused by the second value alone.
func TestH2ConflictingContentLengthRejected(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	token := h.accessToken()
	bundle := shippedBundle(t)
	length := fmt.Sprint(len(bundle))

	tests := []struct {
		name    string
		lengths []string
	}{
		{"second value smaller", []string{length, "5"}},
		{"second value larger", []string{length, fmt.Sprint(len(bundle) + 100)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := h.upstream.count.Load()
			resp := submitOverH2(t, h, token, tt.lengths, bundle)

			requireInboundRefusal(t, h, before, resp.status, resp.header, resp.body, http.StatusBadRequest, "structure", "payload.framing")
		})
	}

	t.Run("one value forwarded", func(t *testing.T) {
		before := h.upstream.count.Load()
		resp := submitOverH2(t, h, token, []string{length}, bundle)
		if resp.status != http.StatusOK {
			t.Fatalf("status = %d, want 200; body %s", resp.status, resp.body)
		}
		if n := h.upstream.count.Load() - before; n != 1 {
			t.Errorf("upstream received %d requests, want 1", n)
		}
	})
}

// requireInboundRefusal checks a refused inbound exchange: the status, the
// OperationOutcome's code, a record carrying the rule, and no request at
// the upstream since before.
func requireInboundRefusal(t *testing.T, h *harness, before int64, status int, header http.Header, body []byte, wantStatus int, code, rule string) {
	t.Helper()
	if status != wantStatus {
		t.Fatalf("status = %d, want %d; body %s", status, wantStatus, body)
	}
	if got := outcomeCode(t, body); got != code {
		t.Errorf("OperationOutcome code = %q, want %s", got, code)
	}
	if n := h.upstream.count.Load() - before; n != 0 {
		t.Errorf("upstream received %d requests, want 0", n)
	}
	entries := h.entries(&http.Response{Header: header})
	if len(entries) == 0 {
		t.Fatal("no record of the refused exchange")
	}
	if entries[0].Rule != rule {
		t.Errorf("rule = %q, want %s", entries[0].Rule, rule)
	}
}
