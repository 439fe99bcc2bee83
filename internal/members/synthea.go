package members

import (
	"errors"
	"io"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
)

// errNotBundle means the file is JSON but not a Bundle.
var errNotBundle = errors.New("members: not a FHIR Bundle")

// errInvalidJSON means the file is not well-formed JSON, such as a Bundle
// cut short by an interrupted copy.
var errInvalidJSON = errors.New("members: invalid JSON")

// bundleData is what a load keeps of one Bundle.
type bundleData struct {
	patients  []patientJSON
	segments  []segment  // from ExplanationOfBenefit
	coverages []coverage // top-level Coverage resources
	types     map[string]int
}

func (b *bundleData) hasOnlyOrganizations() bool {
	for t := range b.types {
		if t != "Organization" && t != "Practitioner" && t != "Location" {
			return false
		}
	}
	return len(b.types) > 0
}

type patientJSON struct {
	ID         string `json:"id"`
	Identifier []struct {
		System string `json:"system"`
		Value  string `json:"value"`
	} `json:"identifier"`
	Name []struct {
		Use    string   `json:"use"`
		Family string   `json:"family"`
		Given  []string `json:"given"`
	} `json:"name"`
	Gender           string `json:"gender"`
	BirthDate        string `json:"birthDate"`
	DeceasedDateTime string `json:"deceasedDateTime"`
}

type periodJSON struct {
	Start string `json:"start"`
	End   string `json:"end"`
}

type coverageJSON struct {
	ResourceType string `json:"resourceType"`
	Status       string `json:"status"`
	Type         struct {
		Text string `json:"text"`
	} `json:"type"`
	Beneficiary struct {
		Reference string `json:"reference"`
	} `json:"beneficiary"`
	Period periodJSON `json:"period"`
	Payor  []struct {
		Display string `json:"display"`
	} `json:"payor"`
}

type eobJSON struct {
	Contained      []coverageJSON `json:"contained"`
	BillablePeriod periodJSON     `json:"billablePeriod"`
}

// segment is one ExplanationOfBenefit's plan and billable period.
type segment struct {
	plan, payor, start, end string
}

// coverage is a top-level Coverage resource of the Bundle.
type coverage struct {
	plan, payor, start, end, status string
}

// readBundle decodes a Bundle one entry at a time, keeping Patients,
// Coverages and the coverage ExplanationOfBenefits carry, and counting
// every resource type into counts.
func readBundle(r io.Reader, counts map[string]int) (*bundleData, error) {
	dec := jsontext.NewDecoder(r)
	tok, err := dec.ReadToken()
	if err != nil {
		return nil, errInvalidJSON
	}
	if tok.Kind() != '{' {
		return nil, errNotBundle
	}
	b := &bundleData{types: map[string]int{}}
	isBundle := false
	for dec.PeekKind() != '}' {
		name, err := dec.ReadToken()
		if err != nil {
			return nil, errInvalidJSON
		}
		switch name.String() {
		case "resourceType":
			v, err := dec.ReadToken()
			if err != nil {
				return nil, errInvalidJSON
			}
			if v.Kind() != '"' {
				return nil, errNotBundle
			}
			isBundle = v.String() == "Bundle"
		case "entry":
			if err := b.readEntries(dec, counts); err != nil {
				return nil, err
			}
		default:
			if err := dec.SkipValue(); err != nil {
				return nil, errInvalidJSON
			}
		}
	}
	if !isBundle {
		return nil, errNotBundle
	}

	// The closing brace, then the end of the file: a second value or
	// stray bytes after the Bundle make the file invalid JSON.
	if _, err := dec.ReadToken(); err != nil {
		return nil, errInvalidJSON
	}
	if _, err := dec.ReadToken(); err != io.EOF {
		return nil, errInvalidJSON
	}
	return b, nil
}

func (b *bundleData) readEntries(dec *jsontext.Decoder, counts map[string]int) error {
	tok, err := dec.ReadToken()
	if err != nil {
		return errInvalidJSON
	}
	if tok.Kind() != '[' {
		return errNotBundle
	}
	for dec.PeekKind() != ']' {
		raw, err := dec.ReadValue()
		if err != nil {
			return errInvalidJSON
		}
		var e struct {
			Resource jsontext.Value `json:"resource"`
		}
		if err := json.Unmarshal(raw, &e); err != nil || len(e.Resource) == 0 {
			continue
		}
		if err := b.keep(e.Resource, counts); err != nil {
			return err
		}
	}
	if _, err := dec.ReadToken(); err != nil {
		return errInvalidJSON
	}
	return nil
}

