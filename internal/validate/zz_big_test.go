package validate

import (
	"os"
	"strings"
	"testing"
)

func BenchmarkZZBig(b *testing.B) {
	v, err := New(Options{AllowedExtensionDomains: exampleDomains})
	if err != nil {
		b.Fatal(err)
	}
	var bodies [][]byte
	for _, f := range strings.Fields(os.Getenv("BIGFILES")) {
		raw, err := os.ReadFile(f)
		if err != nil {
			b.Fatal(err)
		}
		bodies = append(bodies, raw)
		v.Validate(raw)
	}
	b.ReportAllocs()
	for b.Loop() {
		for _, body := range bodies {
			v.Validate(body)
		}
	}
}
