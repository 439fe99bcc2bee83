package loadgen

import (
	"archive/tar"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"

	"github.com/gatehouse-health/gatehouse/internal/members"
)

// MaxSyntheaFileBytes caps one patient Bundle read from a Synthea archive.
// The files of the 200-patient sample are 1 MiB at most.
const MaxSyntheaFileBytes = 64 << 20

// Code systems of Synthea claim items.
const (
	systemSNOMED = "http://snomed.info/sct"
	systemCVX    = "http://hl7.org/fhir/sid/cvx"
)

// usCoreExtensions are the Patient extensions copied from Synthea. The
// others (Synthea's own, birth place, mother's maiden name) are dropped.
var usCoreExtensions = map[string]bool{
	usCoreBase + "us-core-race":      true,
	usCoreBase + "us-core-ethnicity": true,
	usCoreBase + "us-core-birthsex":  true,
}

// SyntheaOptions adjusts FromSynthea.
type SyntheaOptions struct {
	// MaxRequests stops the conversion after this many requests. Zero
	// means DefaultMaxRequests.
	MaxRequests int
	// Now dates the requests. Nil means time.Now.
	Now func() time.Time
}

// DefaultMaxRequests caps how many distinct requests a source contains. They
// are replayed in turns, so more would only cost memory.
const DefaultMaxRequests = 5000

// ConvertStats counts what a Synthea conversion read and skipped.
type ConvertStats struct {
	Files    int `json:"files"`
	Patients int `json:"patients"`
	Claims   int `json:"claims"`
	Requests int `json:"requests"`
	// Skipped counts claims not converted, by reason.
	Skipped map[string]int `json:"skipped,omitempty"`
}

// Reasons a Synthea claim is not converted.
const (
	SkipUninsured   = "no insurance"
	SkipNoItems     = "no items with a code"
	SkipNoPatientID = "patient without identifier, name or gender"
)

// FromSynthea converts the Claims of a .tgz archive of Synthea patient
// Bundles (FHIR R4 JSON, one patient per file) into PAS request Templates.
// Files that are not JSON Bundles, and Bundles without exactly one
// Patient, are skipped.
func FromSynthea(archive string, opts SyntheaOptions) ([]*Template, *ConvertStats, error) {
	if opts.MaxRequests <= 0 {
		opts.MaxRequests = DefaultMaxRequests
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	f, err := os.Open(archive)
	if err != nil {
		return nil, nil, fmt.Errorf("loadgen: %w", err)
	}
	defer f.Close()
	gz, err := gzip.NewReader(f)
	if err != nil {
		return nil, nil, fmt.Errorf("loadgen: %s is not a gzip archive: %w", archive, err)
	}
	defer gz.Close()

	conv := &syntheaConverter{opts: opts, now: opts.Now(), marks: newMarkers(), stats: &ConvertStats{Skipped: map[string]int{}}}
	tr := tar.NewReader(gz)
	for len(conv.out) < opts.MaxRequests {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, nil, fmt.Errorf("loadgen: reading %s: %w", archive, err)
		}
		name := path.Base(hdr.Name)
		if hdr.Typeflag != tar.TypeReg || !strings.HasSuffix(name, ".json") || strings.HasPrefix(name, ".") {
			continue
		}
		if hdr.Size > MaxSyntheaFileBytes {
			return nil, nil, fmt.Errorf("loadgen: %s in %s is larger than %d bytes", hdr.Name, archive, MaxSyntheaFileBytes)
		}
		data, err := io.ReadAll(io.LimitReader(tr, MaxSyntheaFileBytes))
		if err != nil {
			return nil, nil, fmt.Errorf("loadgen: reading %s in %s: %w", hdr.Name, archive, err)
		}
		if err := conv.file(name, data); err != nil {
			return nil, nil, err
		}
	}
	if len(conv.out) == 0 {
		return nil, conv.stats, fmt.Errorf("loadgen: no insured Synthea claims found in %s", archive)
	}
	conv.stats.Requests = len(conv.out)
	return conv.out, conv.stats, nil
}

