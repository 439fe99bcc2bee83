package validate

import (
	"fmt"
	"sync"
	"testing"
)

func TestPooledRunsAreIndependent(t *testing.T) {
	v := shared(t)
	bad := []byte(`{"resourceType":"Patient","name":[{"given":[""]}],"gender":"x"}`)
	good := []byte(`{"resourceType":"Patient","id":"p1",` + narrative + `,"gender":"male"}`)

	first, err := v.Validate(bad)
	if err != nil {
		t.Fatal(err)
	}
	if len(first.Issues) == 0 {
		t.Fatal("invalid patient has no issues")
	}
	res, err := v.Validate(good)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Issues) != 0 {
		t.Errorf("valid patient after an invalid one: %+v", res.Issues)
	}
	second, err := v.Validate(bad)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(second.Issues) != fmt.Sprint(first.Issues) {
		t.Errorf("issues differ on the second run:\n%v\n%v", first.Issues, second.Issues)
	}
}

func TestPooledRunsConcurrent(t *testing.T) {
	v := shared(t)
	docs := [][]byte{
		[]byte(`{"resourceType":"Patient","name":[{"given":["a",""]}]}`),
		[]byte(`{"resourceType":"Observation","status":"final","code":{"text":"x"},"valueQuantity":{"value":"1"}}`),
	}
	want := make([]string, len(docs))
	for i, d := range docs {
		res, err := v.Validate(d)
		if err != nil {
			t.Fatal(err)
		}
		want[i] = fmt.Sprint(res.Issues)
	}
	var wg sync.WaitGroup
	errs := make(chan string, 64)
	for g := range 8 {
		wg.Go(func() {
			for i := range 20 {
				d := (g + i) % len(docs)
				res, err := v.Validate(docs[d])
				if err != nil || fmt.Sprint(res.Issues) != want[d] {
					errs <- fmt.Sprintf("doc %d: err %v, issues %v", d, err, res)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
}

func TestReadMapKeepsFirstValue(t *testing.T) {
	var m readMap[string, int]
	if _, ok := m.load("a"); ok {
		t.Fatal("empty map has a")
	}
	for i := range 100 {
		m.store(fmt.Sprint(i), i)
	}
	m.store("7", -1)
	for i := range 100 {
		got, ok := m.load(fmt.Sprint(i))
		if !ok || got != i {
			t.Errorf("load(%d) = %d, %v", i, got, ok)
		}
	}
}

func TestReadMapMergesDirtyEntries(t *testing.T) {
	var m readMap[int, int]
	for i := range 40 {
		m.store(i, i)
	}
	m.store(1000, 1)
	for range 50 {
		m.load(1000)
	}
	read := m.read.Load()
	if _, ok := (*read)[1000]; !ok || len(m.dirty) != 0 {
		t.Errorf("entry read often still waits in the locked map (%d dirty)", len(m.dirty))
	}
}

func TestResolveCachesBoundedMisses(t *testing.T) {
	v, err := New(Options{})
	if err != nil {
		t.Fatal(err)
	}
	if res := v.resolve("http://example.org/CodeSystem/none", nil); res != nil {
		t.Fatal("unknown URL resolved")
	}
	cache, _ := v.resolved.load(nil)
	if _, ok := cache.load("http://example.org/CodeSystem/none"); !ok {
		t.Error("miss not cached")
	}
	v.misses.Store(maxCachedMisses)
	v.resolve("http://example.org/CodeSystem/other", nil)
	if _, ok := cache.load("http://example.org/CodeSystem/other"); ok {
		t.Errorf("miss cached past the limit of %d", maxCachedMisses)
	}
}
