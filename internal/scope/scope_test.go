package scope

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

func TestParseAccepts(t *testing.T) {
	tests := []struct {
		in        string
		typ       string
		perms     Perm
		operation string
		params    []Param
		canonical string
	}{
		{"system/Claim.rs", "Claim", Read | Search, "", nil, "system/Claim.rs"},
		{"system/Claim.read", "Claim", Read | Search, "", nil, "system/Claim.rs"},
		{"system/Claim.write", "Claim", Create | Update | Delete, "", nil, "system/Claim.cud"},
		{"system/Claim.*", "Claim", All, "", nil, "system/Claim.cruds"},
		{"system/Claim.cruds", "Claim", All, "", nil, "system/Claim.cruds"},
		{"system/Claim.c", "Claim", Create, "", nil, "system/Claim.c"},
		{"system/Claim.rd", "Claim", Read | Delete, "", nil, "system/Claim.rd"},
		{"system/Claim.$submit", "Claim", 0, "submit", nil, "system/Claim.$submit"},
		{"system/Claim.$inquire", "Claim", 0, "inquire", nil, "system/Claim.$inquire"},
		{"system/Patient.$member-match", "Patient", 0, "member-match", nil, "system/Patient.$member-match"},
		{"system/Observation.rs?category=laboratory", "Observation", Read | Search, "",
			[]Param{{"category", "laboratory"}}, "system/Observation.rs?category=laboratory"},
		{"system/Observation.s?status=final&category=laboratory", "Observation", Search, "",
			[]Param{{"category", "laboratory"}, {"status", "final"}}, "system/Observation.s?category=laboratory&status=final"},
		{"system/Observation.rs?category=http://terminology.hl7.org/CodeSystem/observation-category|laboratory", "Observation", Read | Search, "",
			[]Param{{"category", "http://terminology.hl7.org/CodeSystem/observation-category|laboratory"}},
			"system/Observation.rs?category=http://terminology.hl7.org/CodeSystem/observation-category|laboratory"},
		{"system/Observation.rs?_security=R", "Observation", Read | Search, "", []Param{{"_security", "R"}}, "system/Observation.rs?_security=R"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			sc, err := Parse(tt.in, Options{})
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if sc.Type != tt.typ || sc.Perms != tt.perms || sc.Operation != tt.operation {
				t.Errorf("got type %q perms %q operation %q", sc.Type, sc.Perms, sc.Operation)
			}
			if !slices.Equal(sc.Params, tt.params) {
				t.Errorf("params = %v, want %v", sc.Params, tt.params)
			}
			if got := sc.Canonical(); got != tt.canonical {
				t.Errorf("Canonical = %q, want %q", got, tt.canonical)
			}
			if sc.String() != tt.in {
				t.Errorf("String = %q, want the input", sc.String())
			}
		})
	}
}

func TestParseRejects(t *testing.T) {
	tests := []struct{ name, in string }{
		{"empty", ""},
		{"no context", "Claim.rs"},
		{"patient context", "patient/Claim.rs"},
		{"user context", "user/Claim.read"},
		{"context upper case", "System/Claim.rs"},
		{"double slash", "system//Claim.rs"},
		{"prefix before context", "xsystem/Claim.rs"},
		{"type lower case", "system/claim.rs"},
		{"unknown type", "system/Claimx.rs"},
		{"abstract type", "system/Resource.rs"},
		{"letters upper case", "system/Claim.RS"},
		{"v1 word capitalised", "system/Claim.Read"},
		{"letters out of order", "system/Claim.sr"},
		{"repeated letter", "system/Claim.rrs"},
		{"unknown letter", "system/Claim.rx"},
		{"trailing character", "system/Claim.rsx"},
		{"trailing slash", "system/Claim.rs/"},
		{"trailing dot", "system/Claim.rs."},
		{"double dot", "system/Claim..rs"},
		{"no permissions", "system/Claim."},
		{"no dot", "system/Claim"},
		{"mixed v1 and v2", "system/Claim.readrs"},
		{"v1 with v2 suffix", "system/Claim.reads"},
		{"empty restriction", "system/Claim.rs?"},
		{"empty value", "system/Observation.rs?category="},
		{"empty name", "system/Observation.rs?=laboratory"},
		{"no equals", "system/Observation.rs?category"},
		{"trailing ampersand", "system/Observation.rs?category=laboratory&"},
		{"repeated name", "system/Observation.rs?category=a&category=b"},
		{"comma list", "system/Observation.rs?category=a,b"},
		{"percent encoding", "system/Observation.rs?category=lab%20x"},
		{"second question mark", "system/Observation.rs?category=a?b"},
		{"modifier in name", "system/Observation.rs?category:not=a"},
		{"control parameter", "system/Observation.rs?_include=Observation:subject"},
		{"restriction on write", "system/Observation.cruds?category=laboratory"},
		{"restriction on v1", "system/Observation.read?category=laboratory"},
		{"wildcard not allowed", "system/*.rs"},
		{"unknown operation", "system/Patient.$everything"},
		{"operation on other type", "system/Patient.$submit"},
		{"operation case", "system/Claim.$Submit"},
		{"operation with letters", "system/Claim.$submit.rs"},
		{"openid", "openid"},
		{"launch", "launch/patient"},
		{"too long", "system/Observation.rs?code=" + strings.Repeat("a", MaxLength)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if sc, err := Parse(tt.in, Options{}); err == nil {
				t.Errorf("Parse(%q) = %+v, want an error", tt.in, sc)
			}
		})
	}
}

