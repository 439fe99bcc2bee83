package validate

import (
	"strings"
	"sync"
	"testing"
)

var (
	sharedOnce sync.Once
	sharedV    *Validator
	sharedErr  error
)

// shared returns one validator for the rule tests; building it once keeps
// them fast.
func shared(t testing.TB) *Validator {
	t.Helper()
	sharedOnce.Do(func() { sharedV, sharedErr = New(Options{}) })
	if sharedErr != nil {
		t.Fatal(sharedErr)
	}
	return sharedV
}

const narrative = `"text":{"status":"generated","div":"<div xmlns=\"http://www.w3.org/1999/xhtml\">x</div>"}`

func TestRules(t *testing.T) {
	tests := []struct {
		name     string
		doc      string
		profiles []string
		severity string // "" means the resource must be valid
		path     string
		message  string
	}{
		{"minimal patient", `{"resourceType":"Patient","id":"p1","gender":"male","birthDate":"1970-01-01"}`, nil, "", "", ""},
		{"unknown element", `{"resourceType":"Patient","nickname":"x"}`, nil, "error", "Patient.nickname", "unknown element"},
		{"unknown resource type", `{"resourceType":"Patient2"}`, nil, "error", "", "unknown resource type"},
		{"missing resourceType", `{"id":"x"}`, nil, "error", "", "resourceType is missing"},
		{"repeating element not an array", `{"resourceType":"Patient","name":{"family":"x"}}`, nil, "error", "Patient.name", "must be an array"},
		{"single element as array", `{"resourceType":"Patient","gender":["male"]}`, nil, "error", "Patient.gender", "must not be an array"},
		{"empty array", `{"resourceType":"Patient","name":[]}`, nil, "error", "Patient.name", "must not be empty"},
		{"empty object", `{"resourceType":"Patient","maritalStatus":{}}`, nil, "error", "Patient.maritalStatus", "ele-1"},
		{"empty string", `{"resourceType":"Patient","gender":""}`, nil, "error", "Patient.gender", "empty strings"},
		{"boolean as string", `{"resourceType":"Patient","active":"true"}`, nil, "error", "Patient.active", "JSON boolean"},
		{"bad date", `{"resourceType":"Patient","birthDate":"1970-13-01"}`, nil, "error", "Patient.birthDate", "not a valid date"},
		{"no such day", `{"resourceType":"Patient","birthDate":"2021-02-30"}`, nil, "error", "Patient.birthDate", "no such calendar date"},
		{"bad id", `{"resourceType":"Patient","id":"a b"}`, nil, "error", "Patient.id", "not a valid id"},
		{"integer out of range", `{"resourceType":"Patient","multipleBirthInteger":3000000000}`, nil, "error", "Patient.multipleBirth.ofType(Integer)", "32-bit"},
		{"decimal overflows float64", `{"resourceType":"Observation","status":"final","code":{"text":"x"},"valueQuantity":{"value":1e400}}`, nil, "error", "Observation.value.ofType(Quantity).value", "outside the range"},
		{"negative decimal overflows float64", `{"resourceType":"Observation","status":"final","code":{"text":"x"},"valueQuantity":{"value":-1.5E+309}}`, nil, "error", "Observation.value.ofType(Quantity).value", "outside the range"},
		{"decimal underflows to zero", `{"resourceType":"Observation","status":"final","code":{"text":"x"},"valueQuantity":{"value":1e-400}}`, nil, "error", "Observation.value.ofType(Quantity).value", "outside the range"},
		{"decimal huge exponent digits", `{"resourceType":"Observation","status":"final","code":{"text":"x"},"valueQuantity":{"value":1e99999999999999999999}}`, nil, "error", "Observation.value.ofType(Quantity).value", "outside the range"},
		{"decimal zero with tiny exponent", `{"resourceType":"Observation","status":"final","code":{"text":"x"},"valueQuantity":{"value":0.000e-400}}`, nil, "", "", ""},
		{"decimal subnormal", `{"resourceType":"Observation","status":"final","code":{"text":"x"},"valueQuantity":{"value":4e-320}}`, nil, "", "", ""},
		{"decimal 19 significant digits", `{"resourceType":"Observation","status":"final","code":{"text":"x"},"valueQuantity":{"value":-1.000000000000000000E+245}}`, nil, "", "", ""},
		{"integer below 32-bit range", `{"resourceType":"Patient","multipleBirthInteger":-2147483649}`, nil, "error", "Patient.multipleBirth.ofType(Integer)", "32-bit"},
		{"integer at 32-bit minimum", `{"resourceType":"Patient","multipleBirthInteger":-2147483648}`, nil, "", "", ""},
		{"positiveInt above 32-bit range", `{"resourceType":"Observation","status":"final","code":{"text":"x"},"valueSampledData":{"origin":{"value":1},"period":1,"dimensions":2147483648,"data":"E"}}`, nil, "error", "Observation.value.ofType(SampledData).dimensions", "32-bit"},
		{"unsignedInt above 32-bit range", `{"resourceType":"ImagingStudy","status":"available","subject":{"reference":"Patient/1"},"numberOfSeries":2147483648}`, nil, "error", "ImagingStudy.numberOfSeries", "32-bit"},
		{"decimal as string", `{"resourceType":"Observation","status":"final","code":{"text":"x"},"valueQuantity":{"value":"1.5"}}`, nil, "error", "Observation.value.ofType(Quantity).value", "JSON number"},
		{"choice with two types", `{"resourceType":"Patient","deceasedBoolean":true,"deceasedDateTime":"2020"}`, nil, "error", "Patient.deceased", "more than one type"},
		{"choice with unknown type", `{"resourceType":"Patient","deceasedString":"x"}`, nil, "error", "Patient.deceasedString", "unknown element"},
		{"primitive extension aligned", `{"resourceType":"Patient","name":[{"given":["a",null],"_given":[null,{"extension":[{"url":"http://hl7.org/fhir/StructureDefinition/iso21090-EN-qualifier","valueCode":"BR"}]}]}]}`, nil, "", "", ""},
		{"primitive extension misaligned", `{"resourceType":"Patient","name":[{"given":["a","b"],"_given":[null]}]}`, nil, "error", "Patient.name[0]._given", "same number of items"},
		{"empty primitive extension object", `{"resourceType":"Patient","name":[{"family":"x","_family":{}}]}`, nil, "error", "Patient.name[0].family", "is empty"},
		{"empty primitive extension object without value", `{"resourceType":"Patient","name":[{"_family":{}}]}`, nil, "error", "Patient.name[0].family", "is empty"},
		{"resource id has no underscore form", `{"resourceType":"Patient","id":"p1","_id":{"id":"x"}}`, nil, "error", "Patient._id", "no \"_id\" form"},
		{"element id has no underscore form", `{"resourceType":"Patient","name":[{"id":"n","_id":{"id":"x"},"family":"x"}]}`, nil, "error", "Patient.name[0]._id", "no \"_id\" form"},
		{"extension url has no underscore form", `{"resourceType":"Patient","extension":[{"url":"http://example.org/x","_url":{"id":"u"},"valueString":"v"}]}`, nil, "error", "Patient.extension[0]._url", "no \"_url\" form"},
		{"empty item of primitive extension array", `{"resourceType":"Patient","name":[{"given":["a"],"_given":[{}]}]}`, nil, "error", "Patient.name[0].given[0]", "is empty"},
		{"primitive extension with id only", `{"resourceType":"Patient","name":[{"family":"x","_family":{"id":"f1"}}]}`, nil, "", "", ""},
		{"primitive extension array all null", `{"resourceType":"Patient","name":[{"given":["a"],"_given":[null]}]}`, nil, "error", "Patient.name[0]._given", "every item"},
		{"primitive extension array all null before values", `{"resourceType":"Patient","name":[{"_given":[null,null],"given":["a","b"]}]}`, nil, "error", "Patient.name[0]._given", "every item"},
		{"primitive null without extension", `{"resourceType":"Patient","name":[{"given":["a",null]}]}`, nil, "error", "Patient.name[0].given[1]", "null item with no extension"},
		{"primitive extension with value", `{"resourceType":"Patient","_gender":{"value":"x"}}`, nil, "error", "Patient.gender", "unknown element"},
		{"null in complex array", `{"resourceType":"Patient","name":[null]}`, nil, "error", "Patient.name[0]", "null is not allowed"},
		{"null primitive item with a null extension item", `{"resourceType":"Patient","name":[{"given":["a",null],"_given":[null,null]}]}`, nil, "error", "Patient.name[0].given[1]", "null item with no extension"},
		{"ext-1 both", `{"resourceType":"Patient","extension":[{"url":"http://hl7.org/fhir/StructureDefinition/patient-birthPlace","valueAddress":{"city":"x"},"extension":[{"url":"a","valueString":"b"}]}]}`, nil, "error", "Patient.extension[0]", "ext-1"},
		{"unknown third-party extension", `{"resourceType":"Patient","extension":[{"url":"http://acme.test/x","valueString":"b"}]}`, nil, "error", "Patient.extension[0]", "not defined"},
		{"modifier extension in extension", `{"resourceType":"Patient","extension":[{"url":"http://hl7.org/fhir/StructureDefinition/capabilitystatement-prohibited","valueBoolean":true}]}`, nil, "error", "Patient.extension[0]", "modifier extension"},
		{"extension value type", `{"resourceType":"Patient","extension":[{"url":"http://hl7.org/fhir/StructureDefinition/patient-birthPlace","valueString":"x"}]}`, nil, "error", "Patient.extension[0].valueString", "unknown element"},
		{"required binding", `{"resourceType":"Patient","gender":"tall"}`, nil, "error", "Patient.gender", "not in value set"},
		{"extensible binding", `{"resourceType":"Patient","maritalStatus":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/v3-MaritalStatus","code":"nope"}]}}`, nil, "error", "Patient.maritalStatus.coding[0].code", "not defined in code system"},
		{"code system without code", `{"resourceType":"Patient","maritalStatus":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/v3-MaritalStatus","code":"M"}]}}`, nil, "", "", ""},
		{"external code syntax", `{"resourceType":"Observation","status":"final","code":{"coding":[{"system":"http://loinc.org","code":"8867-5"}]}}`, nil, "error", "Observation.code.coding[0].code", "not a valid LOINC code"},
		{"external code not verified", `{"resourceType":"Observation","status":"final","code":{"coding":[{"system":"http://loinc.org","code":"8867-4"}]}}`, nil, "information", "Observation.code.coding[0].code", "cannot be verified offline"},
		{"invariant", `{"resourceType":"Patient","contact":[{"gender":"male"}]}`, nil, "error", "Patient.contact[0]", "pat-1"},
		{"narrative script", `{"resourceType":"Patient","text":{"status":"generated","div":"<div xmlns=\"http://www.w3.org/1999/xhtml\"><script>x</script></div>"}}`, nil, "error", "Patient.text.div", "not allowed"},
		{"narrative event attribute", `{"resourceType":"Patient","text":{"status":"generated","div":"<div xmlns=\"http://www.w3.org/1999/xhtml\" onclick=\"x\">a</div>"}}`, nil, "error", "Patient.text.div", "onclick"},
		{"narrative ok", `{"resourceType":"Patient",` + narrative + `}`, nil, "", "", ""},
		{"reference type", `{"resourceType":"Patient","managingOrganization":{"reference":"Patient/1"}}`, nil, "error", "Patient.managingOrganization", "not allowed here"},
		{"contained reference missing", `{"resourceType":"Patient","managingOrganization":{"reference":"#org"}}`, nil, "error", "Patient.managingOrganization", "contained"},
		{"contained reference", `{"resourceType":"Patient","contained":[{"resourceType":"Organization","id":"org","name":"x"}],"managingOrganization":{"reference":"#org"}}`, nil, "", "", ""},
		{"contained resource without id", `{"resourceType":"Patient","contained":[{"resourceType":"Organization","name":"x"}]}`, nil, "error", "Patient", "dom-3"},
		{"contained resource without id referring to container", `{"resourceType":"Patient","id":"p","contained":[{"resourceType":"Patient","link":[{"other":{"reference":"#"},"type":"seealso"}]}]}`, nil, "", "", ""},
		{"contained resource with unreferenced id", `{"resourceType":"Patient","contained":[{"resourceType":"Organization","id":"org","name":"x"}]}`, nil, "error", "Patient", "dom-3"},
		{"contained resource checked", `{"resourceType":"Patient","contained":[{"resourceType":"Organization","id":"org","foo":1}],"managingOrganization":{"reference":"#org"}}`, nil, "error", "Patient.contained[0].foo", "unknown element"},
		{"bundle duplicate fullUrl", `{"resourceType":"Bundle","type":"collection","entry":[{"fullUrl":"urn:uuid:6f2b1c1e-2c1a-4d7e-9a55-000000000001","resource":{"resourceType":"Basic","code":{"text":"x"}}},{"fullUrl":"urn:uuid:6f2b1c1e-2c1a-4d7e-9a55-000000000001","resource":{"resourceType":"Basic","code":{"text":"y"}}}]}`, nil, "error", "Bundle.entry[1].fullUrl", "more than one entry"},
		{"collection unresolved uuid", `{"resourceType":"Bundle","type":"collection","entry":[{"fullUrl":"urn:uuid:6f2b1c1e-2c1a-4d7e-9a55-000000000001","resource":{"resourceType":"Observation","status":"final","code":{"text":"x"},"subject":{"reference":"urn:uuid:6f2b1c1e-2c1a-4d7e-9a55-000000000002"}}}]}`, nil, "warning", "Bundle.entry[0].resource.subject", "does not resolve"},
		{"transaction unresolved uuid", `{"resourceType":"Bundle","type":"transaction","entry":[{"fullUrl":"urn:uuid:6f2b1c1e-2c1a-4d7e-9a55-000000000001","resource":{"resourceType":"Observation","status":"final","code":{"text":"x"},"subject":{"reference":"urn:uuid:6f2b1c1e-2c1a-4d7e-9a55-000000000002"}},"request":{"method":"POST","url":"Observation"}}]}`, nil, "error", "Bundle.entry[0].resource.subject", "does not resolve"},
		{"fullUrl differs in host case", `{"resourceType":"Bundle","type":"collection","entry":[{"fullUrl":"http://x.test/fhir/Basic/1","resource":{"resourceType":"Basic","id":"1","code":{"text":"x"}}},{"fullUrl":"http://X.TEST/fhir/Basic/1","resource":{"resourceType":"Basic","id":"1","code":{"text":"y"}}}]}`, nil, "error", "Bundle.entry[1].fullUrl", "only in the letter case"},
		{"fullUrl differs in scheme case", `{"resourceType":"Bundle","type":"history","entry":[{"fullUrl":"http://x.test/fhir/Basic/1","resource":{"resourceType":"Basic","id":"1","code":{"text":"x"}},"request":{"method":"PUT","url":"Basic/1"},"response":{"status":"200"}},{"fullUrl":"HTTP://x.test/fhir/Basic/1","resource":{"resourceType":"Basic","id":"1","code":{"text":"y"}},"request":{"method":"PUT","url":"Basic/1"},"response":{"status":"200"}}]}`, nil, "error", "Bundle.entry[1].fullUrl", "only in the letter case"},
		{"fullUrl differs by trailing slash", `{"resourceType":"Bundle","type":"collection","entry":[{"fullUrl":"http://x.test/fhir/Basic/1","resource":{"resourceType":"Basic","id":"1","code":{"text":"x"}}},{"fullUrl":"http://x.test/fhir/Basic/1/","resource":{"resourceType":"Basic","id":"1","code":{"text":"y"}}}]}`, nil, "error", "Bundle.entry[1].fullUrl", "trailing slash"},
		{"fullUrl uuid differs in case", `{"resourceType":"Bundle","type":"collection","entry":[{"fullUrl":"urn:uuid:6f2b1c1e-2c1a-4d7e-9a55-00000000000a","resource":{"resourceType":"Basic","code":{"text":"x"}}},{"fullUrl":"urn:uuid:6F2B1C1E-2C1A-4D7E-9A55-00000000000A","resource":{"resourceType":"Basic","code":{"text":"y"}}}]}`, nil, "error", "Bundle.entry[1].fullUrl", "only in the letter case"},
		{"fullUrl path case is distinct", `{"resourceType":"Bundle","type":"collection","entry":[{"fullUrl":"http://x.test/fhir/Basic/a","resource":{"resourceType":"Basic","id":"a","code":{"text":"x"}}},{"fullUrl":"http://x.test/fhir/Basic/A","resource":{"resourceType":"Basic","id":"A","code":{"text":"y"}}}]}`, nil, "", "", ""},
		{"reference to fullUrl in other case", `{"resourceType":"Bundle","type":"collection","entry":[{"fullUrl":"urn:uuid:6f2b1c1e-2c1a-4d7e-9a55-000000000001","resource":{"resourceType":"Observation","status":"final","code":{"text":"x"},"subject":{"reference":"HTTP://X.test/fhir/Group/1"}}},{"fullUrl":"http://x.test/fhir/Group/1","resource":{"resourceType":"Group","id":"1","type":"person","actual":true}}]}`, nil, "error", "Bundle.entry[0].resource.subject", "only when the letter case"},
		{"relative reference to fullUrl with slash", `{"resourceType":"Bundle","type":"collection","entry":[{"fullUrl":"http://x.test/fhir/Observation/1","resource":{"resourceType":"Observation","id":"1","status":"final","code":{"text":"x"},"subject":{"reference":"Group/1"}}},{"fullUrl":"http://x.test/fhir/Group/1/","resource":{"resourceType":"Group","id":"1","type":"person","actual":true}}]}`, nil, "error", "Bundle.entry[0].resource.subject", "only when the letter case"},
		{"collection reference by base or by type and id", `{"resourceType":"Bundle","type":"collection","entry":[{"fullUrl":"http://x/fhir/Observation/1","resource":{"resourceType":"Observation","id":"1","status":"final","code":{"text":"x"},"subject":{"reference":"Patient/1"}}},{"fullUrl":"urn:uuid:6f2b1c1e-2c1a-4d7e-9a55-000000000001","resource":{"resourceType":"Patient","id":"1"}}]}`, nil, "warning", "Bundle.entry[0].resource.subject", "more than one entry"},
		{"message reference by fullUrl tail or by type and id", `{"resourceType":"Bundle","type":"message","entry":[{"fullUrl":"urn:uuid:6f2b1c1e-2c1a-4d7e-9a55-000000000002","resource":{"resourceType":"MessageHeader","id":"h","eventCoding":{"system":"http://example.org/events","code":"x"},"source":{"endpoint":"http://example.org/"},"focus":[{"reference":"Patient/1"}]}},{"fullUrl":"HTTP://x/fhir/Patient/1","resource":{"resourceType":"Patient"}},{"fullUrl":"urn:uuid:6f2b1c1e-2c1a-4d7e-9a55-000000000001","resource":{"resourceType":"Patient","id":"1"}}]}`, nil, "error", "Bundle.entry[0].resource.focus[0]", "more than one entry"},
		{"relative fullUrl", `{"resourceType":"Bundle","type":"collection","entry":[{"fullUrl":"Patient/1","resource":{"resourceType":"Patient","id":"1"}}]}`, nil, "error", "Bundle.entry[0].fullUrl", "absolute URL"},
		{"absolute-path fullUrl", `{"resourceType":"Bundle","type":"searchset","entry":[{"fullUrl":"/fhir/Patient/1","resource":{"resourceType":"Patient","id":"1"}}]}`, nil, "error", "Bundle.entry[0].fullUrl", "absolute URL"},
		{"network-path fullUrl", `{"resourceType":"Bundle","type":"collection","entry":[{"fullUrl":"//x.test/fhir/Patient/1","resource":{"resourceType":"Patient","id":"1"}}]}`, nil, "error", "Bundle.entry[0].fullUrl", "absolute URL"},
		{"urn:oid fullUrl", `{"resourceType":"Bundle","type":"collection","entry":[{"fullUrl":"urn:oid:1.2.840.10008.1","resource":{"resourceType":"Patient","id":"1"}}]}`, nil, "", "", ""},
		{"relative fullUrl shadowing the base reading", `{"resourceType":"Bundle","type":"message","entry":[{"fullUrl":"http://x/fhir/MessageHeader/h","resource":{"resourceType":"MessageHeader","id":"h","eventCoding":{"system":"http://example.org/events","code":"x"},"source":{"endpoint":"http://example.org/"},"focus":[{"reference":"Patient/1"}]}},{"fullUrl":"Patient/1","resource":{"resourceType":"Patient","id":"1"}},{"fullUrl":"http://x/fhir/Patient/1","resource":{"resourceType":"Patient","id":"1","active":false}}]}`, nil, "error", "Bundle.entry[0].resource.focus[0]", "more than one entry"},
		{"relative fullUrl not the target of a relative reference", `{"resourceType":"Bundle","type":"message","entry":[{"fullUrl":"http://x/fhir/MessageHeader/h","resource":{"resourceType":"MessageHeader","id":"h","eventCoding":{"system":"http://example.org/events","code":"x"},"source":{"endpoint":"http://example.org/"},"focus":[{"reference":"Patient/1"}]}},{"fullUrl":"Patient/1","resource":{"resourceType":"Patient","id":"1"}}]}`, nil, "error", "Bundle.entry[0].resource.focus[0]", "more than one entry"},
		{"unknown HL7 extension", `{"resourceType":"Patient","extension":[{"url":"http://hl7.org/fhir/StructureDefinition/zz-undefined","valueBoolean":true}]}`, nil, "warning", "Patient.extension[0]", "not defined in the loaded packages"},
		{"unknown HL7 modifier extension", `{"resourceType":"Patient","modifierExtension":[{"url":"http://hl7.org/fhir/StructureDefinition/zz-undefined","valueBoolean":true}]}`, nil, "error", "Patient.modifierExtension[0]", "not defined in the loaded packages"},
		{"bundle fullUrl mismatch", `{"resourceType":"Bundle","type":"collection","entry":[{"fullUrl":"http://x/fhir/Patient/1","resource":{"resourceType":"Patient","id":"2"}}]}`, nil, "error", "Bundle.entry[0].fullUrl", "does not match"},
		{"unknown required profile", `{"resourceType":"Patient"}`, []string{"http://example.org/no-such-profile"}, "error", "Patient", "not found"},
		{"unknown meta.profile", `{"resourceType":"Patient","meta":{"profile":["http://example.org/no-such-profile"]}}`, nil, "warning", "Patient.meta.profile[0]", "not found"},
		{"profile of another type", `{"resourceType":"Patient"}`, []string{"http://hl7.org/fhir/us/core/StructureDefinition/us-core-organization"}, "error", "Patient", "is for Organization"},
		{"profile cardinality", `{"resourceType":"Patient"}`, []string{"http://hl7.org/fhir/us/core/StructureDefinition/us-core-patient|3.1.1"}, "error", "Patient.identifier", "minimum required = 1"},
		{"profile slice fixed value", `{"resourceType":"Patient","identifier":[{"system":"x","value":"1"}],"name":[{"family":"x"}],"gender":"male","extension":[{"url":"http://hl7.org/fhir/us/core/StructureDefinition/us-core-race","extension":[{"url":"text","valueString":"x"},{"url":"detailed","valueString":"y"}]}]}`, []string{"http://hl7.org/fhir/us/core/StructureDefinition/us-core-patient|3.1.1"}, "error", "Patient.extension[0].extension[1].valueString", "unknown element"},
		{"profile pattern", `{"resourceType":"Observation","status":"final","category":[{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/observation-category","code":"laboratory"}]}],"code":{"coding":[{"system":"http://loinc.org","code":"8867-4"}]},"subject":{"reference":"Patient/1"},"effectiveDateTime":"2020","valueQuantity":{"value":60,"unit":"/min","system":"http://unitsofmeasure.org","code":"/min"}}`, []string{"http://hl7.org/fhir/StructureDefinition/heartrate"}, "error", "Observation.category", "slice VSCat"},
	}
	v := shared(t)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res, err := v.Validate([]byte(tc.doc), tc.profiles...)
			if err != nil {
				t.Fatal(err)
			}
			if tc.severity == "" {
				if !res.Valid() {
					t.Errorf("invalid: %s", firstErrors(res, 5))
				}
				return
			}
			if !hasIssue(res, tc.severity, tc.path, tc.message) {
				t.Errorf("no %s at %s containing %q; issues: %+v", tc.severity, tc.path, tc.message, res.Issues)
			}
		})
	}
}

