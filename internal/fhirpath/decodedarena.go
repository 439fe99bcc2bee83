package fhirpath

import "github.com/gatehouse-health/gatehouse/internal/chunks"

// DecodedArena keeps the nodes of the trees ParseDecodedIn builds, so that
// a caller that builds one tree per request reuses the memory of the last
// one instead of allocating it again. A tree built in an arena, and every
// node taken from it, is valid only until the next Reset. An arena is not
// safe for concurrent use.
type DecodedArena struct {
	nodes chunks.List[Node]
	refs  chunks.List[*Node]

	// groups is the builder's stack of primitive groups, empty between
	// builds and kept for its capacity.
	groups []decodedGroup
}

// Reset zeroes the nodes handed out, so that the arena keeps no document
// data alive, and makes them available again. Chunks past a fixed number
// are dropped, so that one large document does not pin its memory.
func (a *DecodedArena) Reset() {
	a.nodes.Reset()
	a.refs.Reset()
}
