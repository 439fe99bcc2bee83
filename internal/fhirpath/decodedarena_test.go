package fhirpath

import "testing"

func TestArenaChunksResetKeepsBoundedZeroedChunks(t *testing.T) {
	var c arenaChunks[int]
	for range (maxArenaChunks + 3) * arenaChunkItems {
		c.take(1)[0] = 1
	}
	c.reset()
	if len(c.list) != maxArenaChunks {
		t.Fatalf("chunks kept = %d, want %d", len(c.list), maxArenaChunks)
	}
	for i, chunk := range c.list {
		for j, x := range chunk {
			if x != 0 {
				t.Fatalf("item %d of chunk %d = %d after reset, want 0", j, i, x)
			}
		}
	}
	if got := c.take(2); &got[0] != &c.list[0][0] || cap(got) != 2 {
		t.Error("reset did not start again at the first chunk")
	}
}