// TestUnknownProfileSeverity checks that a meta.profile the validator has
// not loaded is a warning by default, an error with
// Options.RejectUnknownProfiles, and a warning again under an
// Options.UncheckedProfileDomains prefix.
func TestUnknownProfileSeverity(t *testing.T) {
	const doc = `{"resourceType":"Patient","meta":{"profile":["http://hl7.org/fhir/StructureDefinition/Patient","http://acme.test/StructureDefinition/trusted-patient"]}}`
	const path = "Patient.meta.profile[1]"
	rejecting, err := New(Options{RejectUnknownProfiles: true})
	if err != nil {
		t.Fatal(err)
	}
	exempting, err := New(Options{RejectUnknownProfiles: true, UncheckedProfileDomains: []string{"http://acme.test/StructureDefinition/"}})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		v        *Validator
		severity string
		message  string
		valid    bool
	}{
		{"default warns", shared(t), "warning", "http://acme.test/StructureDefinition/trusted-patient not found", true},
		{"reject option errs", rejecting, "error", "http://acme.test/StructureDefinition/trusted-patient not found", false},
		{"unchecked domain warns", exempting, "warning", "http://acme.test/StructureDefinition/trusted-patient not found", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res, err := tc.v.Validate([]byte(doc))
			if err != nil {
				t.Fatal(err)
			}
			if !hasIssue(res, tc.severity, path, tc.message) {
				t.Errorf("no %s at %s containing %q; issues: %+v", tc.severity, path, tc.message, res.Issues)
			}
			if res.Valid() != tc.valid {
				t.Errorf("Valid() = %v, want %v", res.Valid(), tc.valid)
			}
			checked, err := tc.v.Check([]byte(doc))
			if err != nil {
				t.Fatal(err)
			}
			if checked.Valid() != tc.valid {
				t.Errorf("Check: Valid() = %v, want %v", checked.Valid(), tc.valid)
			}
		})
	}
}

