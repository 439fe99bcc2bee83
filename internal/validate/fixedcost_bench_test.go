package validate

import "testing"

// minimalResources are near-empty resources whose validation cost is
// mostly what a Validate call pays before it reads the first member.
var minimalResources = []struct{ name, body string }{
	{"Basic", `{"resourceType":"Basic","code":{}}`},
	{"Patient", `{"resourceType":"Patient","id":"p1","active":true}`},
}

// BenchmarkValidateMinimal validates each of minimalResources; ns/op is
// per Validate call.
func BenchmarkValidateMinimal(b *testing.B) {
	v, err := New(Options{AllowedExtensionDomains: exampleDomains, AllowedModifierDomains: exampleModifierDomains})
	if err != nil {
		b.Fatal(err)
	}
	for _, m := range minimalResources {
		body := []byte(m.body)
		b.Run(m.name, func(b *testing.B) {
			if _, err := v.Validate(body); err != nil { // compile definitions outside the timing
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := v.Validate(body); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
