package dfd_test

import (
	"bytes"
	"encoding/xml"
	"errors"
	"flag"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/gatehouse-health/gatehouse/internal/app"
	"github.com/gatehouse-health/gatehouse/internal/config"
	"github.com/gatehouse-health/gatehouse/internal/dfd"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// configs returns the configurations with golden diagrams: the development
// configuration (with serve's default addresses) and the shipped examples.
func configs(t *testing.T) map[string]*config.File {
	t.Helper()
	dev, _, _, err := app.DevConfig(filepath.Join(t.TempDir(), "data"), "127.0.0.1:8443", "127.0.0.1:9443")
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]*config.File{"dev": dev}
	for name, path := range map[string]string{
		"example":  "../../examples/gatehouse.yaml",
		"hardened": "../../examples/posture/hardened.yaml",
	} {
		cfg, err := config.Load(path)
		if err != nil {
			t.Fatal(err)
		}
		out[name] = cfg
	}
	return out
}

var formats = map[string]func(io.Writer, *dfd.Graph) error{
	"mmd": dfd.WriteMermaid,
	"dot": dfd.WriteDOT,
	"svg": dfd.WriteSVG,
}

func TestGolden(t *testing.T) {
	for name, cfg := range configs(t) {
		for ext, write := range formats {
			t.Run(name+"."+ext, func(t *testing.T) {
				var b bytes.Buffer
				if err := write(&b, dfd.Build(cfg)); err != nil {
					t.Fatal(err)
				}
				path := filepath.Join("testdata", name+"."+ext)
				if *update {
					if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
						t.Fatal(err)
					}
				}
				want, err := os.ReadFile(path)
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(b.Bytes(), want) {
					t.Errorf("%s differs from the output; run go test ./internal/dfd -update and review the diff", path)
				}
			})
		}
	}
}

func TestDeterministic(t *testing.T) {
	cfg := configs(t)["example"]
	var a, b bytes.Buffer
	if err := dfd.WriteSVG(&a, dfd.Build(cfg)); err != nil {
		t.Fatal(err)
	}
	if err := dfd.WriteSVG(&b, dfd.Build(cfg)); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a.Bytes(), b.Bytes()) {
		t.Error("two renderings of one configuration differ")
	}
}

// TestSVGWellFormed parses every SVG as XML and checks it has the parts a
// reader needs: zones, nodes, arrowheads and labels.
func TestSVGWellFormed(t *testing.T) {
	for name, cfg := range configs(t) {
		t.Run(name, func(t *testing.T) {
			g := dfd.Build(cfg)
			var b bytes.Buffer
			if err := dfd.WriteSVG(&b, g); err != nil {
				t.Fatal(err)
			}
			counts := map[string]int{}
			var texts []string
			dec := xml.NewDecoder(&b)
			for {
				tok, err := dec.Token()
				if errors.Is(err, io.EOF) {
					break
				}
				if err != nil {
					t.Fatalf("not well-formed XML: %v", err)
				}
				switch el := tok.(type) {
				case xml.StartElement:
					counts[el.Name.Local]++
				case xml.CharData:
					texts = append(texts, string(el))
				}
			}
			if counts["svg"] != 1 || counts["marker"] != 1 {
				t.Errorf("svg %d, marker %d", counts["svg"], counts["marker"])
			}
			if counts["line"] != len(g.Edges) {
				t.Errorf("%d lines for %d edges", counts["line"], len(g.Edges))
			}
			all := strings.Join(texts, "\n")
			for _, want := range []string{"Internet / partner networks", "DMZ: Gatehouse host", "Payer internal network", "Inbound listener", "mTLS (private CA)"} {
				if !strings.Contains(all, want) {
					t.Errorf("SVG text lacks %q", want)
				}
			}
		})
	}
}

func TestDataClasses(t *testing.T) {
	tests := []struct {
		interactions []string
		want         string
	}{
		{[]string{"capabilities"}, "conformance"},
		{[]string{"Subscription.search"}, "workflow"},
		{[]string{"Provenance.read"}, "audit"},
		{[]string{"Claim/$submit"}, "claims coverage clinical member"},
		{[]string{"Patient/$member-match"}, "coverage member"},
		{[]string{"Coverage.read", "Observation.search"}, "coverage clinical"},
		{[]string{"NewFangledType.read"}, ""},
		{[]string{"Organization.read"}, "directory"},
		{[]string{"search-system"}, "claims coverage clinical member directory workflow audit conformance"},
		{[]string{"history-system"}, "claims coverage clinical member directory workflow audit conformance"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.interactions, ","), func(t *testing.T) {
			var got []string
			for _, c := range dfd.ClassesOf(tt.interactions) {
				got = append(got, string(c))
			}
			if strings.Join(got, " ") != tt.want {
				t.Errorf("ClassesOf = %v, want %q", got, tt.want)
			}
		})
	}
}

// With strict mode off, every flow that carries bodies is labelled so in
// capitals rather than claiming profile validation.
func TestStrictModeOffShown(t *testing.T) {
	cfg := configs(t)["example"]
	cfg.Strict.Mode = "off"
	var b bytes.Buffer
	if err := dfd.WriteMermaid(&b, dfd.Build(cfg)); err != nil {
		t.Fatal(err)
	}

	got := b.String()
	if strings.Contains(got, "FHIR profiles") {
		t.Errorf("diagram with strict mode off claims FHIR profiles:\n%s", got)
	}
	if !strings.Contains(got, "FHIR PROFILES OFF") {
		t.Errorf("diagram with strict mode off lacks FHIR PROFILES OFF:\n%s", got)
	}
}

// Each configured witness is an external party in a zone of its own,
// reached from the gateway through the egress allowlist.
func TestWitnessesShown(t *testing.T) {
	cfg := configs(t)["example"]
	cfg.Audit.Witnesses = []config.Witness{{URL: "https://w1.example.org"}, {URL: "https://w2.example.org:8443"}}
	g := dfd.Build(cfg)

	var nodes []dfd.Node
	for _, n := range g.Nodes {
		if n.Zone == dfd.ZoneWitness.ID {
			nodes = append(nodes, n)
		}
	}
	if len(nodes) != 2 {
		t.Fatalf("diagram has %d witness nodes, want 2", len(nodes))
	}
	if got := nodes[1].Lines[1]; got != "w2.example.org:8443" {
		t.Errorf("second witness is labelled %q, want w2.example.org:8443", got)
	}
	edges := 0
	for _, e := range g.Edges {
		if e.To == nodes[0].ID || e.To == nodes[1].ID {
			edges++
			if e.From != "gateway" || !slices.Contains(e.Controls, "egress allowlist") {
				t.Errorf("witness edge %+v: want it from the gateway through the egress allowlist", e)
			}
		}
	}
	if edges != 2 {
		t.Errorf("diagram has %d edges to witnesses, want 2", edges)
	}
}
