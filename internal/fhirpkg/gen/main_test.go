package main

import (
	"bytes"
	"compress/gzip"
	"io"
	"os"
	"testing"

	"github.com/gatehouse-health/gatehouse/internal/corpustest"
)

// TestEmbeddedBundleIsCurrent rebuilds the bundle from the corpus and
// compares its decompressed content with the embedded file, so the two
// cannot drift apart. Run go generate in internal/fhirpkg after changing
// gen or Strip.
func TestEmbeddedBundleIsCurrent(t *testing.T) {
	if testing.Short() {
		t.Skip("rebuilds the embedded packages")
	}
	want, err := Build(corpustest.Root(t))
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile("../embedded/packages.bin.gz")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(gunzip(t, got), gunzip(t, want)) {
		t.Error("embedded/packages.bin.gz is stale: run go generate ./internal/fhirpkg")
	}
}

func gunzip(t *testing.T, b []byte) []byte {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	out, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	return out
}
