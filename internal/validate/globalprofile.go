package validate

import (
	"encoding/json"
	"slices"

	"github.com/gatehouse-health/gatehouse/internal/fhirpkg"
	"github.com/gatehouse-health/gatehouse/internal/outcome"
)

// globalProfile is an ImplementationGuide.global entry: every resource of
// the type must conform to the profile.
type globalProfile struct {
	url string
	ig  *fhirpkg.Resource
}

// globalProfiles indexes the global profiles of the ImplementationGuide
// resources in the loaded packages by resource type, once.
func (v *Validator) globalProfiles() map[string][]globalProfile {
	v.globalsOnce.Do(func() {
		v.globals = map[string][]globalProfile{}
		for _, ig := range v.set.All("ImplementationGuide") {
			var raw struct {
				Global []struct {
					Type    string `json:"type"`
					Profile string `json:"profile"`
				} `json:"global"`
			}
			if json.Unmarshal(ig.JSON, &raw) != nil {
				continue
			}
			for _, g := range raw.Global {
				v.globals[g.Type] = append(v.globals[g.Type], globalProfile{url: g.Profile, ig: ig})
			}
		}
	})
	return v.globals
}

// withGlobalProfiles adds the global profiles of the resource's type to
// the profiles it is validated against. A global profile that cannot be
// found or compiled is an error, as a required profile is.
func (r *run) withGlobalProfiles(profiles []*structure, base *structure, path string) []*structure {
	for _, g := range r.v.globalProfiles()[base.typ] {
		s, err := r.v.structureAt(g.url, g.ig.Package())
		switch {
		case err != nil:
			r.errorf(outcome.CodeException, path, "global profile %s of %s unusable: %v", g.url, g.ig.URL, err)
			continue
		case s == nil:
			r.errorf(outcome.CodeNotFound, path, "global profile %s of %s not found", g.url, g.ig.URL)
			continue
		case s.typ != base.typ:
			continue
		}
		if !slices.Contains(profiles, s) {
			profiles = append(profiles, s)
		}
	}
	return profiles
}