func TestParseWildcard(t *testing.T) {
	if _, err := Parse("system/*.rs", Options{}); !errors.Is(err, ErrWildcard) {
		t.Errorf("wildcard without permission: err = %v, want ErrWildcard", err)
	}
	sc, err := Parse("system/*.read", Options{AllowWildcard: true})
	if err != nil || sc.Type != Wildcard || sc.Perms != Read|Search {
		t.Errorf("allowed wildcard: %+v, %v", sc, err)
	}
	if _, err := Parse("system/*.$submit", Options{AllowWildcard: true}); err == nil {
		t.Error("wildcard operation grant accepted")
	}
}

// oc is the system of the FHIR R4 Observation category codes.
const oc = "http://terminology.hl7.org/CodeSystem/observation-category"

func TestCovers(t *testing.T) {
	tests := []struct {
		a, b string
		want bool
	}{
		{"system/Claim.read", "system/Claim.rs", true},
		{"system/Claim.rs", "system/Claim.read", true},
		{"system/Claim.rs", "system/Claim.r", true},
		{"system/Claim.r", "system/Claim.rs", false},
		{"system/Claim.*", "system/Claim.write", true},
		{"system/Claim.write", "system/Claim.cud", true},
		{"system/Claim.rs", "system/ClaimResponse.rs", false},
		{"system/*.rs", "system/Claim.rs", true},
		{"system/Claim.rs", "system/*.rs", false},
		{"system/Observation.rs", "system/Observation.rs?category=laboratory", true},
		{"system/Observation.rs?category=laboratory", "system/Observation.rs", false},
		{"system/Observation.rs?category=laboratory", "system/Observation.rs?category=vital-signs", false},
		{"system/Observation.rs?category=laboratory", "system/Observation.s?category=laboratory&status=final", true},
		{"system/Observation.rs?category=laboratory", "system/Observation.rs?category=" + oc + "|laboratory", true},
		{"system/Observation.rs?category=" + oc + "|laboratory", "system/Observation.rs?category=laboratory", false},
		{"system/Observation.rs?category=laboratory", "system/Observation.rs?category=|laboratory", true},
		{"system/Observation.rs?category=" + oc + "|", "system/Observation.rs?category=" + oc + "|laboratory", true},
		{"system/Observation.rs?category=" + oc + "|laboratory", "system/Observation.rs?category=" + oc + "|", false},
		{"system/Observation.rs?category=" + oc + "|", "system/Observation.rs?category=laboratory", false},
		{"system/Observation.rs?category=laboratory", "system/Observation.rs?category=http://example.org|laboratory&status=final", true},
		{"system/Patient.rs?family=smith", "system/Patient.rs?family=x|smith", false},
		{"system/*.rs?_tag=x", "system/Claim.rs?_tag=http://example.org|x", true},
		{"system/*.rs?_tag=x", "system/*.rs?_tag=http://example.org|x", true},
		{"system/*.rs?category=laboratory", "system/Observation.rs?category=" + oc + "|laboratory", true},
		{"system/*.rs?category=laboratory", "system/*.rs?category=" + oc + "|laboratory", false},
		{"system/Claim.$submit", "system/Claim.$submit", true},
		{"system/Claim.$submit", "system/Claim.$inquire", false},
		{"system/Claim.cruds", "system/Claim.$submit", false},
		{"system/*.cruds", "system/Claim.$submit", false},
		{"system/Claim.$submit", "system/Claim.c", false},
	}
	for _, tt := range tests {
		t.Run(tt.a+" covers "+tt.b, func(t *testing.T) {
			a := mustParse(t, tt.a)
			b := mustParse(t, tt.b)
			if got := a.Covers(b); got != tt.want {
				t.Errorf("Covers = %v, want %v", got, tt.want)
			}
		})
	}
}

