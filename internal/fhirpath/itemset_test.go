package fhirpath

import "testing"

func TestItemSetAcrossListLimit(t *testing.T) {
	nodes := make([]*Node, 3*itemSetListMax)
	for i := range nodes {
		nodes[i] = &Node{name: "item"}
	}
	s := newItemSet()
	for i, n := range nodes {
		if !s.add(n) {
			t.Fatalf("node %d reported as seen on first add", i)
		}
		// Every node added so far must now be seen, whether it sits in
		// the list or the map.
		for j := 0; j <= i; j += 7 {
			if s.add(nodes[j]) {
				t.Fatalf("node %d reported as new after %d adds", j, i+1)
			}
		}
	}
	if s.add(String("a")) != true || s.add(String("a")) != false {
		t.Error("values other than nodes are not tracked by equality")
	}
}
