package httpbody

import (
	"context"
	"net/http"
)

// BufferedSlot is a context value that receives the body of a response
// that an http.RoundTripper serving the request in the same process
// already has complete in memory. The client takes those bytes from the
// slot instead of reading a copy of them from Response.Body. A context
// value does not cross a network connection, so a response from a remote
// server never fills it.
type BufferedSlot struct {
	resp *http.Response
	body []byte
}

type bufferedSlotKey struct{}

// WithBufferedSlot returns a copy of ctx that carries a new empty slot.
// Send the request with that context, then ask the slot for the body.
func WithBufferedSlot(ctx context.Context) (context.Context, *BufferedSlot) {
	slot := &BufferedSlot{}
	return context.WithValue(ctx, bufferedSlotKey{}, slot), slot
}

// OfferBuffered puts body, the complete content that resp.Body reads, in
// the slot of ctx, if ctx carries one. A RoundTripper calls it on the
// caller's goroutine, just before RoundTrip returns resp. Nothing may
// modify body afterwards.
func OfferBuffered(ctx context.Context, resp *http.Response, body []byte) {
	if slot, ok := ctx.Value(bufferedSlotKey{}).(*BufferedSlot); ok {
		slot.resp, slot.body = resp, body
	}
}

// Body returns the body offered with resp, capped as Read caps it, so a body
// over limit is returned as its first limit+1 bytes. It returns false
// when no body was offered for this response, and the caller then reads
// resp.Body. The returned slice's capacity ends at its length.
func (s *BufferedSlot) Body(resp *http.Response, limit int64) ([]byte, bool) {
	if s == nil || s.resp == nil || s.resp != resp {
		return nil, false
	}
	n := int64(len(s.body))
	if n > limit {
		n = limit + 1
	}
	return s.body[:n:n], true
}
