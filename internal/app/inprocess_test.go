package app

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-health/gatehouse/internal/httpbody"
)

// roundTripperFunc adapts a function to http.RoundTripper.
type roundTripperFunc func(*http.Request) (*http.Response, error)

func (f roundTripperFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// failingNext is a next transport that fails the test when it is used.
func failingNext(t *testing.T) http.RoundTripper {
	return roundTripperFunc(func(r *http.Request) (*http.Response, error) {
		t.Errorf("request for %s left the process", r.URL.Host)
		return nil, errors.New("unexpected network request")
	})
}

func inProcessClient(t *testing.T, h http.Handler, next http.RoundTripper) *http.Client {
	tr := inProcessTransport{host: "127.0.0.1:9", handler: h, next: next, log: slog.New(slog.DiscardHandler)}
	return &http.Client{Transport: keyTransport{key: "k", next: tr}, Timeout: 2 * time.Second}
}

// A request for the payer's listener reaches the handler as a server
// request, payer key included, and the response comes back unchanged.
func TestInProcessTransportServesHandler(t *testing.T) {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if r.RequestURI != "/Claim/$submit?x=1" {
			t.Errorf("server request RequestURI = %q, want /Claim/$submit?x=1", r.RequestURI)
		}
		if r.URL.Host != "" {
			t.Errorf("server request URL.Host = %q, want empty", r.URL.Host)
		}
		if r.Host != "127.0.0.1:9" {
			t.Errorf("server request Host = %q, want 127.0.0.1:9", r.Host)
		}
		if key := r.Header.Get(payerKeyHeader); key != "k" {
			t.Errorf("server request payer key = %q, want k", key)
		}
		if string(body) != `{"a":1}` {
			t.Errorf("server request body = %q, want {\"a\":1}", body)
		}
		if r.ContentLength != 7 {
			t.Errorf("server request ContentLength = %d, want 7", r.ContentLength)
		}

		w.Header().Set("Content-Type", "application/fhir+json")
		w.WriteHeader(http.StatusCreated)
		w.Header().Set("ETag", "set after WriteHeader")
		io.WriteString(w, `{"resourceType":"Bundle"}`)
	})
	resp, err := inProcessClient(t, h, failingNext(t)).Post("http://127.0.0.1:9/Claim/$submit?x=1", "application/fhir+json", strings.NewReader(`{"a":1}`))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Errorf("status = %d, want 201", resp.StatusCode)
	}
	if string(body) != `{"resourceType":"Bundle"}` {
		t.Errorf("body = %q, want the handler's Bundle", body)
	}
	if resp.ContentLength != int64(len(body)) {
		t.Errorf("ContentLength = %d, want %d", resp.ContentLength, len(body))
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/fhir+json" {
		t.Errorf("Content-Type = %q", ct)
	}
	if etag := resp.Header.Get("ETag"); etag != "" {
		t.Errorf("a header set after WriteHeader was sent: ETag %q", etag)
	}
}

// The in-process path runs the listener's own handler, so a request
// without the gateway's key is still rejected.
func TestInProcessTransportKeepsPayerKeyCheck(t *testing.T) {
	called := false
	h := requirePayerKey("right", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { called = true }))
	resp, err := inProcessClient(t, h, failingNext(t)).Get("http://127.0.0.1:9/metadata")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("wrong key: status = %d, want 403", resp.StatusCode)
	}
	if called {
		t.Error("wrong key: the service handler was called")
	}
}

// Any other host goes to the network transport.
func TestInProcessTransportOtherHost(t *testing.T) {
	used := false
	next := roundTripperFunc(func(r *http.Request) (*http.Response, error) {
		used = true
		return &http.Response{StatusCode: http.StatusNoContent, Body: http.NoBody, Request: r}, nil
	})
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { t.Error("handler called for another host") })
	resp, err := inProcessClient(t, h, next).Get("http://127.0.0.1:10/metadata")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if !used {
		t.Error("the request for another host did not go to next")
	}
	if resp.StatusCode != http.StatusNoContent {
		t.Errorf("status = %d, want next's 204", resp.StatusCode)
	}
}

// A handler panic becomes an error for the gateway, not a crash.
func TestInProcessTransportHandlerPanic(t *testing.T) {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { panic("boom") })
	_, err := inProcessClient(t, h, failingNext(t)).Get("http://127.0.0.1:9/metadata")
	if !errors.Is(err, errPayerPanic) {
		t.Errorf("err = %v, want errPayerPanic", err)
	}
}

// The client's timeout ends the wait for a handler that does not return.
func TestInProcessTransportTimeout(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-release })
	client := inProcessClient(t, h, failingNext(t))
	client.Timeout = 100 * time.Millisecond
	start := time.Now()
	_, err := client.Get("http://127.0.0.1:9/metadata")
	if err == nil || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("err = %v, want a deadline error", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("the request returned after %v, want about the 100 ms timeout", d)
	}
}

// The in-process response's buffered bytes reach the client through the
// request's httpbody slot, so the gateway need not copy them. The path
// includes keyTransport and a client timeout, which wraps Response.Body.
func TestInProcessTransportOffersBufferedBody(t *testing.T) {
	const want = `{"resourceType":"Bundle","type":"collection"}`
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, want[:10])
		io.WriteString(w, want[10:])
	})
	ctx, slot := httpbody.WithBufferedSlot(context.Background())
	req, err := http.NewRequestWithContext(ctx, "GET", "http://127.0.0.1:9/Bundle/1", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := inProcessClient(t, h, failingNext(t)).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()

	body, ok := slot.Body(resp, 1<<20)
	if !ok {
		t.Fatal("the slot contains no body for the response")
	}
	if string(body) != want {
		t.Errorf("slot body = %q, want %q", body, want)
	}
	read, _ := io.ReadAll(resp.Body)
	if string(read) != want {
		t.Errorf("Response.Body = %q, want the same bytes as the slot", read)
	}
}

// A handler that writes a string with io.WriteString gets the same
// implicit status and sniffed Content-Type as with Write.
func TestBufferedResponseWriteStringSniffs(t *testing.T) {
	w := &bufferedResponse{header: make(http.Header)}
	if _, err := io.WriteString(w, "plain text"); err != nil {
		t.Fatal(err)
	}
	resp := w.response(&http.Request{})
	if resp.StatusCode != http.StatusOK {
		t.Errorf("status = %d, want 200", resp.StatusCode)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "text/plain; charset=utf-8" {
		t.Errorf("Content-Type = %q, want the sniffed text/plain; charset=utf-8", ct)
	}
	if body := w.body.String(); body != "plain text" {
		t.Errorf("body = %q, want plain text", body)
	}
}

// io.WriteString copies a string into the buffer once, without first
// converting it to a []byte, because the payer writes its response
// Bundles (several KB each) that way.
func TestBufferedResponseWriteStringCopiesOnce(t *testing.T) {
	body := strings.Repeat("x", 8<<10)
	allocs := testing.AllocsPerRun(20, func() {
		// The status is already sent, as writeFHIRString sends it, so
		// no header is read.
		w := &bufferedResponse{status: http.StatusOK}
		_, _ = io.WriteString(w, body)
	})
	// One allocation for the bufferedResponse and one for its buffer.
	if allocs > 2 {
		t.Errorf("io.WriteString of 8 KiB allocated %v times, want at most 2", allocs)
	}
}