func mustParse(t testing.TB, s string) Scope {
	t.Helper()
	sc, err := Parse(s, Options{AllowWildcard: true})
	if err != nil {
		t.Fatalf("Parse(%q): %v", s, err)
	}
	return sc
}

func mustSet(t testing.TB, s string) Set {
	t.Helper()
	set, err := ParseSet(strings.Fields(s), Options{AllowWildcard: true})
	if err != nil {
		t.Fatalf("ParseSet(%q): %v", s, err)
	}
	return set
}

func TestPermits(t *testing.T) {
	set := mustSet(t, "system/Claim.read system/Coverage.s system/Observation.rs?category=laboratory system/Claim.$submit")
	tests := []struct {
		name   string
		perm   Perm
		typ    string
		params []Param
		want   bool
	}{
		{"read claim", Read, "Claim", nil, true},
		{"search claim", Search, "Claim", nil, true},
		{"create claim", Create, "Claim", nil, false},
		{"read coverage", Read, "Coverage", nil, false},
		{"search coverage", Search, "Coverage", nil, true},
		{"read patient", Read, "Patient", nil, false},
		{"lab search", Search, "Observation", []Param{{"category", "laboratory"}, {"code", "x"}}, true},
		{"search without restriction", Search, "Observation", []Param{{"code", "x"}}, false},
		{"search other category", Search, "Observation", []Param{{"category", "vital-signs"}}, false},
		{"search category list", Search, "Observation", []Param{{"category", "laboratory,vital-signs"}}, false},
		{"search modified category", Search, "Observation", []Param{{"category:not", "laboratory"}}, false},
		{"read restricted type", Read, "Observation", []Param{{"category", "laboratory"}}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := set.Permits(tt.perm, tt.typ, tt.params); got != tt.want {
				t.Errorf("Permits = %v, want %v", got, tt.want)
			}
		})
	}
	if !set.PermitsOperation("Claim", "submit") || set.PermitsOperation("Claim", "inquire") {
		t.Error("PermitsOperation does not follow the operation grants")
	}
}

// TestPermitsToken checks that restrictions on token parameters are
// compared as tokens: a search passes when every alternative it lists
// matches only codings the restriction matches.
func TestPermitsToken(t *testing.T) {
	set := mustSet(t, "system/Observation.rs?category=laboratory system/Condition.rs?category="+oc+"|problem-list-item "+
		"system/DiagnosticReport.rs?code=http://loinc.org| system/Patient.rs?family=smith system/*.s?_tag=|x")
	tests := []struct {
		name   string
		typ    string
		params []Param
		want   bool
	}{
		{"bare restriction, system search", "Observation", []Param{{"category", oc + "|laboratory"}}, true},
		{"bare restriction, no-system search", "Observation", []Param{{"category", "|laboratory"}}, true},
		{"bare restriction, list within", "Observation", []Param{{"category", "laboratory," + oc + "|laboratory"}}, true},
		{"bare restriction, list with other code", "Observation", []Param{{"category", oc + "|laboratory,vital-signs"}}, false},
		{"bare restriction, any code of system", "Observation", []Param{{"category", oc + "|"}}, false},
		{"bare restriction, empty alternative", "Observation", []Param{{"category", "laboratory,"}}, false},
		{"bare restriction, escaped bar", "Observation", []Param{{"category", `x\|laboratory`}}, false},
		{"bare restriction, escaped dollar", "Observation", []Param{{"category", `labora\$tory`}}, false},
		{"system restriction, same", "Condition", []Param{{"category", oc + "|problem-list-item"}}, true},
		{"system restriction, bare code", "Condition", []Param{{"category", "problem-list-item"}}, false},
		{"system restriction, no system", "Condition", []Param{{"category", "|problem-list-item"}}, false},
		{"system restriction, other system", "Condition", []Param{{"category", "http://example.org|problem-list-item"}}, false},
		{"system restriction, second param satisfies", "Condition", []Param{{"category", "problem-list-item"}, {"category", oc + "|problem-list-item"}}, true},
		{"any-code restriction, one code", "DiagnosticReport", []Param{{"code", "http://loinc.org|1234-5"}}, true},
		{"any-code restriction, bare code", "DiagnosticReport", []Param{{"code", "1234-5"}}, false},
		{"string restriction, exact", "Patient", []Param{{"family", "smith"}}, true},
		{"string restriction, list of same", "Patient", []Param{{"family", "smith,smith"}}, false},
		{"string restriction, bar", "Patient", []Param{{"family", "|smith"}}, false},
		{"wildcard restriction, resource param", "Claim", []Param{{"_tag", "|x"}}, true},
		{"wildcard restriction, bare code", "Claim", []Param{{"_tag", "x"}}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := set.Permits(Search, tt.typ, tt.params); got != tt.want {
				t.Errorf("Permits(%s, %v) = %v, want %v", tt.typ, tt.params, got, tt.want)
			}
		})
	}
}

