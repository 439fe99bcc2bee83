package validate

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gatehouse-health/gatehouse/internal/fhirpath"
	"github.com/gatehouse-health/gatehouse/internal/fhirpkg"
	"github.com/gatehouse-health/gatehouse/internal/outcome"
)

// Options configures a Validator. The zero value validates against the
// embedded packages with DefaultLimits.
type Options struct {
	// Packages are loaded beside the embedded ones, for example
	// implementation guides read with fhirpkg.LoadFile. A package with the
	// same name and version as an embedded one is an error.
	Packages []*fhirpkg.Package

	// NoEmbedded leaves the embedded packages out, so that only Packages
	// are loaded. Packages must then include hl7.fhir.r4.core.
	NoEmbedded bool

	// Limits caps the documents Validate accepts. Zero fields take the
	// DefaultLimits values.
	Limits Limits

	// Context lists packages, as "name#version", whose definitions win
	// when the instance names a profile without a version, for example
	// "hl7.fhir.us.davinci-pas#2.0.1" to validate PAS 2.0.1 exchanges while
	// PAS 2.2.1 is loaded too. By default the highest version wins.
	Context []string

	// SelfContainedBundles lists Bundle profiles (canonical URLs without
	// version) whose references must all resolve to entries of the Bundle.
	// Documents and messages are always self-contained. Nil means
	// DefaultSelfContainedBundles.
	SelfContainedBundles []string

	// AllowedExtensionDomains lists URL prefixes of extensions that may be
	// used without a loaded definition, reported as warnings. Any other extension without a definition is an error. Nil
	// means DefaultAllowedExtensionDomains.
	AllowedExtensionDomains []string

	// AllowedModifierDomains lists URL prefixes of modifier extensions
	// that may be used without a loaded definition, reported as warnings.
	// Nil means none: a receiver must reject a modifier extension it does
	// not understand, so every other one is an error, even in an
	// AllowedExtensionDomains domain.
	AllowedModifierDomains []string

	// RejectUnknownProfiles makes a meta.profile that is not loaded, or
	// cannot be used, an error instead of a warning. A gateway sets it,
	// because such a resource claims a conformance that nothing checked
	// and the receiver may trust the claim.
	RejectUnknownProfiles bool

	// UncheckedProfileDomains lists URL prefixes of profiles that stay
	// warnings under RejectUnknownProfiles when not loaded.
	UncheckedProfileDomains []string

	// Now is the clock FHIRPath's now() and today() read in invariants.
	// Nil means time.Now.
	Now func() time.Time
}

// Validator checks FHIR R4 JSON resources against the StructureDefinitions
// of its packages. It compiles definitions, value sets and invariants on
// first use and caches them, so it should be created once and shared. It
// is safe for concurrent use.
type Validator struct {
	set    *fhirpkg.Set
	core   *fhirpkg.Package
	limits Limits
	now    func() time.Time

	selfContained map[string]bool
	extDomains    []string
	modDomains    []string
	context       []*fhirpkg.Package
	types         readMap[string, *structure] // type code -> core definition

	structs        sync.Map // *fhirpkg.Resource -> *lazy[*structure]
	exprs          sync.Map // expression text -> *lazy[*fhirpath.Expression]
	expansion      sync.Map // *fhirpkg.Resource or *codeSystem -> *lazy[*expansion]
	bindingSets    sync.Map // bindingKey -> *expansion, nil when the value set is not loaded
	regexes        sync.Map // pattern -> *lazy[*regexp.Regexp]
	codeSystems    sync.Map // *fhirpkg.Resource -> *lazy[*codeSystem]
	questionnaires sync.Map // *fhirpkg.Resource -> *lazy[*jnode]
	extContexts    sync.Map // *fhirpkg.Resource -> *lazy[[]extensionContext]

	// resolved caches resolve per package, so that lookups hash a pointer
	// and a string rather than a struct of both.
	resolved  readMap[*fhirpkg.Package, *readMap[string, *fhirpkg.Resource]]
	misses    atomic.Int64              // misses cached in resolved
	valueDefs readMap[string, *elemDef] // primitive type code -> its value element
	// absentResults caches invariant outcomes on values without the
	// elements the invariant names, by expression and type (absent.go).
	absentResults readMap[absentKey, *absentEntry]
	// noShortcuts makes every invariant evaluate through FHIRPath, for
	// tests that compare the shortcuts with the evaluation.
	noShortcuts bool
	// noEntryChecks runs every profile check in a sandbox of its own and
	// every entry in the Bundle's walk, for tests that compare the two.
	noEntryChecks bool
	// rejectUnknownProfiles and uncheckedProfileDomains are the Options
	// fields of the same names.
	rejectUnknownProfiles   bool
	uncheckedProfileDomains []string

	vsIndexOnce sync.Once
	globalsOnce sync.Once
	globals     map[string][]globalProfile // resource type -> ImplementationGuide.global profiles
	vsIndex     map[string]*fhirpkg.Resource
}

// lazy is a cache entry computed once.
type lazy[T any] struct {
	once sync.Once
	val  T
	err  error
}

