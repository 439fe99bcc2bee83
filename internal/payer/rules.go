package payer

import (
	"bytes"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/gatehouse-health/gatehouse/internal/pas"
)

// defaultRulesYAML is the rule table used when Options.Rules is nil.
//
//go:embed rules.yaml
var defaultRulesYAML []byte

// maxRuleFileBytes caps a rule file. By estimate, a table of a few
// thousand codes at about 30 bytes a line stays under 200 KiB.
const maxRuleFileBytes = 1 << 20

// decisions maps the decision names of a rule file to X12 306 codes.
var decisions = map[string]pas.ReviewAction{
	"approve": pas.CertifiedInTotal,
	"partial": pas.CertifiedPartial,
	"deny":    pas.NotCertified,
	"pend":    pas.Pended,
	"modify":  pas.Modified,
	"contact": pas.ContactPayer,
	"none":    pas.NoActionRequired,
}

// Rules decides prior authorization items by their productOrService
// coding. It is immutable once built, so one value may serve concurrent
// requests.
type Rules struct {
	fallback pas.ReviewAction
	systems  map[string]systemRules
}

type systemRules struct {
	fallback pas.ReviewAction // "" defers to the table's default
	codes    map[string]pas.ReviewAction
}

// Decide returns the decision for an item coded with codings. The first
// coding whose system and code have a rule decides. Without one, the first
// coding whose system has a default decides, and without that the table's
// default applies. Codes match exactly, case included.
func (r *Rules) Decide(codings []pas.Coding) pas.ReviewAction {
	for _, c := range codings {
		if action, ok := r.systems[c.System].codes[c.Code]; ok {
			return action
		}
	}
	for _, c := range codings {
		if sys, ok := r.systems[c.System]; ok && sys.fallback != "" {
			return sys.fallback
		}
	}
	return r.fallback
}

// DefaultRules returns the rule table shipped with Gatehouse (rules.yaml
// in this package).
func DefaultRules() *Rules {
	r, err := ParseRules(defaultRulesYAML)
	if err != nil {
		panic("payer: embedded rules.yaml: " + err.Error())
	}
	return r
}

// LoadRules reads a rule table from a YAML file in the format the package
// documentation describes.
func LoadRules(path string) (*Rules, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("payer: rules: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxRuleFileBytes+1))
	if err != nil {
		return nil, fmt.Errorf("payer: rules: %w", err)
	}
	if len(data) > maxRuleFileBytes {
		return nil, fmt.Errorf("payer: rules: %s is larger than %d bytes", path, maxRuleFileBytes)
	}
	r, err := ParseRules(data)
	if err != nil {
		return nil, fmt.Errorf("%w (in %s)", err, path)
	}
	return r, nil
}

type ruleFile struct {
	Default string                `yaml:"default"`
	Systems map[string]systemFile `yaml:"systems"`
}

type systemFile struct {
	Default string            `yaml:"default"`
	Codes   map[string]string `yaml:"codes"`
}

// ParseRules decodes a rule table strictly: unknown keys, duplicate keys,
// unknown decisions, empty systems or codes and trailing documents are
// errors that name the key path.
func ParseRules(data []byte) (*Rules, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	var f ruleFile
	if err := dec.Decode(&f); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, errors.New("payer: rules: the file is empty")
		}
		return nil, fmt.Errorf("payer: rules: %w", err)
	}
	var extra any
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return nil, errors.New("payer: rules: more than one YAML document")
	}
	return f.compile()
}

func (f *ruleFile) compile() (*Rules, error) {
	if f.Default == "" {
		return nil, errors.New("payer: rules: default: missing; set the decision for items no rule matches")
	}
	fallback, err := decision("default", f.Default)
	if err != nil {
		return nil, err
	}
	r := &Rules{fallback: fallback, systems: map[string]systemRules{}}

	for _, system := range sortedKeys(f.Systems) {
		sf := f.Systems[system]
		at := "systems." + strconv.Quote(system)
		if strings.TrimSpace(system) == "" {
			return nil, errors.New("payer: rules: systems: a code system URL is empty")
		}
		sys := systemRules{codes: map[string]pas.ReviewAction{}}
		if sf.Default != "" {
			if sys.fallback, err = decision(at+".default", sf.Default); err != nil {
				return nil, err
			}
		}
		for _, code := range sortedKeys(sf.Codes) {
			if code == "" {
				return nil, fmt.Errorf("payer: rules: %s.codes: a code is empty", at)
			}
			if sys.codes[code], err = decision(at+".codes."+strconv.Quote(code), sf.Codes[code]); err != nil {
				return nil, err
			}
		}
		r.systems[system] = sys
	}
	return r, nil
}

func decision(path, name string) (pas.ReviewAction, error) {
	if action, ok := decisions[name]; ok {
		return action, nil
	}
	return "", fmt.Errorf("payer: rules: %s: unknown decision %q; use one of %s", path, name, decisionNames())
}

func decisionNames() string {
	names := sortedKeys(decisions)
	return strings.Join(names, ", ")
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