func TestPermitsWildcard(t *testing.T) {
	set := mustSet(t, "system/*.rs")
	if !set.Permits(Read, "Patient", nil) || set.Permits(Create, "Patient", nil) || set.PermitsOperation("Claim", "submit") {
		t.Error("wildcard scope permissions wrong")
	}
}

func TestIntersect(t *testing.T) {
	tests := []struct {
		name                  string
		requested, registered string
		want                  string
	}{
		{"exact", "system/Claim.rs", "system/Claim.rs", "system/Claim.rs"},
		{"v1 asked, v2 registered", "system/Claim.read", "system/Claim.rs", "system/Claim.read"},
		{"v2 asked, v1 registered", "system/Claim.rs", "system/Claim.read", "system/Claim.rs"},
		{"narrowed to registration", "system/Claim.*", "system/Claim.rs", "system/Claim.rs"},
		{"write narrowed", "system/Claim.write", "system/Claim.cu", "system/Claim.cu"},
		{"nothing in common", "system/Claim.write", "system/Claim.rs", ""},
		{"other type", "system/Patient.read", "system/Claim.read", ""},
		{"wildcard asked", "system/*.rs", "system/Claim.rs system/Coverage.read", "system/Claim.rs system/Coverage.rs"},
		{"wildcard registered", "system/Claim.rs", "system/*.read", "system/Claim.rs"},
		{"granular registered", "system/Observation.rs", "system/Observation.rs?category=laboratory", "system/Observation.rs?category=laboratory"},
		{"granular asked", "system/Observation.rs?category=laboratory", "system/Observation.read", "system/Observation.rs?category=laboratory"},
		{"granular conflict", "system/Observation.rs?category=vital-signs", "system/Observation.rs?category=laboratory", ""},
		{"granular merged", "system/Observation.rs?status=final", "system/Observation.rs?category=laboratory", "system/Observation.rs?category=laboratory&status=final"},
		{"token asked within registered", "system/Observation.rs?category=" + oc + "|laboratory", "system/Observation.rs?category=laboratory",
			"system/Observation.rs?category=" + oc + "|laboratory"},
		{"token registered within asked", "system/Observation.rs?category=laboratory", "system/Observation.rs?category=" + oc + "|laboratory",
			"system/Observation.rs?category=" + oc + "|laboratory"},
		{"token narrower kept with merge", "system/Observation.s?category=laboratory&status=final", "system/Observation.rs?category=" + oc + "|laboratory",
			"system/Observation.s?category=" + oc + "|laboratory&status=final"},
		{"token registered within asked system", "system/Observation.rs?category=" + oc + "|&status=final", "system/Observation.rs?category=" + oc + "|laboratory",
			"system/Observation.rs?category=" + oc + "|laboratory&status=final"},
		{"token neither within", "system/Observation.rs?category=" + oc + "|", "system/Observation.rs?category=laboratory", ""},
		{"token no system against system", "system/Observation.rs?category=|laboratory", "system/Observation.rs?category=" + oc + "|laboratory", ""},
		{"token other code", "system/Observation.rs?category=" + oc + "|vital-signs", "system/Observation.rs?category=laboratory", ""},
		{"string compared exactly", "system/Patient.rs?family=x|smith", "system/Patient.rs?family=smith", ""},
		{"wildcard registered token", "system/Observation.rs?category=" + oc + "|laboratory", "system/*.rs?category=laboratory",
			"system/Observation.rs?category=" + oc + "|laboratory"},
		{"wildcard asked token narrowed", "system/*.rs?category=laboratory", "system/Observation.rs?category=" + oc + "|laboratory",
			"system/Observation.rs?category=" + oc + "|laboratory"},
		{"operation", "system/Claim.$submit system/Claim.$inquire", "system/Claim.$submit", "system/Claim.$submit"},
		{"operation from permissions", "system/Claim.$submit", "system/Claim.cruds", ""},
		{"duplicates removed", "system/Claim.read system/Claim.rs system/Claim.r", "system/Claim.rs", "system/Claim.read"},
		{"narrower first", "system/Claim.r system/Claim.rs", "system/Claim.rs", "system/Claim.rs"},
		{"order kept", "system/Coverage.read system/Claim.read", "system/Claim.read system/Coverage.read", "system/Coverage.read system/Claim.read"},
		{"counting does not help", "system/Claim.r system/Claim.s system/Claim.c", "system/Claim.rs", "system/Claim.r system/Claim.s"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Intersect(mustSet(t, tt.requested), mustSet(t, tt.registered))
			if got.String() != tt.want {
				t.Errorf("Intersect = %q, want %q", got.String(), tt.want)
			}
		})
	}
}