func cached[T any](m *sync.Map, key any, build func() (T, error)) (T, error) {
	e, ok := m.Load(key)
	if !ok {
		e, _ = m.LoadOrStore(key, &lazy[T]{})
	}
	l := e.(*lazy[T])
	l.once.Do(func() { l.val, l.err = build() })
	return l.val, l.err
}

// DefaultSelfContainedBundles are the Da Vinci PAS Bundle profiles. A PAS
// request, response or inquiry Bundle carries every resource the Claim
// or ClaimResponse refers to, because the receiver has no other copy.
var DefaultSelfContainedBundles = []string{
	"http://hl7.org/fhir/us/davinci-pas/StructureDefinition/profile-pas-request-bundle",
	"http://hl7.org/fhir/us/davinci-pas/StructureDefinition/profile-pas-response-bundle",
	"http://hl7.org/fhir/us/davinci-pas/StructureDefinition/profile-pas-inquiry-request-bundle",
	"http://hl7.org/fhir/us/davinci-pas/StructureDefinition/profile-pas-inquiry-response-bundle",
}

// DefaultAllowedExtensionDomains is HL7's own namespace. HL7 publishes
// extensions in packages Gatehouse does not ship (the extension pack,
// cross-version extensions, the subscriptions backport), so their use is a
// warning. Extensions of any other publisher must be defined in a loaded
// package.
var DefaultAllowedExtensionDomains = []string{"http://hl7.org/fhir/"}

const coreURL = "http://hl7.org/fhir/StructureDefinition/"

// New loads the packages. The embedded packages are decoded once per
// process, and definitions are compiled when first needed.
func New(opts Options) (*Validator, error) {
	var pkgs []*fhirpkg.Package
	if !opts.NoEmbedded {
		embedded, err := fhirpkg.Embedded()
		if err != nil {
			return nil, fmt.Errorf("validate: embedded packages: %w", err)
		}
		pkgs = append(pkgs, embedded...)
	}
	pkgs = append(pkgs, opts.Packages...)
	set, err := fhirpkg.NewSet(pkgs...)
	if err != nil {
		return nil, fmt.Errorf("validate: %w", err)
	}
	v := &Validator{set: set, core: set.Package("hl7.fhir.r4.core", "4.0.1"), limits: opts.Limits.withDefaults(), now: opts.Now}
	if v.core == nil {
		return nil, errors.New("validate: package hl7.fhir.r4.core#4.0.1 is not loaded")
	}
	for _, id := range opts.Context {
		name, version, _ := strings.Cut(id, "#")
		p := set.Package(name, version)
		if p == nil {
			return nil, fmt.Errorf("validate: context package %q is not loaded", id)
		}
		v.context = append(v.context, p)
	}
	v.extDomains = opts.AllowedExtensionDomains
	if v.extDomains == nil {
		v.extDomains = DefaultAllowedExtensionDomains
	}
	v.modDomains = opts.AllowedModifierDomains
	v.rejectUnknownProfiles = opts.RejectUnknownProfiles
	v.uncheckedProfileDomains = opts.UncheckedProfileDomains
	v.selfContained = map[string]bool{}
	if opts.SelfContainedBundles == nil {
		opts.SelfContainedBundles = DefaultSelfContainedBundles
	}
	for _, url := range opts.SelfContainedBundles {
		v.selfContained[url] = true
	}
	if v.now == nil {
		v.now = time.Now
	}
	return v, nil
}

// Packages returns the package set the validator resolves against.
func (v *Validator) Packages() *fhirpkg.Set { return v.set }

// Result is the outcome of validating one resource.
type Result struct {
	ResourceType string // "" when the document has none
	ID           string
	Issues       []outcome.Issue
}

// Valid reports whether no issue has severity error or fatal.
func (r *Result) Valid() bool {
	for _, is := range r.Issues {
		if is.Severity == outcome.Error || is.Severity == outcome.Fatal {
			return false
		}
	}
	return true
}

// OperationOutcome returns the issues as an OperationOutcome resource.
func (r *Result) OperationOutcome() *outcome.OperationOutcome {
	return outcome.FromIssues(r.Issues)
}

// Validate checks one FHIR R4 JSON resource against the core definitions,
// the profiles its meta.profile names and the given profiles (canonical
// URLs, optionally with "|version"). A document that is not strict JSON
// yields a Result with a fatal issue, not an error. The error is for
// failures of the validator itself, such as a damaged definition.
func (v *Validator) Validate(body []byte, profiles ...string) (*Result, error) {
	return v.validate(body, profiles, false)
}

// Check validates like Validate but keeps only error and fatal issues, for
// callers that need the verdict, such as a gateway deciding whether to
// forward a body. Valid reports what it would for Validate. Warnings and
// notes, dozens on a valid PAS Bundle, are not built at all.
func (v *Validator) Check(body []byte, profiles ...string) (*Result, error) {
	return v.validate(body, profiles, true)
}

