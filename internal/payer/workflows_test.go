package payer

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-health/gatehouse/internal/corpustest"
	"github.com/gatehouse-health/gatehouse/internal/members"
	"github.com/gatehouse-health/gatehouse/internal/pas"
	"github.com/gatehouse-health/gatehouse/internal/storage/storagetest"
)

// searchIDs runs a ClaimResponse search as partner and returns the ids
// found.
func (ts *testService) searchIDs(t *testing.T, query, partner string) []string {
	t.Helper()
	r := ts.do(t, getAs(t, ts.url+"/ClaimResponse?"+query, partner))
	if r.status != http.StatusOK {
		t.Fatalf("search %q: status %d: %s", query, r.status, r.body)
	}
	var b struct {
		Type  string `json:"type"`
		Total int    `json:"total"`
		Entry []struct {
			Resource struct {
				ResourceType string `json:"resourceType"`
				ID           string `json:"id"`
			} `json:"resource"`
		} `json:"entry"`
	}
	if err := json.Unmarshal(r.body, &b); err != nil || b.Type != "searchset" || b.Total < len(b.Entry) {
		t.Fatalf("not a searchset (%v): %s", err, r.body)
	}
	ids := []string{}
	for _, e := range b.Entry {
		if e.Resource.ResourceType != "ClaimResponse" {
			t.Errorf("entry of type %q", e.Resource.ResourceType)
		}
		ids = append(ids, e.Resource.ID)
	}
	return ids
}

func TestClaimResponseSearch(t *testing.T) {
	storagetest.Run(t, func(t *testing.T, b storagetest.Backend) {
		clock := newTestClock()
		ts := newTestService(t, b, partnerOptions(Options{Now: clock.Now}))
		surgical := mustResponse(t, ts.post(t, "/Claim/$submit", fhirJSONType, surgicalBundle(t), PartnerHeader, partnerA))
		clock.Advance(24 * time.Hour) // 2026-03-02
		referral := mustResponse(t, ts.post(t, "/Claim/$submit", fhirJSONType, demoBundle(t, referral221), PartnerHeader, partnerA))
		clock.Advance(24 * time.Hour) // 2026-03-03: the surgical item is decided
		decided, err := ts.Decide(context.Background(), ItemDecision{PreAuthRef: surgical.PreAuthRef, Sequence: 1, Action: pas.CertifiedInTotal, By: "operator:test"})
		if err != nil {
			t.Fatal(err)
		}

		cases := []struct {
			name, query string
			want        []string
		}{
			{"all, newest first", "", []string{decided.ClaimResponseID, referral.ClaimResponse.ID}},
			{"identifier with system", "identifier=" + url.QueryEscape("http://example.org/PATIENT_EVENT_TRACE_NUMBER|16139462398"), []string{decided.ClaimResponseID}},
			{"identifier value only", "identifier=16139462398", []string{decided.ClaimResponseID}},
			{"identifier with another system", "identifier=" + url.QueryEscape("http://other|16139462398"), []string{}},
			{"patient reference", "patient=Patient/SubscriberExample", []string{decided.ClaimResponseID, referral.ClaimResponse.ID}},
			{"other patient", "patient=Patient/Nobody", []string{}},
			{"created on a day", "created=2026-03-02", []string{referral.ClaimResponse.ID}},
			{"created ge", "created=ge2026-03-03", []string{decided.ClaimResponseID}},
			{"created lt", "created=lt2026-03-03", []string{referral.ClaimResponse.ID}},
			{"created range", "created=ge2026-03-01&created=le2026-03-02", []string{referral.ClaimResponse.ID}},
			{"created ne month", "created=ne2026-03", []string{}},
			{"created instant gt", "created=gt" + url.QueryEscape("2026-03-02T09:00:00Z"), []string{decided.ClaimResponseID}},
			{"_count", "_count=1", []string{decided.ClaimResponseID}},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				got := ts.searchIDs(t, c.query, partnerA)
				if strings.Join(got, ",") != strings.Join(c.want, ",") {
					t.Errorf("ids %v, expected %v", got, c.want)
				}
			})
		}

		t.Run("paging links", func(t *testing.T) {
			var ids []string
			next := ts.url + "/ClaimResponse?patient=Patient/SubscriberExample&_count=1"
			for pages := 0; next != ""; pages++ {
				if pages == 3 {
					t.Fatalf("more than 2 pages: %v", ids)
				}
				page := searchPage(t, ts, next)
				if page.Total != 2 {
					t.Errorf("total %d, expected 2", page.Total)
				}
				ids = append(ids, page.ids...)
				next = page.links["next"]
			}
			if want := decided.ClaimResponseID + "," + referral.ClaimResponse.ID; strings.Join(ids, ",") != want {
				t.Errorf("ids over pages %v, expected %s", ids, want)
			}
		})
		t.Run("another partner sees nothing", func(t *testing.T) {
			if got := ts.searchIDs(t, "", "partner-b"); len(got) != 0 {
				t.Errorf("partner-b found %v", got)
			}
			r := ts.do(t, getAs(t, ts.url+"/ClaimResponse/"+decided.ClaimResponseID, "partner-b"))
			if r.status != http.StatusNotFound {
				t.Errorf("read by another partner: status %d", r.status)
			}
		})
		t.Run("read an earlier version", func(t *testing.T) {
			r := ts.do(t, getAs(t, ts.url+"/ClaimResponse/"+surgical.ClaimResponse.ID, partnerA))
			if r.status != http.StatusOK || !strings.Contains(string(r.body), `"A4"`) {
				t.Errorf("read: status %d: %s", r.status, r.body)
			}
		})
		for _, bad := range []string{"created=xx2026", "created=2026-13-40", "subject=Patient/1", "_count=-1", "identifier=sys%7C"} {
			t.Run("rejects "+bad, func(t *testing.T) {
				r := ts.do(t, getAs(t, ts.url+"/ClaimResponse?"+bad, partnerA))
				if r.status != http.StatusBadRequest {
					t.Errorf("status %d, expected 400: %s", r.status, r.body)
				}
			})
		}
	})
}