// TestIntersectIsWithinBoth checks the defining property: whatever the
// intersection permits, both inputs permit.
func TestIntersectIsWithinBoth(t *testing.T) {
	requested := mustSet(t, "system/*.cruds system/Observation.rs?category=laboratory system/Claim.$submit")
	registered := mustSet(t, "system/Claim.rs system/Observation.rs?status=final system/Claim.$submit system/Coverage.write")
	for _, g := range Intersect(requested, registered).Scopes() {
		if !covered(requested, g) || !covered(registered, g) {
			t.Errorf("granted %s is not within both sets", g.Canonical())
		}
	}
}

// TestIntersectTokenNeverWider pairs scopes built from a set of category
// restrictions and tries a set of category searches on each pair. A search
// the intersection permits must be permitted by both scopes. A scope that
// Covers another must permit each search the other permits.
func TestIntersectTokenNeverWider(t *testing.T) {
	values := []string{"laboratory", "|laboratory", oc + "|laboratory", oc + "|", "http://example.org|laboratory",
		"vital-signs", oc + "|vital-signs", "a|b|c"}
	var scopes []string
	for _, typ := range []string{"Observation", "*"} {
		scopes = append(scopes, "system/"+typ+".rs")
		for _, v := range values {
			scopes = append(scopes, "system/"+typ+".rs?category="+v)
		}
	}
	searches := slices.Clone(values)
	searches = append(searches, "laboratory,"+oc+"|laboratory", oc+"|laboratory,vital-signs")
	for _, req := range scopes {
		for _, reg := range scopes {
			requested, registered := mustSet(t, req), mustSet(t, reg)
			granted := Intersect(requested, registered)
			for _, v := range searches {
				params := []Param{{"category", v}}
				if granted.Permits(Search, "Observation", params) &&
					(!requested.Permits(Search, "Observation", params) || !registered.Permits(Search, "Observation", params)) {
					t.Errorf("Intersect(%s, %s) = %s permits category=%s, which one of them does not", req, reg, granted, v)
				}
				if mustParse(t, reg).Covers(mustParse(t, req)) &&
					requested.Permits(Search, "Observation", params) && !registered.Permits(Search, "Observation", params) {
					t.Errorf("%s covers %s, but only the latter permits category=%s", reg, req, v)
				}
			}
		}
	}
}

func TestParseGrantedDropsInvalid(t *testing.T) {
	set := ParseGranted([]string{"system/Claim.rs", "patient/Claim.rs", "junk", "system/*.read"})
	if got := set.String(); got != "system/Claim.rs system/*.read" {
		t.Errorf("ParseGranted = %q", got)
	}
}

func TestParseSetNamesPosition(t *testing.T) {
	_, err := ParseSet([]string{"system/Claim.rs", "system/Claim.sr"}, Options{})
	if err == nil || !strings.Contains(err.Error(), "scope 1:") {
		t.Errorf("err = %v, want it to name scope 1", err)
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"system/Claim.rs", "system/Claim.read", "system/*.*", "system/Claim.$submit",
		"system/Observation.rs?category=laboratory&status=final", "patient/Observation.rs", "system/Claim.rs?",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		sc, err := Parse(s, Options{AllowWildcard: true})
		if err != nil {
			return
		}
		// The canonical form parses back to an equal scope.
		again, err := Parse(sc.Canonical(), Options{AllowWildcard: true})
		if err != nil {
			t.Fatalf("canonical form %q of %q does not parse: %v", sc.Canonical(), s, err)
		}
		if !again.Covers(sc) || !sc.Covers(again) || again.Canonical() != sc.Canonical() {
			t.Fatalf("canonical form of %q changed the scope", s)
		}
		if sc.Operation == "" && sc.Perms == 0 {
			t.Fatalf("%q parsed with no permission", s)
		}
	})
}