// keep records one entry resource.
func (b *bundleData) keep(resource jsontext.Value, counts map[string]int) error {
	var head struct {
		ResourceType string `json:"resourceType"`
	}
	if err := json.Unmarshal(resource, &head); err != nil || head.ResourceType == "" {
		return nil
	}
	counts[head.ResourceType]++
	b.types[head.ResourceType]++
	switch head.ResourceType {
	case "Patient":
		var p patientJSON
		if err := json.Unmarshal(resource, &p); err == nil {
			b.patients = append(b.patients, p)
		}
	case "Coverage":
		var c coverageJSON
		if err := json.Unmarshal(resource, &c); err == nil {
			b.coverages = append(b.coverages, coverage{plan: planOf(c), payor: payorOf(c), start: date(c.Period.Start), end: date(c.Period.End), status: c.Status})
		}
	case "ExplanationOfBenefit":
		var e eobJSON
		if err := json.Unmarshal(resource, &e); err == nil {
			b.keepSegment(e)
		}
	}
	return nil
}

func (b *bundleData) keepSegment(e eobJSON) {
	for _, c := range e.Contained {
		if c.ResourceType != "Coverage" {
			continue
		}
		start := date(e.BillablePeriod.Start)
		if start == "" {
			return
		}
		b.segments = append(b.segments, segment{plan: planOf(c), payor: payorOf(c), start: start, end: date(e.BillablePeriod.End)})
		return
	}
}

func planOf(c coverageJSON) string { return strings.ToLower(strings.TrimSpace(c.Type.Text)) }

func payorOf(c coverageJSON) string {
	if len(c.Payor) > 0 && c.Payor[0].Display != "" {
		return c.Payor[0].Display
	}
	return planOf(c)
}

// date returns the YYYY-MM-DD part of a FHIR date or dateTime, "" when it
// has none.
func date(s string) string {
	if len(s) < 10 || s[4] != '-' || s[7] != '-' {
		return ""
	}
	return s[:10]
}

// derive builds the member and coverage of a one-patient Bundle, or the
// reason it is skipped.
func derive(b *bundleData) (Member, []Coverage, string) {
	p := b.patients[0]
	m, reason := memberOf(p)
	if reason != "" {
		return Member{}, nil, reason
	}
	var covs []Coverage
	for _, c := range b.coverages {
		if c.start != "" && c.status != "cancelled" && c.status != "entered-in-error" {
			covs = append(covs, Coverage{Plan: c.plan, Payor: c.payor, Start: c.start, End: c.end})
		}
	}
	if len(covs) == 0 {
		covs = coverageFromSegments(b.segments, m.DeceasedDate)
	}
	if len(covs) == 0 {
		return Member{}, nil, SkipNoCoverage
	}
	for i := range covs {
		covs[i].ID = m.ID + "-" + strconv.Itoa(i+1)
		covs[i].MemberID = m.ID
	}
	return m, covs, ""
}

// memberOf reads a member from a Patient: its first identifier, official
// (or first) name, gender, birth date and death.
func memberOf(p patientJSON) (Member, string) {
	var m Member
	for _, id := range p.Identifier {
		if id.System != "" && id.Value != "" {
			m.SourceSystem, m.SourceValue = id.System, id.Value
			break
		}
	}
	if m.SourceValue == "" {
		return m, SkipNoIdentifier
	}
	for i, n := range p.Name {
		if i == 0 || n.Use == "official" {
			m.Family = n.Family
			m.Given = ""
			if len(n.Given) > 0 {
				m.Given = n.Given[0]
			}
		}
		if n.Use == "official" {
			break
		}
	}
	m.BirthDate, m.Gender, m.DeceasedDate = date(p.BirthDate), p.Gender, date(p.DeceasedDateTime)
	if m.BirthDate == "" || Key(m.Family) == "" {
		return m, SkipNoBirthDate
	}
	m.ID = MemberID(m.SourceSystem, m.SourceValue)
	return m, ""
}

// coverageFromSegments derives coverage periods from the plans Synthea
// writes into each ExplanationOfBenefit. Consecutive claims under the same
// plan form one coverage from the first claim's start. A coverage ends the
// day before the next plan's first claim; the last one stays open unless
// the member died, when it ends on the date of death. "no_insurance" is a
// gap, not a coverage.
func coverageFromSegments(segs []segment, deceased string) []Coverage {
	sort.SliceStable(segs, func(i, j int) bool { return segs[i].start < segs[j].start })
	var out []Coverage
	for i, sg := range segs {
		if i > 0 && sg.plan == segs[i-1].plan {
			continue
		}
		if n := len(out); n > 0 && out[n-1].End == "" {
			out[n-1].End = dayBefore(sg.start)
		}
		if sg.plan == "" || sg.plan == "no_insurance" {
			continue
		}
		out = append(out, Coverage{Plan: sg.plan, Payor: sg.payor, Start: sg.start})
	}
	if n := len(out); n > 0 && out[n-1].End == "" && deceased != "" {
		out[n-1].End = deceased
	}
	return out
}

// dayBefore returns the date before d (YYYY-MM-DD).
func dayBefore(d string) string {
	t, err := parseDate(d)
	if err != nil {
		return d
	}
	return t.AddDate(0, 0, -1).Format("2006-01-02")
}

func parseDate(d string) (time.Time, error) { return time.Parse("2006-01-02", d) }
