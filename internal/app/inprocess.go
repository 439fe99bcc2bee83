package app

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"runtime/debug"
	"strconv"

	"github.com/gatehouse-health/gatehouse/internal/httpbody"
)

// inProcessTransport is an http.RoundTripper that serves requests for the
// built-in payer service's listener with the listener's handler in this
// process, and sends requests for any other host to next. Per forwarded
// request, it saves the loopback TCP round trip, HTTP/1.1 encoding and
// parsing on both sides, and the wake-ups of three goroutines (the
// server's connection and the transport's read and write loops). The payer
// key check still applies, because the handler is the listener's.
type inProcessTransport struct {
	host    string // host:port of the payer service's listener
	handler http.Handler
	next    http.RoundTripper
	log     *slog.Logger
}

// errPayerPanic is the error for a request whose handler panicked. The
// gateway responds to it as to an upstream failure.
var errPayerPanic = errors.New("app: the built-in payer service's handler panicked")

// RoundTrip serves r in process when it is addressed to the payer
// service's listener over http, and passes any other request to next.
func (t inProcessTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.URL.Scheme != "http" || r.URL.Host != t.host {
		return t.next.RoundTrip(r)
	}

	// The handler runs on its own goroutine so that the client's timeout
	// (a cancelled request context) ends the wait as it would on a
	// connection, even while the service still works on the request.
	done := make(chan *bufferedResponse, 1)
	go func() { done <- t.serve(r) }()
	select {
	case w := <-done:
		if w == nil {
			return nil, errPayerPanic
		}
		resp := w.response(r)
		// The handler has returned, so nothing writes to its buffer any
		// more, and the client may take the bytes without a copy.
		httpbody.OfferBuffered(r.Context(), resp, w.body.Bytes())
		return resp, nil
	case <-r.Context().Done():
		return nil, r.Context().Err()
	}
}

// serve runs the handler on the server-side form of r and returns what it
// wrote, or nil when the handler panicked.
func (t inProcessTransport) serve(r *http.Request) (w *bufferedResponse) {
	defer func() {
		if v := recover(); v != nil {
			if v != http.ErrAbortHandler {
				// As net/http's server does, keep the panic and its stack.
				t.log.Error("payer service handler panicked", "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
			}
			w = nil
		}
	}()
	w = &bufferedResponse{header: make(http.Header)}
	t.handler.ServeHTTP(w, serverRequest(r))
	return w
}

// serverRequest returns r as a server's handler receives it: a URL with
// only the path and query, Host and RequestURI set, and a body to read
// even when r has none.
func serverRequest(r *http.Request) *http.Request {
	body := r.Body
	if body == nil {
		body = http.NoBody
	}
	sr := &http.Request{
		Method:        r.Method,
		URL:           &url.URL{Path: r.URL.Path, RawPath: r.URL.RawPath, RawQuery: r.URL.RawQuery},
		Proto:         "HTTP/1.1",
		ProtoMajor:    1,
		ProtoMinor:    1,
		Header:        r.Header,
		Body:          body,
		ContentLength: r.ContentLength,
		Host:          r.URL.Host,
		RemoteAddr:    "in-process",
		RequestURI:    r.URL.RequestURI(),
	}
	return sr.WithContext(r.Context())
}

// bufferedResponse is the http.ResponseWriter of an in-process request.
// As net/http's server does, it sends the header as it is at the first
// WriteHeader or Write, and sniffs a Content-Type the handler did not set.
type bufferedResponse struct {
	header http.Header
	sent   http.Header // header as of WriteHeader
	status int
	body   bytes.Buffer
}

func (b *bufferedResponse) Header() http.Header { return b.header }

func (b *bufferedResponse) WriteHeader(code int) {
	if b.status != 0 || code < 200 {
		return
	}
	b.status = code
	b.sent = b.header.Clone()
}

func (b *bufferedResponse) Write(p []byte) (int, error) {
	if b.status == 0 {
		b.writeImplicitHeader(p)
	}
	return b.body.Write(p)
}

// WriteString is Write for a string, as net/http's response writers offer
// it, so that io.WriteString does not copy s into a []byte first.
func (b *bufferedResponse) WriteString(s string) (int, error) {
	if b.status == 0 {
		// DetectContentType reads no more than the first 512 bytes.
		b.writeImplicitHeader([]byte(s[:min(len(s), 512)]))
	}
	return b.body.WriteString(s)
}

// writeImplicitHeader sends status 200 before the first body bytes, with
// a Content-Type sniffed from them when the handler set none.
func (b *bufferedResponse) writeImplicitHeader(first []byte) {
	if _, ok := b.header["Content-Type"]; !ok && len(first) > 0 {
		b.header.Set("Content-Type", http.DetectContentType(first))
	}
	b.WriteHeader(http.StatusOK)
}

// response returns the client's view of what the handler wrote.
func (b *bufferedResponse) response(r *http.Request) *http.Response {
	if b.status == 0 {
		b.WriteHeader(http.StatusOK)
	}
	body := b.body.Bytes()
	return &http.Response{
		Status:        strconv.Itoa(b.status) + " " + http.StatusText(b.status),
		StatusCode:    b.status,
		Proto:         "HTTP/1.1",
		ProtoMajor:    1,
		ProtoMinor:    1,
		Header:        b.sent,
		Body:          io.NopCloser(bytes.NewReader(body)),
		ContentLength: int64(len(body)),
		Request:       r,
	}
}

// CloseIdleConnections closes next's idle connections. The in-process
// path has none.
func (t inProcessTransport) CloseIdleConnections() {
	if c, ok := t.next.(interface{ CloseIdleConnections() }); ok {
		c.CloseIdleConnections()
	}
}
