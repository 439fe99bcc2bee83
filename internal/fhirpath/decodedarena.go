package fhirpath

// DecodedArena keeps the nodes of the trees ParseDecodedIn builds, so that
// a caller that builds one tree per request reuses the memory of the last
// one instead of allocating it again. A tree built in an arena, and every
// node taken from it, is valid only until the next Reset. An arena is not
// safe for concurrent use.
type DecodedArena struct {
	nodes arenaChunks[Node]
	refs  arenaChunks[*Node]
}

// Reset zeroes the nodes handed out, so that the arena keeps no document
// data alive, and makes them available again. Chunks past a fixed number
// are dropped, so that one large document does not pin its memory.
func (a *DecodedArena) Reset() {
	a.nodes.reset()
	a.refs.reset()
}

// arenaChunks hands out zeroed items from chunks kept across resets.
type arenaChunks[T any] struct {
	list [][]T
	cur  int // index in list of the chunk being carved
	used int // items of that chunk handed out
}

const (
	arenaChunkItems = 256
	// maxArenaChunks bounds what an arena keeps after a reset: 64 chunks
	// of nodes are about 1.7 MB on 64-bit platforms.
	maxArenaChunks = 64
)

// take returns n zeroed items with capacity exactly n, so that an append
// past them moves to the heap instead of overwriting later items.
func (c *arenaChunks[T]) take(n int) []T {
	if n > arenaChunkItems/4 {
		return make([]T, n)
	}
	if c.cur < len(c.list) && c.used+n > arenaChunkItems {
		c.cur, c.used = c.cur+1, 0
	}
	if c.cur == len(c.list) {
		c.list = append(c.list, make([]T, arenaChunkItems))
	}
	out := c.list[c.cur][c.used : c.used+n : c.used+n]
	c.used += n
	return out
}

// reset zeroes the items handed out from the chunks it keeps. Chunks past
// maxArenaChunks are dropped without being zeroed, because the collector
// frees them.
func (c *arenaChunks[T]) reset() {
	if len(c.list) > maxArenaChunks {
		clear(c.list[maxArenaChunks:])
		c.list = c.list[:maxArenaChunks]
		if c.cur >= maxArenaChunks {
			c.cur, c.used = maxArenaChunks-1, arenaChunkItems
		}
	}
	for i := 0; i <= c.cur && i < len(c.list); i++ {
		if i == c.cur {
			clear(c.list[i][:c.used])
		} else {
			clear(c.list[i])
		}
	}
	c.cur, c.used = 0, 0
}