type syntheaConverter struct {
	opts  SyntheaOptions
	now   time.Time
	marks markers
	stats *ConvertStats
	out   []*Template
}

// Synthea input, with only the elements the conversion reads.
type (
	syntheaBundle struct {
		ResourceType string `json:"resourceType"`
		Entry        []struct {
			Resource jsontext.Value `json:"resource"`
		} `json:"entry"`
	}
	syntheaHead struct {
		ResourceType string `json:"resourceType"`
	}
	syntheaPatient struct {
		Extension  []jsontext.Value   `json:"extension"`
		Identifier []identifierJSON   `json:"identifier"`
		Name       []humanNameJSON    `json:"name"`
		Telecom    []contactPointJSON `json:"telecom"`
		Gender     string             `json:"gender"`
		BirthDate  string             `json:"birthDate"`
		Address    []addressJSON      `json:"address"`
	}
	syntheaClaim struct {
		Type      conceptJSON `json:"type"`
		Insurance []struct {
			Coverage struct {
				Display string `json:"display"`
			} `json:"coverage"`
		} `json:"insurance"`
		Item []struct {
			ProductOrService conceptJSON `json:"productOrService"`
		} `json:"item"`
	}
)

// file converts the claims of one patient Bundle.
func (conv *syntheaConverter) file(name string, data []byte) error {
	conv.stats.Files++
	var b syntheaBundle
	if err := json.Unmarshal(data, &b); err != nil || b.ResourceType != "Bundle" {
		return nil
	}
	var patients []syntheaPatient
	var claims []syntheaClaim
	for _, e := range b.Entry {
		var head syntheaHead
		if json.Unmarshal(e.Resource, &head) != nil {
			continue
		}
		switch head.ResourceType {
		case "Patient":
			var p syntheaPatient
			if json.Unmarshal(e.Resource, &p) == nil {
				patients = append(patients, p)
			}
		case "Claim":
			var c syntheaClaim
			if json.Unmarshal(e.Resource, &c) == nil {
				claims = append(claims, c)
			}
		}
	}
	if len(patients) != 1 {
		return nil
	}
	conv.stats.Patients++
	patient, ok := patientOf(patients[0])
	for i := range claims {
		if len(conv.out) >= conv.opts.MaxRequests {
			return nil
		}
		conv.stats.Claims++
		if !ok {
			conv.stats.Skipped[SkipNoPatientID]++
			continue
		}
		if err := conv.claim(name, i, patient, &claims[i]); err != nil {
			return err
		}
	}
	return nil
}

// claim converts one claim, or counts why it is skipped.
func (conv *syntheaConverter) claim(file string, n int, patient patientData, c *syntheaClaim) error {
	plan := ""
	if len(c.Insurance) > 0 {
		plan = c.Insurance[0].Coverage.Display
	}
	if plan == "" || plan == "no_insurance" {
		conv.stats.Skipped[SkipUninsured]++
		return nil
	}
	data := &claimData{
		name:      file + "#claim" + strconv.Itoa(n+1),
		claimType: claimTypeOf(c.Type),
		plan:      plan,
		patient:   patient,
	}
	for _, it := range c.Item {
		if len(it.ProductOrService.Coding) == 0 || it.ProductOrService.Coding[0].Code == "" {
			continue
		}
		cd := it.ProductOrService.Coding[0]
		display := cd.Display
		if display == "" {
			display = it.ProductOrService.Text
		}
		data.items = append(data.items, itemData{system: cd.System, code: cd.Code, display: display})
	}
	if len(data.items) == 0 {
		conv.stats.Skipped[SkipNoItems]++
		return nil
	}
	t, err := buildTemplate(data, conv.now, conv.marks)
	if err != nil {
		return err
	}
	conv.out = append(conv.out, t)
	return nil
}

