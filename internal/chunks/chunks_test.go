package chunks

import "testing"

func TestReleaseZeroesAndReuses(t *testing.T) {
	var c List[int]
	first := c.Take(3)
	if len(first) != 3 || cap(first) != 3 {
		t.Fatalf("Take(3): len %d cap %d, want 3 and 3", len(first), cap(first))
	}
	m := c.Mark()
	for range Items { // fills the first chunk and starts a second
		*c.One() = 7
	}
	if len(c.list) != 2 {
		t.Fatalf("chunks in use = %d, want 2", len(c.list))
	}
	c.Release(m)
	again := c.Take(1)
	if &again[0] != &c.list[0][3] {
		t.Error("Release did not hand out the released values again")
	}
	for i, chunk := range c.list {
		for j, x := range chunk {
			if x != 0 {
				t.Fatalf("value %d of chunk %d = %d after Release, want 0", j, i, x)
			}
		}
	}
}

func TestTakeLargeFromHeap(t *testing.T) {
	var c List[int]
	big := c.Take(Items)
	if len(big) != Items {
		t.Errorf("Take(%d) returned %d values", Items, len(big))
	}
	if len(c.list) != 0 {
		t.Errorf("Take(%d) used %d chunks, want a heap slice", Items, len(c.list))
	}
}

func TestResetKeepsBoundedZeroedChunks(t *testing.T) {
	var c List[int]
	for range (MaxKept + 3) * Items {
		*c.One() = 1
	}
	c.Reset()
	if len(c.list) != MaxKept {
		t.Fatalf("chunks kept = %d, want %d", len(c.list), MaxKept)
	}
	for i, chunk := range c.list {
		for j, x := range chunk {
			if x != 0 {
				t.Fatalf("value %d of chunk %d = %d after Reset, want 0", j, i, x)
			}
		}
	}
	if got := c.Take(2); &got[0] != &c.list[0][0] || cap(got) != 2 {
		t.Error("Reset did not start again at the first chunk")
	}
}