// searchResult is one page of a ClaimResponse search.
type searchResult struct {
	Total int
	ids   []string
	links map[string]string // URL by relation
}

func searchPage(t *testing.T, ts *testService, u string) searchResult {
	t.Helper()
	r := ts.do(t, getAs(t, u, partnerA))
	if r.status != http.StatusOK {
		t.Fatalf("search page: status %d: %s", r.status, r.body)
	}
	var b struct {
		Total int `json:"total"`
		Link  []struct {
			Relation string `json:"relation"`
			URL      string `json:"url"`
		} `json:"link"`
		Entry []struct {
			Resource struct {
				ID string `json:"id"`
			} `json:"resource"`
		} `json:"entry"`
	}
	if err := json.Unmarshal(r.body, &b); err != nil {
		t.Fatal(err)
	}
	res := searchResult{Total: b.Total, links: map[string]string{}}
	for _, l := range b.Link {
		res.links[l.Relation] = l.URL
	}
	for _, e := range b.Entry {
		res.ids = append(res.ids, e.Resource.ID)
	}
	return res
}

// addMember stores a member with one coverage period.
func addMember(t *testing.T, ts *testService, m members.Member, start, end string) {
	t.Helper()
	c := members.Coverage{ID: m.ID + "-1", Plan: "private", Payor: "private", Start: start, End: end}
	if err := ts.Members().Add(context.Background(), m, []members.Coverage{c}); err != nil {
		t.Fatal(err)
	}
}

// eligibilityDemographics are the family name and birth date of the
// members the eligibility tests store, which a request carries with the
// member id.
var eligibilityDemographics = map[string][2]string{
	"MACTIVE0001": {"Active", "1980-01-01"},
	"MLAPSED0001": {"Lapsed", "1970-01-01"},
}

