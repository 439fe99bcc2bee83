package posture

import (
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"path/filepath"
)

// SARIF 2.1.0 output, as code-scanning services load it: one run whose
// tool.driver.rules are the checks that ran, and one result per finding
// that did not pass. Each rule carries properties.security-severity, the
// CVSS-like score code-scanning services rank alerts by.

const (
	sarifVersion = "2.1.0"
	sarifSchema  = "https://json.schemastore.org/sarif-2.1.0.json"
)

type sarifLog struct {
	Schema  string     `json:"$schema"`
	Version string     `json:"version"`
	Runs    []sarifRun `json:"runs"`
}

type sarifRun struct {
	Tool    sarifTool     `json:"tool"`
	Results []sarifResult `json:"results"`
}

type sarifTool struct {
	Driver sarifDriver `json:"driver"`
}

type sarifDriver struct {
	Name           string      `json:"name"`
	InformationURI string      `json:"informationUri,omitempty"`
	Rules          []sarifRule `json:"rules"`
}

type sarifText struct {
	Text     string `json:"text"`
	Markdown string `json:"markdown,omitempty"`
}

type sarifRule struct {
	ID                   string         `json:"id"`
	Name                 string         `json:"name"`
	ShortDescription     sarifText      `json:"shortDescription"`
	FullDescription      sarifText      `json:"fullDescription"`
	Help                 sarifText      `json:"help"`
	DefaultConfiguration sarifLevel     `json:"defaultConfiguration"`
	Properties           sarifRuleProps `json:"properties"`
}

type sarifLevel struct {
	Level string `json:"level"`
}

type sarifRuleProps struct {
	SecuritySeverity string   `json:"security-severity"`
	Tags             []string `json:"tags"`
}

type sarifResult struct {
	RuleID     string          `json:"ruleId"`
	RuleIndex  int             `json:"ruleIndex"`
	Level      string          `json:"level"`
	Message    sarifText       `json:"message"`
	Locations  []sarifLocation `json:"locations,omitempty"`
	Properties map[string]any  `json:"properties,omitempty"`
}

type sarifLocation struct {
	PhysicalLocation sarifPhysical `json:"physicalLocation"`
}

type sarifPhysical struct {
	ArtifactLocation sarifArtifact `json:"artifactLocation"`
	Region           *sarifRegion  `json:"region,omitempty"`
}

type sarifArtifact struct {
	URI string `json:"uri"`
}

type sarifRegion struct {
	StartLine int `json:"startLine"`
}

// sarifLevelOf maps a severity to a SARIF level.
func sarifLevelOf(s Severity) string {
	switch s {
	case High:
		return "error"
	case Medium:
		return "warning"
	}
	return "note"
}

// securitySeverity maps a severity into the score bands code-scanning
// services use: 7.0-8.9 high, 4.0-6.9 medium, 0.1-3.9 low.
func securitySeverity(s Severity) string {
	switch s {
	case High:
		return "8.0"
	case Medium:
		return "5.0"
	}
	return "2.0"
}

// WriteSARIF writes r as a SARIF 2.1.0 log.
func WriteSARIF(w io.Writer, r *Report) error {
	index := map[string]int{}
	rules := make([]sarifRule, 0, len(r.Checks))
	for i, c := range r.Checks {
		index[c.ID] = i
		rules = append(rules, sarifRuleOf(c))
	}
	uri := artifactURI(r)
	results := []sarifResult{}
	for _, f := range r.Findings {
		if !f.Failed() {
			continue
		}
		res := sarifResult{
			RuleID: f.Check, RuleIndex: index[f.Check], Level: sarifLevelOf(f.Severity),
			Message:    sarifText{Text: sentence(f.Message)},
			Properties: map[string]any{"status": f.Status, "severity": f.Severity},
		}
		if f.Key != "" {
			res.Properties["key"] = f.Key
		}
		if uri != "" {
			loc := sarifLocation{PhysicalLocation: sarifPhysical{ArtifactLocation: sarifArtifact{URI: uri}}}
			if f.Line > 0 {
				loc.PhysicalLocation.Region = &sarifRegion{StartLine: f.Line}
			}
			res.Locations = []sarifLocation{loc}
		}
		results = append(results, res)
	}
	log := sarifLog{Schema: sarifSchema, Version: sarifVersion, Runs: []sarifRun{{
		Tool:    sarifTool{Driver: sarifDriver{Name: "gatehouse-posture", Rules: rules}},
		Results: results,
	}}}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(log)
}

func sarifRuleOf(c Check) sarifRule {
	help := fmt.Sprintf("%s\n\nWhy: %s", c.Remediation, c.Rationale)
	return sarifRule{
		ID:                   c.ID,
		Name:                 c.ID,
		ShortDescription:     sarifText{Text: c.Title},
		FullDescription:      sarifText{Text: c.Rationale},
		Help:                 sarifText{Text: help, Markdown: fmt.Sprintf("**Fix:** %s\n\n**Why:** %s", c.Remediation, c.Rationale)},
		DefaultConfiguration: sarifLevel{Level: sarifLevelOf(c.Severity)},
		Properties: sarifRuleProps{
			SecuritySeverity: securitySeverity(c.Severity),
			Tags:             []string{"security", "gatehouse", "control-" + c.Control, string(c.Mode)},
		},
	}
}

// artifactURI returns the location results point at: the configuration
// file as a relative path or file URI, or the probed URL.
func artifactURI(r *Report) string {
	switch {
	case r.ConfigFile == "" && r.Mode == ModeLive:
		return r.Subject
	case r.ConfigFile == "":
		return ""
	case filepath.IsAbs(r.ConfigFile):
		return (&url.URL{Scheme: "file", Path: filepath.ToSlash(r.ConfigFile)}).String()
	}
	return filepath.ToSlash(filepath.Clean(r.ConfigFile))
}

// sentence capitalises the first letter of msg and ends it with a period.
func sentence(msg string) string {
	if msg == "" {
		return msg
	}
	b := []byte(msg)
	if 'a' <= b[0] && b[0] <= 'z' {
		b[0] -= 'a' - 'A'
	}
	if b[len(b)-1] != '.' {
		b = append(b, '.')
	}
	return string(b)
}
