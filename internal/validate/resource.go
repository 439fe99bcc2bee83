package validate

import (
	"slices"

	"github.com/gatehouse-health/gatehouse/internal/fhirpath"
	"github.com/gatehouse-health/gatehouse/internal/fhirpkg"
	"github.com/gatehouse-health/gatehouse/internal/outcome"
)

// resource validates a resource object found at path: against its core
// definition, or against the profiles meta.profile and the caller name.
// from is the package whose definition placed the resource here (nil for
// the top-level resource), used to resolve the profiles it names.
func (r *run) resource(n *jnode, path string, fp *fhirpath.Node, required []string, from *fhirpkg.Package) {
	if n.kind != kindObject {
		r.errorf(outcome.CodeStructure, path, "a resource must be a JSON object")
		return
	}
	if r.nesting >= maxNesting {
		r.nestingCapped++
		r.errorf(outcome.CodeTooCostly, path, "resources nested deeper than %d levels are not validated", maxNesting)
		return
	}
	// The clean-up below runs without defers, which took about 650
	// instructions per minimal Patient in a callgrind profile (an estimate).
	// checkResource contains the early returns, so every path that does not
	// panic reaches it. A panic ends the run, and release resets the stacks.
	r.nesting++
	base := r.resourceBase(n, path)
	if base == nil {
		r.nesting--
		return
	}
	if path == "" {
		path = base.typ
	}
	framesMark := r.frames.Mark()
	frame := r.frames.One()
	// A resource starts multi-pass only inside a multi-pass resource.
	// r.multiPass does not fit here, because it returns true outside any
	// resource and would make every frame multi-pass.
	parentMultiPass := len(r.resources) > 0 && r.resources[len(r.resources)-1].multiPass
	*frame = resourceFrame{node: n, path: path, contained: r.inContained(path), multiPass: parentMultiPass}
	r.resources = append(r.resources, frame)
	profilesMark := r.profileLists.Mark()

	r.checkResource(n, base, path, fp, required, from, frame)

	r.profileLists.Release(profilesMark)
	r.resources[len(r.resources)-1] = nil
	r.resources = r.resources[:len(r.resources)-1]
	r.frames.Release(framesMark)
	r.nesting--
}

// checkResource validates resource n of type base, after resource has
// pushed its frame.
func (r *run) checkResource(n *jnode, base *structure, path string, fp *fhirpath.Node, required []string, from *fhirpkg.Package, frame *resourceFrame) {
	issuesBefore := len(r.issues)
	profiles := r.withGlobalProfiles(r.profilesOf(n, base, path, required, from), base, path)
	frame.multiPass = frame.multiPass || len(profiles) > 1
	if r.startEntryCheck(n, frame, profiles, from) {
		return
	}
	if ec := r.storedEntryCheck(n, path, fp, frame, profiles, issuesBefore); ec != nil {
		r.reusedEntryChecks++
		r.merge(ec.issues)
		return
	}
	if base.typ == "Bundle" {
		r.pushBundle(n, path, fp, profiles)
		defer r.popBundle()
	}
	switch base.typ {
	case "QuestionnaireResponse":
		r.questionnaireResponse(n, path)
	case "StructureDefinition":
		r.structureDefinition(n, path)
	case "ValueSet":
		r.valueSetParameters(n, path)
	}
	if len(profiles) == 0 {
		r.against(n, base, path, fp)
		return
	}
	for _, p := range profiles {
		r.against(n, p, path, fp)
	}
}

// resourceBase checks resourceType and returns the core definition of the
// resource's type, or nil after reporting why there is none.
func (r *run) resourceBase(n *jnode, path string) *structure {
	rtNode := n.prop("resourceType")
	if rtNode == nil || rtNode.kind != kindString {
		r.errorf(outcome.CodeStructure, path, "resourceType is missing or not a string")
		return nil
	}
	base, err := r.v.typeStructure(rtNode.text)
	if err != nil {
		r.errorf(outcome.CodeException, path, "definition of %s unusable: %v", rtNode.text, err)
		return nil
	}
	if base == nil || base.kind != "resource" || base.abstract {
		r.errorf(outcome.CodeStructure, path, "unknown resource type; resourceType must name a concrete FHIR R4 resource")
		return nil
	}
	return base
}