func eligibilityRequest(memberID, servicedDate string) []byte {
	who, ok := eligibilityDemographics[memberID]
	if !ok {
		who = [2]string{"Nobody", "2000-01-01"}
	}
	return []byte(`{"resourceType":"CoverageEligibilityRequest","id":"req-1","status":"active","purpose":["validation"],
 "contained":[{"resourceType":"Patient","id":"p","identifier":[{"system":"` + DefaultMemberSystem + `","value":"` + memberID + `"}],
  "name":[{"family":"` + who[0] + `"}],"birthDate":"` + who[1] + `"}],
 "patient":{"reference":"#p"},"servicedDate":"` + servicedDate + `","created":"2026-03-01T09:00:00Z",
 "insurer":{"identifier":{"system":"http://hl7.org/fhir/sid/us-npi","value":"1234567893"}}}`)
}

func TestEligibility(t *testing.T) {
	storagetest.Run(t, func(t *testing.T, b storagetest.Backend) {
		ts := newTestService(t, b, Options{})
		addMember(t, ts, members.Member{ID: "MACTIVE0001", Family: "Active", Given: "Ann", BirthDate: "1980-01-01", Gender: "female"}, "2020-01-01", "")
		addMember(t, ts, members.Member{ID: "MLAPSED0001", Family: "Lapsed", Given: "Len", BirthDate: "1970-01-01", Gender: "male"}, "2015-01-01", "2019-12-31")

		type response struct {
			ResourceType string `json:"resourceType"`
			Outcome      string `json:"outcome"`
			Request      struct {
				Reference string `json:"reference"`
			} `json:"request"`
			Insurance []struct {
				Inforce  bool `json:"inforce"`
				Coverage struct {
					Reference string `json:"reference"`
				} `json:"coverage"`
			} `json:"insurance"`
		}
		cases := []struct {
			name, member, date string
			inforce            bool
		}{
			{"active coverage", "MACTIVE0001", "2026-03-01", true},
			{"lapsed coverage", "MLAPSED0001", "2026-03-01", false},
			{"lapsed member on a date it covered", "MLAPSED0001", "2018-06-01", true},
			{"active member before its start", "MACTIVE0001", "2019-12-31", false},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				r := ts.post(t, "/CoverageEligibilityRequest/$submit", fhirJSONType, eligibilityRequest(c.member, c.date), PartnerHeader, partnerA)
				if r.status != http.StatusOK {
					t.Fatalf("status %d: %s", r.status, r.body)
				}
				var resp response
				if err := json.Unmarshal(r.body, &resp); err != nil || resp.ResourceType != "CoverageEligibilityResponse" {
					t.Fatalf("not a CoverageEligibilityResponse: %s", r.body)
				}
				if resp.Outcome != "complete" || resp.Request.Reference != "CoverageEligibilityRequest/req-1" || len(resp.Insurance) != 1 {
					t.Fatalf("response %+v", resp)
				}
				if resp.Insurance[0].Inforce != c.inforce || resp.Insurance[0].Coverage.Reference != "Coverage/"+c.member+"-1" {
					t.Errorf("insurance %+v, expected inforce %v", resp.Insurance[0], c.inforce)
				}
			})
		}
		t.Run("unknown member", func(t *testing.T) {
			r := ts.post(t, "/CoverageEligibilityRequest/$submit", fhirJSONType, eligibilityRequest("MNOBODY0000", "2026-03-01"), PartnerHeader, partnerA)
			if r.status != http.StatusUnprocessableEntity || mustOutcome(t, r.body).Issue[0].Code != "business-rule" {
				t.Errorf("status %d: %s", r.status, r.body)
			}
		})
		t.Run("member found by coverage subscriberId in a Bundle", func(t *testing.T) {
			bundle := `{"resourceType":"Bundle","type":"collection","entry":[
 {"fullUrl":"urn:uuid:1","resource":{"resourceType":"CoverageEligibilityRequest","status":"active","purpose":["benefits"],
  "patient":{"reference":"Patient/x"},"created":"2026-03-01","insurer":{"display":"payer"},
  "insurance":[{"coverage":{"reference":"Coverage/c1"}}]}},
 {"fullUrl":"http://ehr.example/fhir/Coverage/c1","resource":{"resourceType":"Coverage","id":"c1","status":"active","subscriberId":"MACTIVE0001","beneficiary":{"reference":"Patient/x"},"payor":[{"display":"payer"}]}},
 {"fullUrl":"http://ehr.example/fhir/Patient/x","resource":{"resourceType":"Patient","id":"x","name":[{"family":"Active","given":["Ann"]}],"birthDate":"1980-01-01"}}]}`
			r := ts.post(t, "/CoverageEligibilityRequest/$submit", fhirJSONType, []byte(bundle), PartnerHeader, partnerA)
			if r.status != http.StatusOK || !strings.Contains(string(r.body), `"inforce":true`) {
				t.Errorf("status %d: %s", r.status, r.body)
			}
		})
		// A member id alone, or with demographics of someone else, gets
		// the same 422 as an unknown member.
		for name, patient := range map[string]string{
			"member id without demographics":     `{"resourceType":"Patient","id":"p","identifier":[{"system":"` + DefaultMemberSystem + `","value":"MACTIVE0001"}]}`,
			"member id with another birth date":  `{"resourceType":"Patient","id":"p","identifier":[{"system":"` + DefaultMemberSystem + `","value":"MACTIVE0001"}],"name":[{"family":"Active"}],"birthDate":"1980-01-02"}`,
			"member id with another family name": `{"resourceType":"Patient","id":"p","identifier":[{"system":"` + DefaultMemberSystem + `","value":"MACTIVE0001"}],"name":[{"family":"Lapsed"}],"birthDate":"1980-01-01"}`,
		} {
			t.Run(name, func(t *testing.T) {
				body := `{"resourceType":"CoverageEligibilityRequest","status":"active","purpose":["validation"],"contained":[` + patient + `],
 "patient":{"reference":"#p"},"created":"2026-03-01","insurer":{"display":"payer"}}`
				r := ts.post(t, "/CoverageEligibilityRequest/$submit", fhirJSONType, []byte(body), PartnerHeader, partnerA)
				if r.status != http.StatusUnprocessableEntity || mustOutcome(t, r.body).Issue[0].Code != "business-rule" || strings.Contains(string(r.body), "Coverage/") {
					t.Errorf("status %d: %s", r.status, r.body)
				}
			})
		}
		t.Run("demographics without a member id", func(t *testing.T) {
			body := `{"resourceType":"CoverageEligibilityRequest","status":"active","purpose":["discovery"],"contained":[
 {"resourceType":"Patient","id":"p","name":[{"family":"Active","given":["Ann"]}],"gender":"female","birthDate":"1980-01-01"}],
 "patient":{"reference":"#p"},"created":"2026-03-01","insurer":{"display":"payer"}}`
			r := ts.post(t, "/CoverageEligibilityRequest/$submit", fhirJSONType, []byte(body), PartnerHeader, partnerA)
			if r.status != http.StatusOK || !strings.Contains(string(r.body), `"Coverage/MACTIVE0001-1"`) {
				t.Errorf("status %d: %s", r.status, r.body)
			}
		})
		t.Run("invalid purpose", func(t *testing.T) {
			body := strings.Replace(string(eligibilityRequest("MACTIVE0001", "2026-03-01")), `"validation"`, `"everything"`, 1)
			r := ts.post(t, "/CoverageEligibilityRequest/$submit", fhirJSONType, []byte(body))
			if r.status != http.StatusBadRequest {
				t.Errorf("status %d: %s", r.status, r.body)
			}
		})
	})
}

