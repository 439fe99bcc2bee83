package httpbody

import (
	"context"
	"net/http"
	"testing"
)

// offeredSlot returns a new slot and the response that body was offered
// with through the slot's context.
func offeredSlot(body []byte) (*BufferedSlot, *http.Response) {
	ctx, slot := WithBufferedSlot(context.Background())
	resp := &http.Response{}
	OfferBuffered(ctx, resp, body)
	return slot, resp
}

func TestBufferedSlotReturnsOfferedBody(t *testing.T) {
	offered := append(make([]byte, 0, 64), "0123456789"...) // spare capacity, as a grown buffer has
	slot, resp := offeredSlot(offered)

	body, ok := slot.Body(resp, 100)
	if !ok {
		t.Fatal("Body returned false after an offer for the same response")
	}
	if string(body) != "0123456789" {
		t.Errorf("body = %q, want 0123456789", body)
	}
	if cap(body) != len(body) {
		t.Errorf("capacity %d beyond length %d lets an append write into the offered bytes", cap(body), len(body))
	}
}

func TestBufferedSlotCapsAtLimit(t *testing.T) {
	slot, resp := offeredSlot([]byte("0123456789"))

	body, ok := slot.Body(resp, 4)
	if !ok {
		t.Fatal("Body returned false after an offer")
	}
	if string(body) != "01234" {
		t.Errorf("body over the limit = %q, want the first limit+1 bytes 01234, as Read returns", body)
	}
	if body, _ := slot.Body(resp, 10); string(body) != "0123456789" {
		t.Errorf("body at the limit = %q, want all 10 bytes", body)
	}
}

func TestBufferedSlotOtherResponse(t *testing.T) {
	slot, _ := offeredSlot([]byte("offered"))
	if _, ok := slot.Body(&http.Response{}, 100); ok {
		t.Error("Body returned true for a response the body was not offered with")
	}
}

func TestBufferedSlotEmpty(t *testing.T) {
	_, slot := WithBufferedSlot(context.Background())
	if _, ok := slot.Body(&http.Response{}, 100); ok {
		t.Error("Body returned true with nothing offered")
	}
	var none *BufferedSlot
	if _, ok := none.Body(&http.Response{}, 100); ok {
		t.Error("a nil slot returned a body")
	}
	// A context without a slot ignores the offer.
	OfferBuffered(context.Background(), &http.Response{}, []byte("x"))
}