// profilesOf resolves the profiles a resource must conform to: those of
// meta.profile and those required by the caller or by the definition that
// placed it. An unknown meta.profile is a warning, because the sender may
// declare profiles the receiver does not have, unless
// Options.RejectUnknownProfiles makes it an error. An unknown required
// profile is an error. The list starts in the run's chunks, with room for
// a few profiles, and the caller gives it back (see resource).
func (r *run) profilesOf(n *jnode, base *structure, path string, required []string, from *fhirpkg.Package) []*structure {
	out := r.profileLists.Take(4)[:0]
	// profile is the index in meta.profile of url, or -1 for a required
	// profile; the location is built only for an issue.
	add := func(url string, profile int, mandatory bool) {
		s, err := r.v.structureAt(url, from)
		if err == nil && s != nil && s.typ == base.typ {
			if s.kind == "resource" && !slices.Contains(out, s) {
				out = append(out, s)
			}
			return
		}
		at := path
		if profile >= 0 {
			at = indexed(path+".meta.profile", profile)
		}
		switch {
		case err != nil && mandatory:
			r.errorf(outcome.CodeException, at, "profile %s unusable: %v", url, err)
		case err != nil && r.v.rejectsUnknownProfile(url):
			r.errorf(outcome.CodeNotSupported, at, "profile %s unusable, so the resource cannot be checked against the profile it declares: %v", url, err)
		case err != nil:
			r.warnf(outcome.CodeNotSupported, at, "profile %s unusable, so the resource was not checked against it: %v", url, err)
		case s == nil && mandatory:
			r.errorf(outcome.CodeNotFound, at, "profile %s not found", url)
		case s == nil && r.v.rejectsUnknownProfile(url):
			r.errorf(outcome.CodeNotSupported, at, "profile %s not found, so the resource cannot be checked against the profile it declares; remove it from meta.profile or ask the receiver to load it", url)
		case s == nil:
			r.warnf(outcome.CodeNotFound, at, "profile %s not found; the resource was not checked against it", url)
		default:
			r.errorf(outcome.CodeInvalid, at, "profile %s is for %s, not %s", url, s.typ, base.typ)
		}
	}
	if meta := n.prop("meta"); meta != nil {
		if list := meta.prop("profile"); list != nil && list.kind == kindArray {
			for i, p := range list.items {
				if p.kind == kindString {
					add(p.text, i, false)
				}
			}
		}
	}
	for _, url := range required {
		add(url, -1, true)
	}
	return out
}

// against validates resource n against one definition of its type.
func (r *run) against(n *jnode, s *structure, path string, fp *fhirpath.Node) {
	at := r.rootLocation(path)
	r.members(n, s.root, at, fp, true)
	r.constraints(s.root, at, fp)
}

// resourceAnyOf validates a resource that must conform to at least one of
// several profiles (an element whose type lists more than one profile).
// The issues of the first profile it conforms to are kept, or, when it
// conforms to none, those of the profile with the fewest errors. Profiles
// it certainly does not conform to are validated only in that last case.
func (r *run) resourceAnyOf(n *jnode, path string, fp *fhirpath.Node, profiles []string, from *fhirpkg.Package) {
	if len(profiles) <= 1 {
		r.resource(n, path, fp, profiles, from)
		return
	}
	results := make([][]outcome.Issue, len(profiles))
	validated := make([]bool, len(profiles))
	for i, p := range profiles {
		if r.provenNonConformant(n, p, from) {
			continue
		}
		results[i] = r.sandbox(func() { r.resource(n, path, fp, []string{p}, from) })
		validated[i] = true
		if countErrors(results[i]) == 0 {
			r.merge(results[i])
			return
		}
	}
	var best []outcome.Issue
	for i, p := range profiles {
		if !validated[i] {
			results[i] = r.sandbox(func() { r.resource(n, path, fp, []string{p}, from) })
		}
		if i == 0 || countErrors(results[i]) < countErrors(best) {
			best = results[i]
		}
	}
	r.merge(best)
}

// inContained reports whether path is inside a contained resource.
func (r *run) inContained(path string) bool {
	for i := len(r.resources) - 1; i >= 0; i-- {
		if len(path) > len(r.resources[i].path) {
			rest := path[len(r.resources[i].path):]
			return len(rest) > 10 && rest[:10] == ".contained"
		}
	}
	return false
}