func TestHostileInput(t *testing.T) {
	v := shared(t)
	deep := `{"resourceType":"Patient","extension":[` + strings.Repeat(`{"url":"http://hl7.org/fhir/x","extension":[`, 40) + strings.Repeat(`]}`, 40) + `]}`
	wide := `{"resourceType":"Patient","name":[` + strings.Repeat(`{"family":"x"},`, 60000) + `{"family":"x"}]}`
	tests := []struct{ name, doc, message string }{
		{"not JSON", `{"resourceType":`, "invalid JSON"},
		{"not an object", `[1,2]`, "not an object"},
		{"duplicate member", `{"resourceType":"Patient","id":"a","id":"b"}`, "invalid JSON"},
		{"trailing data", `{"resourceType":"Patient"} {}`, "trailing data"},
		{"too deep", deep, "nesting deeper"},
		{"array too long", wide, "more than 50000 items"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res, err := v.Validate([]byte(tc.doc))
			if err != nil {
				t.Fatal(err)
			}
			if res.Valid() || len(res.Issues) == 0 || !strings.Contains(res.Issues[0].Diagnostics, tc.message) {
				t.Errorf("issues = %+v, want a fatal issue containing %q", res.Issues, tc.message)
			}
		})
	}
}

func TestIssuesCarryNoInstanceValues(t *testing.T) {
	v := shared(t)
	secret := "SECRET-VALUE-12345"
	doc := `{"resourceType":"Patient","id":"` + secret + ` x","gender":"` + secret + `","birthDate":"` + secret + `","extension":[{"url":"http://acme.test/` + secret + `","valueString":"x"}]}`
	res, err := v.Validate([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	if res.Valid() {
		t.Fatal("document with invalid values validated")
	}
	for _, is := range res.Issues {
		if strings.Contains(is.Diagnostics, secret) && !strings.Contains(is.Diagnostics, "acme.test") {
			t.Errorf("issue echoes an instance value: %s", is.Diagnostics)
		}
	}
}

func TestValidatorConcurrent(t *testing.T) {
	v := shared(t)
	doc := []byte(`{"resourceType":"Patient","gender":"tall"}`)
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 20 {
				res, err := v.Validate(doc)
				if err != nil || res.Valid() {
					t.Error("concurrent validation lost an error")
					return
				}
			}
		}()
	}
	wg.Wait()
}