// memberMatchInput returns the HRex example input, changed by edit. The
// example's Consent ended in January 2022, so its period is moved to the
// year of fixedClock.
func memberMatchInput(t *testing.T, edit func(p map[string]any)) []byte {
	t.Helper()
	var p map[string]any
	if err := json.Unmarshal(readFile(t, corpustest.File(t, "davinci-hrex/examples/parameters-member-match-in.json")), &p); err != nil {
		t.Fatal(err)
	}
	provision := parameterResource(p, "Consent")["provision"].(map[string]any)
	provision["period"] = map[string]any{"start": "2026-01-01", "end": "2026-12-31"}
	edit(p)
	b, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func parameterResource(p map[string]any, name string) map[string]any {
	for _, param := range p["parameter"].([]any) {
		pm := param.(map[string]any)
		if pm["name"] == name {
			return pm["resource"].(map[string]any)
		}
	}
	return nil
}

func TestMemberMatch(t *testing.T) {
	storagetest.Run(t, func(t *testing.T, b storagetest.Backend) {
		ts := newTestService(t, b, Options{})
		// Patricia Person of the HRex example is a member; two other members
		// share every demographic.
		addMember(t, ts, members.Member{ID: "MPERSON0001", Family: "Person", Given: "Patricia", BirthDate: "1974-12-25", Gender: "female"}, "2011-05-23", "")
		addMember(t, ts, members.Member{ID: "MTWIN000001", Family: "Twin", Given: "Alex", BirthDate: "1990-05-01", Gender: "male"}, "2015-01-01", "")
		addMember(t, ts, members.Member{ID: "MTWIN000002", Family: "Twin", Given: "Alex", BirthDate: "1990-05-01", Gender: "male"}, "2015-01-01", "")

		asTwin := func(p map[string]any) {
			pat := parameterResource(p, "MemberPatient")
			pat["name"] = []any{map[string]any{"family": "Twin", "given": []any{"Alex"}}}
			pat["birthDate"], pat["gender"] = "1990-05-01", "male"
		}
		cases := []struct {
			name   string
			edit   func(p map[string]any)
			status int
			member string
		}{
			{"demographics of the HRex example", func(map[string]any) {}, http.StatusOK, "MPERSON0001"},
			{"subscriberId and demographics", func(p map[string]any) {
				parameterResource(p, "CoverageToMatch")["subscriberId"] = "MPERSON0001"
			}, http.StatusOK, "MPERSON0001"},
			// Another member's id is matched as an unknown one is, by the
			// demographics, so the response does not reveal that the id
			// exists.
			{"subscriberId of another member", func(p map[string]any) {
				parameterResource(p, "CoverageToMatch")["subscriberId"] = "MTWIN000001"
			}, http.StatusOK, "MPERSON0001"},
			{"unknown subscriberId", func(p map[string]any) {
				parameterResource(p, "CoverageToMatch")["subscriberId"] = "MNOBODY0001"
			}, http.StatusOK, "MPERSON0001"},
			{"subscriberId of another member without a given name", func(p map[string]any) {
				parameterResource(p, "CoverageToMatch")["subscriberId"] = "MTWIN000001"
				parameterResource(p, "MemberPatient")["name"] = []any{map[string]any{"family": "Person"}}
			}, http.StatusUnprocessableEntity, ""},
			{"no such member", func(p map[string]any) {
				parameterResource(p, "MemberPatient")["birthDate"] = "1974-12-24"
			}, http.StatusUnprocessableEntity, ""},
			{"consent naming the patient by identifier", func(p map[string]any) {
				parameterResource(p, "Consent")["patient"] = map[string]any{"identifier": map[string]any{"system": "http://example.org/old-payer/identifiers/member", "value": "55678"}}
			}, http.StatusOK, "MPERSON0001"},
			{"consent in force until the end of today", func(p map[string]any) {
				parameterResource(p, "Consent")["provision"].(map[string]any)["period"] = map[string]any{"start": "2026-03-01", "end": "2026-03-01"}
			}, http.StatusOK, "MPERSON0001"},
			{"ambiguous demographics", asTwin, http.StatusUnprocessableEntity, ""},
			{"ambiguity resolved by subscriberId", func(p map[string]any) {
				asTwin(p)
				parameterResource(p, "CoverageToMatch")["subscriberId"] = "MTWIN000002"
			}, http.StatusOK, "MTWIN000002"},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				r := ts.post(t, "/Patient/$member-match", fhirJSONType, memberMatchInput(t, c.edit), PartnerHeader, partnerA)
				if r.status != c.status {
					t.Fatalf("status %d, expected %d: %s", r.status, c.status, r.body)
				}
				if c.status != http.StatusOK {
					if oo := mustOutcome(t, r.body); oo.Issue[0].Code != "processing" || strings.Contains(string(r.body), "MTWIN") {
						t.Errorf("refusal %s", r.body)
					}
					return
				}
				var out struct {
					Parameter []struct {
						Name            string `json:"name"`
						ValueIdentifier struct {
							System, Value string
							Type          struct{ Coding []struct{ Code string } }
						} `json:"valueIdentifier"`
					} `json:"parameter"`
				}
				if err := json.Unmarshal(r.body, &out); err != nil || len(out.Parameter) != 1 || out.Parameter[0].Name != "MemberIdentifier" {
					t.Fatalf("output %s", r.body)
				}
				id := out.Parameter[0].ValueIdentifier
				if id.Value != c.member || id.System != DefaultMemberSystem || len(id.Type.Coding) != 1 || id.Type.Coding[0].Code != "MB" {
					t.Errorf("MemberIdentifier %+v, expected %s", id, c.member)
				}
			})
		}

		t.Run("consent must permit", func(t *testing.T) {
			body := memberMatchInput(t, func(p map[string]any) {
				parameterResource(p, "Consent")["status"] = "inactive"
			})
			r := ts.post(t, "/Patient/$member-match", fhirJSONType, body)
			if r.status != http.StatusUnprocessableEntity || mustOutcome(t, r.body).Issue[0].Code != "business-rule" {
				t.Errorf("status %d: %s", r.status, r.body)
			}
		})
		// The Consent must be the member's and in force: one that has
		// ended, has not begun, or names another Patient permits nothing.
		for _, c := range []struct {
			name string
			edit func(consent map[string]any)
		}{
			{"consent ended", func(c map[string]any) {
				c["provision"].(map[string]any)["period"] = map[string]any{"start": "2022-01-01", "end": "2022-01-31"}
			}},
			{"consent not yet begun", func(c map[string]any) {
				c["provision"].(map[string]any)["period"] = map[string]any{"start": "2026-06-01", "end": "2026-12-31"}
			}},
			{"consent ended earlier on the day", func(c map[string]any) {
				c["provision"].(map[string]any)["period"] = map[string]any{"start": "2026-01-01", "end": "2026-03-01T08:00:00Z"}
			}},
			{"consent without period", func(c map[string]any) { delete(c["provision"].(map[string]any), "period") }},
			{"consent without provision", func(c map[string]any) { delete(c, "provision") }},
			{"consent of another patient", func(c map[string]any) {
				c["patient"] = map[string]any{"reference": "Patient/2"}
			}},
			{"consent by another patient's identifier", func(c map[string]any) {
				c["patient"] = map[string]any{"identifier": map[string]any{"system": "http://example.org/old-payer/identifiers/member", "value": "55679"}}
			}},
		} {
			t.Run(c.name, func(t *testing.T) {
				body := memberMatchInput(t, func(p map[string]any) { c.edit(parameterResource(p, "Consent")) })
				r := ts.post(t, "/Patient/$member-match", fhirJSONType, body, PartnerHeader, partnerA)
				if r.status != http.StatusUnprocessableEntity {
					t.Fatalf("status %d, expected 422: %s", r.status, r.body)
				}
				if oo := mustOutcome(t, r.body); oo.Issue[0].Code != "business-rule" || strings.Contains(string(r.body), "MPERSON") {
					t.Errorf("refusal %s", r.body)
				}
			})
		}
		t.Run("missing consent", func(t *testing.T) {
			body := memberMatchInput(t, func(p map[string]any) {
				params := p["parameter"].([]any)
				p["parameter"] = params[:len(params)-1]
			})
			if r := ts.post(t, "/Patient/$member-match", fhirJSONType, body); r.status != http.StatusBadRequest {
				t.Errorf("status %d: %s", r.status, r.body)
			}
		})
	})
}
