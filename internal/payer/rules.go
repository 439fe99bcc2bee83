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
	"time"

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
	// pendThen and pendDelay decide pended items automatically; pendThen
	// is "" when only an operator decides them.
	pendThen  pas.ReviewAction
	pendDelay time.Duration
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
	Default  string                `yaml:"default"`
	PendThen string                `yaml:"pend_then"`
	Systems  map[string]systemFile `yaml:"systems"`
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
	if f.PendThen != "" {
		if r.pendThen, r.pendDelay, err = parsePendThen(f.PendThen); err != nil {
			return nil, err
		}
	}

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

// maxPendDelay caps pend_then: a pended item the rules decide later than a
// month is better left to an operator.
const maxPendDelay = 31 * 24 * time.Hour

// PendThen returns the decision the table makes on a pended item once
// delay has passed since it was pended. ok is false when pended items
// wait for an operator.
func (r *Rules) PendThen() (action pas.ReviewAction, delay time.Duration, ok bool) {
	return r.pendThen, r.pendDelay, r.pendThen != ""
}

// parsePendThen reads "DECISION after DURATION", such as "approve after
// 30s". The decision may not be pend, and the duration is a Go duration
// between 0s and 744h.
func parsePendThen(s string) (pas.ReviewAction, time.Duration, error) {
	fields := strings.Fields(s)
	if len(fields) != 3 || fields[1] != "after" {
		return "", 0, fmt.Errorf("payer: rules: pend_then: invalid value %q; use DECISION after DURATION, such as \"approve after 30s\"", s)
	}
	action, err := decision("pend_then", fields[0])
	if err != nil {
		return "", 0, err
	}
	if action == pas.Pended {
		return "", 0, errors.New("payer: rules: pend_then: the later decision cannot be pend")
	}
	delay, err := time.ParseDuration(fields[2])
	if err != nil || delay < 0 || delay > maxPendDelay {
		return "", 0, fmt.Errorf("payer: rules: pend_then: invalid duration %q; use a Go duration between 0s and %s", fields[2], maxPendDelay)
	}
	return action, delay, nil
}

// ParseDecision returns the X12 306 code for a decision name of the rule
// file other than pend: approve, partial, deny, modify, contact or none.
// An operator uses these names to decide a pended item.
func ParseDecision(name string) (pas.ReviewAction, error) {
	action, ok := decisions[name]
	if !ok || action == pas.Pended {
		return "", fmt.Errorf("payer: unknown decision %q; use approve, partial, deny, modify, contact or none", name)
	}
	return action, nil
}
