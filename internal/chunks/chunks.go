// Package chunks hands out zeroed values carved from chunks that are kept
// across uses, so that code building many small values per request (tree
// nodes, walk records) allocates nothing once it is warm.
//
// Values are handed out and given back as a stack: Mark records a
// position and Release gives back everything taken after it, so the
// chunks in use grow with what is live at once, not with the total.
// Given-back values are zeroed, so that kept chunks hold no request data
// alive. A List is not safe for concurrent use.
package chunks

const (
	// Items is the number of values in one chunk.
	Items = 256
	// MaxKept bounds the chunks Reset keeps, so that one large document
	// does not pin its memory: with 100-byte values, 64 chunks are about
	// 1.6 MB.
	MaxKept = 64
)

// List is a stack of values of type T carved from chunks. The zero value
// is ready to use.
type List[T any] struct {
	list [][]T
	cur  int // index in list of the chunk being carved
	used int // values of that chunk handed out
}

// Take returns n zeroed values with capacity exactly n, so that an append
// past them moves to the heap instead of overwriting values handed out
// later. More than a quarter of a chunk comes from the heap.
func (c *List[T]) Take(n int) []T {
	if n > Items/4 {
		return make([]T, n)
	}
	if c.cur < len(c.list) && c.used+n > Items {
		c.cur, c.used = c.cur+1, 0
	}
	if c.cur == len(c.list) {
		c.list = append(c.list, make([]T, Items))
	}
	out := c.list[c.cur][c.used : c.used+n : c.used+n]
	c.used += n
	return out
}

// One returns a pointer to one zeroed value.
func (c *List[T]) One() *T { return &c.Take(1)[0] }

// Mark is a position in a List, to give back what was taken after it.
type Mark struct{ cur, used int }

// Mark returns the current position.
func (c *List[T]) Mark() Mark { return Mark{c.cur, c.used} }

// Release zeroes the values taken since m and hands them out again. The
// caller must hold no pointer to them.
func (c *List[T]) Release(m Mark) {
	for i := m.cur; i <= c.cur && i < len(c.list); i++ {
		from, to := 0, Items
		if i == m.cur {
			from = m.used
		}
		if i == c.cur {
			to = c.used
		}
		if from < to {
			clear(c.list[i][from:to])
		}
	}
	c.cur, c.used = m.cur, m.used
}

// Reset releases every value and drops the chunks past MaxKept. Dropped
// chunks are not zeroed first, because the collector frees them.
func (c *List[T]) Reset() {
	if len(c.list) > MaxKept {
		clear(c.list[MaxKept:])
		c.list = c.list[:MaxKept]
		if c.cur >= MaxKept {
			c.cur, c.used = MaxKept-1, Items
		}
	}
	c.Release(Mark{})
}
