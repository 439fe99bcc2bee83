// Package httpbody reads HTTP message bodies under a size limit and,
// optionally, under a memory budget shared by concurrent requests.
package httpbody

import (
	"errors"
	"io"
	"sync/atomic"
)

// maxPresize bounds the buffer Read allocates from a declared length
// before any byte arrives, so that a client cannot make a server reserve
// a whole body's limit by sending headers alone.
const maxPresize = 256 << 10

// minBuffer is the first buffer size for a body of unknown length.
const minBuffer = 512

// ErrBudgetExhausted is returned by ReadHeld when the budget has no room
// for the next part of the body.
var ErrBudgetExhausted = errors.New("httpbody: the buffered body budget is exhausted")

// Budget is a maximum number of bytes that request bodies may hold in
// memory at once, across all requests. A per-request size limit alone
// lets a client hold that limit once per concurrent stream or connection.
type Budget struct {
	max  int64
	used atomic.Int64
}

// NewBudget returns a budget of max bytes.
func NewBudget(max int64) *Budget { return &Budget{max: max} }

// Used returns the bytes held now.
func (b *Budget) Used() int64 { return b.used.Load() }

// Hold is the share of a budget that one body has taken. A nil *Hold, the
// zero Hold and a Hold of a nil *Budget take nothing and never run out.
type Hold struct {
	budget *Budget
	n      int64
}

// NewHold returns an empty hold on b.
func (b *Budget) NewHold() *Hold { return &Hold{budget: b} }

// take adds n bytes to the hold. It returns false and adds nothing when
// the budget has no room for them.
func (h *Hold) take(n int64) bool {
	if h == nil || h.budget == nil {
		return true
	}
	if h.budget.used.Add(n) > h.budget.max {
		h.budget.used.Add(-n)
		return false
	}
	h.n += n
	return true
}

// Release returns everything the hold has taken to the budget. It may be
// called more than once.
func (h *Hold) Release() {
	if h == nil || h.budget == nil || h.n == 0 {
		return
	}
	h.budget.used.Add(-h.n)
	h.n = 0
}

// Read reads r to the end, or to limit+1 bytes, so that the caller
// can tell a body over limit by its length. declared is the length the
// sender announced (0 or less when unknown). The buffer starts at that size
// within maxPresize, so a body of the announced length is read without
// the copies io.ReadAll makes while it grows.
func Read(r io.Reader, declared, limit int64) ([]byte, error) {
	return ReadHeld(r, declared, limit, nil)
}

// ReadHeld reads as Read does, but takes the buffer's capacity from hold
// before each allocation, the first and every growth. When the budget has
// no room, it returns the bytes read so far and ErrBudgetExhausted. The
// caller releases hold once it no longer keeps the returned bytes.
func ReadHeld(r io.Reader, declared, limit int64, hold *Hold) ([]byte, error) {
	size := min(int64(minBuffer), limit+1)
	if declared > 0 {
		size = min(declared, limit, maxPresize) + 1 // +1: room to detect EOF without growing
	}
	if !hold.take(size) {
		return nil, ErrBudgetExhausted
	}
	buf := make([]byte, 0, size)
	lr := io.LimitedReader{R: r, N: limit + 1}
	for {
		if len(buf) == cap(buf) && int64(cap(buf)) <= limit {
			grown := min(2*int64(cap(buf)), limit+1)
			if !hold.take(grown - int64(cap(buf))) {
				return buf, ErrBudgetExhausted
			}
			buf = append(make([]byte, 0, grown), buf...)
		}
		n, err := lr.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return buf, err
		}
	}
}
