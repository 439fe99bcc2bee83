package app_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"testing"

	"golang.org/x/net/http2"

	"github.com/gatehouse-health/gatehouse/internal/config"
	"github.com/gatehouse-health/gatehouse/internal/devmode"
)

// TestH2BodyOverCapRejected sends request bodies over limits.max_body_bytes
// through Go's HTTP/2 client, which sends DATA frames only as the
// gateway's flow-control window allows. The cap is set above the initial
// window of 65,535 bytes, so the body arrives only as fast as the gateway
// reads it. Each request gets 413 with an OperationOutcome and a refusal
// record, and the upstream receives nothing. A body at the cap is
// forwarded, so the refusals come from the size alone.
func TestH2BodyOverCapRejected(t *testing.T) {
	const limit = 256 << 10
	h := newHarness(t, harnessOptions{edit: func(cfg *config.File, _ *devmode.Layout) {
		cfg.Limits.MaxBodyBytes = limit
		cfg.Limits.MaxBufferedBodyBytes = 8 * limit
	}})
	token := h.accessToken()
	transport := &http2.Transport{TLSClientConfig: partnerTLS(t, h)}
	t.Cleanup(transport.CloseIdleConnections)
	client := &http.Client{Transport: transport}

	tests := []struct {
		name string
		size int
		// declared sends the size as content-length. Otherwise the body
		// has no declared length and ends with the stream.
		declared bool
	}{
		{"streamed one byte over", limit + 1, false},
		{"streamed three times the cap", 3 * limit, false},
		{"declared one byte over", limit + 1, true},
		{"declared three times the cap", 3 * limit, true},
		// Past four times the cap the gateway stops reading and responds
		// while the client still waits for flow-control window to send the rest.
		{"streamed eight times the cap", 8 * limit, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := h.upstream.count.Load()
			resp := postOverH2(t, client, h, token, bytes.Repeat([]byte(" "), tt.size), tt.declared)
			body := readBody(t, resp)

			if resp.ProtoMajor != 2 {
				t.Fatalf("protocol HTTP/%d, want HTTP/2", resp.ProtoMajor)
			}
			requireInboundRefusal(t, h, before, resp.StatusCode, resp.Header, body, http.StatusRequestEntityTooLarge, "too-long", "payload.too-large")
		})
	}

	t.Run("bundle at the cap forwarded", func(t *testing.T) {
		before := h.upstream.count.Load()
		bundle := shippedBundle(t)
		padded := append(bundle, bytes.Repeat([]byte(" "), limit-len(bundle))...)
		resp := postOverH2(t, client, h, token, padded, false)
		body := readBody(t, resp)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("status = %d, want 200; body %s", resp.StatusCode, body)
		}
		if n := h.upstream.count.Load() - before; n != 1 {
			t.Errorf("upstream received %d requests, want 1", n)
		}
	})
}

// postOverH2 sends body as a PAS submission. With declared unset, the
// body's length is hidden from the client, so no content-length is sent.
func postOverH2(t *testing.T, client *http.Client, h *harness, token string, body []byte, declared bool) *http.Response {
	t.Helper()
	var reader io.Reader = bytes.NewReader(body)
	if !declared {
		reader = struct{ io.Reader }{reader}
	}
	req, err := http.NewRequestWithContext(context.Background(), http.MethodPost,
		"https://"+h.rt.Addr.String()+"/fhir/Claim/$submit", reader)
	if err != nil {
		t.Fatal(err)
	}
	if declared {
		req.ContentLength = int64(len(body))
	}
	req.Header.Set("Content-Type", "application/fhir+json")
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}