func (v *Validator) validate(body []byte, profiles []string, errorsOnly bool) (*Result, error) {
	r := newRun(v)
	defer r.release()
	r.errorsOnly = errorsOnly
	tree, err := parseTreeIn(body, v.limits, &r.tree)
	if err != nil {
		return &Result{Issues: []outcome.Issue{{Severity: outcome.Fatal, Code: outcome.CodeStructure, Diagnostics: err.Error()}}}, nil
	}
	// The tree's strings share the document's memory, and the Result keeps
	// copies, so that it does not hold the document alive.
	rt, id := clonePair(tree.str("resourceType"), tree.str("id"))
	res := &Result{ResourceType: rt, ID: id}
	if err := r.document(tree, body, profiles); err != nil {
		return nil, err
	}
	res.Issues = r.issues
	return res, nil
}

// clonePair returns copies of a and b, cut from one allocation when both
// are non-empty. A concatenation with an empty string returns the other
// string itself, not a copy, so that case clones each.
func clonePair(a, b string) (string, string) {
	if a == "" || b == "" {
		return strings.Clone(a), strings.Clone(b)
	}
	both := a + b
	return both[:len(a)], both[len(a):]
}

// CheckProfile reports whether Validate can use url as one of its
// profiles: it must name a StructureDefinition of a resource in the loaded
// packages, and its snapshot must compile. Callers that take profiles from
// users check them once here, so that a mistyped URL is a usage error and
// not an issue on every resource.
func (v *Validator) CheckProfile(url string) error {
	s, err := v.structureAt(url, nil)
	switch {
	case err != nil:
		return fmt.Errorf("validate: profile %s is unusable: %w", url, err)
	case s == nil:
		return fmt.Errorf("validate: profile %s not found in the loaded packages", url)
	case s.kind != "resource":
		return fmt.Errorf("validate: profile %s constrains %s, which is not a resource type", url, s.typ)
	}
	return nil
}

// resolve finds a conformance resource by canonical URL as seen from a
// package (nil for the instance): that package's scope first, then the
// context packages, then the highest version.
// Results are cached, because the package set does not change after New.
// Misses are cached only up to maxCachedMisses: the instance chooses those
// URLs, so caching all of them would let senders grow the cache without
// bound. Keys are copied, because a URL read from an instance shares the
// memory of the whole document.
func (v *Validator) resolve(url string, from *fhirpkg.Package) *fhirpkg.Resource {
	cache, ok := v.resolved.load(from)
	if !ok {
		// Packages are fixed after New, so the caches are bounded.
		v.resolved.store(from, &readMap[string, *fhirpkg.Resource]{})
		cache, _ = v.resolved.load(from)
	}
	if res, ok := cache.load(url); ok {
		return res
	}
	var res *fhirpkg.Resource
	if len(v.context) == 0 {
		res = v.set.Resolve(url, from)
	} else {
		scopes := make([]*fhirpkg.Package, 0, 1+len(v.context))
		res = v.set.Resolve(url, append(append(scopes, from), v.context...)...)
	}
	if res != nil || v.misses.Add(1) <= maxCachedMisses {
		cache.store(strings.Clone(url), res)
	}
	return res
}

// maxCachedMisses bounds the canonical URLs resolve remembers as not
// found. Code systems named by instances that are not loaded (SNOMED CT,
// LOINC) are looked up on every coding, so a small number covers them.
const maxCachedMisses = 4096

// structureAt resolves a StructureDefinition by canonical URL, as seen from
// a package (nil for the instance), and compiles it once.
func (v *Validator) structureAt(url string, from *fhirpkg.Package) (*structure, error) {
	res := v.resolve(url, from)
	if res == nil || res.ResourceType != "StructureDefinition" {
		return nil, nil
	}
	return cached(&v.structs, res, func() (*structure, error) { return v.compileWithSnapshot(res) })
}

// typeStructure returns the core definition of a type, such as "HumanName"
// or "Patient", or nil for an unknown type.
func (v *Validator) typeStructure(code string) (*structure, error) {
	if s, ok := v.types.load(code); ok {
		return s, nil
	}
	s, err := v.structureAt(coreURL+code, v.core)
	if err != nil || s == nil {
		return nil, err
	}
	// code may be cut from a document, whose memory a kept key would pin.
	v.types.store(strings.Clone(code), s)
	return s, nil
}

// expression compiles a FHIRPath expression once.
func (v *Validator) expression(src string) (*fhirpath.Expression, error) {
	return cached(&v.exprs, src, func() (*fhirpath.Expression, error) { return fhirpath.Compile(src) })
}

// rejectsUnknownProfile reports whether a meta.profile url that is not
// loaded, or cannot be used, is an error rather than a warning.
func (v *Validator) rejectsUnknownProfile(url string) bool {
	if !v.rejectUnknownProfiles {
		return false
	}
	for _, d := range v.uncheckedProfileDomains {
		if strings.HasPrefix(url, d) {
			return false
		}
	}
	return true
}

// allowedExtension reports whether an extension url is in an allowed
// domain, for a modifier extension when modifier is set.
func (v *Validator) allowedExtension(url string, modifier bool) bool {
	domains := v.extDomains
	if modifier {
		domains = v.modDomains
	}
	for _, d := range domains {
		if strings.HasPrefix(url, d) {
			return true
		}
	}
	return false
}