// claimTypeOf maps a Synthea claim type to one PAS allows: institutional
// stays, and pharmacy (Synthea bills the encounter of a prescription)
// becomes professional.
func claimTypeOf(t conceptJSON) string {
	if len(t.Coding) > 0 && t.Coding[0].Code == "institutional" {
		return "institutional"
	}
	return "professional"
}

// patientOf keeps the Patient elements a PAS request carries. ok is false
// when the Patient lacks what US Core requires: an identifier, a name and
// a gender.
func patientOf(p syntheaPatient) (patientData, bool) {
	out := patientData{gender: p.Gender, birthDate: p.BirthDate}

	// Synthea lists the source id, the medical record number, then SSN,
	// driver's licence and passport. Prior authorization needs only the
	// first two.
	for _, id := range p.Identifier {
		if id.System != "" && id.Value != "" && id.System != "http://hl7.org/fhir/sid/us-ssn" {
			out.identifiers = append(out.identifiers, id)
		}
	}
	if len(out.identifiers) > 2 {
		out.identifiers = out.identifiers[:2]
	}
	if len(out.identifiers) == 0 || out.gender == "" || len(p.Name) == 0 {
		return out, false
	}

	out.name = officialName(p.Name)
	for _, t := range p.Telecom {
		if t.System != "" && t.Value != "" {
			out.telecom = append(out.telecom, t)
		}
	}
	for _, a := range p.Address {
		a.State = uspsState(a.State)
		out.address = append(out.address, a)
	}
	for _, ext := range p.Extension {
		if kept, ok := usCoreExtension(ext); ok {
			out.extensions = append(out.extensions, kept)
		}
	}
	return out, true
}

// ombCodes are the OMB categories US Core allows in the ombCategory part
// of its race and ethnicity extensions (CDC Race and Ethnicity code
// system).
var ombCodes = map[string]map[string]bool{
	usCoreBase + "us-core-race": {
		"1002-5": true, "2028-9": true, "2054-5": true, "2076-8": true, "2106-3": true,
	},
	usCoreBase + "us-core-ethnicity": {"2135-2": true, "2186-5": true},
}

const usCoreBase = "http://hl7.org/fhir/us/core/StructureDefinition/"

// usCoreExtension returns ext if it is one of usCoreExtensions, without
// the ombCategory parts whose code is not an OMB category. Synthea files
// some patients under ethnicity or "other race" codes as their race,
// which US Core's required binding rejects. The text part keeps what
// Synthea wrote.
func usCoreExtension(ext jsontext.Value) (jsontext.Value, bool) {
	var e struct {
		URL       string           `json:"url"`
		Extension []jsontext.Value `json:"extension,omitempty"`
		ValueCode string           `json:"valueCode,omitempty"`
	}
	if json.Unmarshal(ext, &e) != nil || !usCoreExtensions[e.URL] {
		return nil, false
	}
	allowed, hasParts := ombCodes[e.URL]
	if !hasParts {
		return ext, true
	}
	parts := e.Extension[:0]
	for _, part := range e.Extension {
		var p struct {
			URL         string     `json:"url"`
			ValueCoding codingJSON `json:"valueCoding"`
		}
		if json.Unmarshal(part, &p) == nil && p.URL == "ombCategory" && !allowed[p.ValueCoding.Code] {
			continue
		}
		parts = append(parts, part)
	}
	e.Extension = parts
	out, err := json.Marshal(e)
	if err != nil {
		return nil, false
	}
	return out, true
}

// officialName returns the name with use official, else the first.
func officialName(names []humanNameJSON) humanNameJSON {
	for _, n := range names {
		if n.Use == "official" {
			return n
		}
	}
	return names[0]
}

// uspsState returns the USPS code US Core expects for the state names
// Synthea writes. Other values pass unchanged.
// NOTE: only Massachusetts, the state of the Synthea sample, is mapped.
func uspsState(name string) string {
	if name == "Massachusetts" {
		return "MA"
	}
	return name
}

// memberIDOf is the member id the built-in payer's member loader assigns
// to the patient with this first identifier.
func memberIDOf(system, value string) string { return members.MemberID(system, value) }
