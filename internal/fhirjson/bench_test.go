package fhirjson

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/gatehouse-health/gatehouse/internal/corpustest"
)

// BenchmarkCheck runs the strict intake over a PAS request Bundle from
// the PAS examples (18 KB) and over the largest R4 example (a 2.7 MB
// ImplementationGuide). MB/s is the document's bytes per second.
func BenchmarkCheck(b *testing.B) {
	pas := corpustest.Unpack(b, "davinci-pas/hl7.fhir.us.davinci-pas-2.0.1.tgz")
	r4 := corpustest.Unpack(b, "fhir-r4-examples/hl7.fhir.r4.examples-4.0.1.tgz")
	cases := []struct{ name, path string }{
		{"PASRequestBundle", filepath.Join(pas, "package", "example", "Bundle-ReferralAuthorizationBundleExample.json")},
		{"ImplementationGuide", filepath.Join(r4, "package", "ImplementationGuide-fhir.json")},
	}
	for _, c := range cases {
		doc, err := os.ReadFile(c.path)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(c.name, func(b *testing.B) {
			b.SetBytes(int64(len(doc)))
			b.ReportAllocs()
			for b.Loop() {
				if err := CheckObject(doc, DefaultLimits); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkCheckAndHead compares the gateway's intake of a request body
// done as two passes (CheckObject, then ReadHead) with the one pass of
// CheckObjectHead, over the PAS request Bundle of BenchmarkCheck.
func BenchmarkCheckAndHead(b *testing.B) {
	pas := corpustest.Unpack(b, "davinci-pas/hl7.fhir.us.davinci-pas-2.0.1.tgz")
	doc, err := os.ReadFile(filepath.Join(pas, "package", "example", "Bundle-ReferralAuthorizationBundleExample.json"))
	if err != nil {
		b.Fatal(err)
	}
	b.Run("TwoPasses", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if err := CheckObject(doc, DefaultLimits); err != nil {
				b.Fatal(err)
			}
			if h, err := ReadHead(doc); err != nil || h.ResourceType != "Bundle" {
				b.Fatal(h, err)
			}
		}
	})
	b.Run("OnePass", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if h, err := CheckObjectHead(doc, DefaultLimits); err != nil || h.ResourceType != "Bundle" {
				b.Fatal(h, err)
			}
		}
	})
}
