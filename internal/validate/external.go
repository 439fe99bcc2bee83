package validate

import "regexp"

// externalSystem is a code system no package enumerates, with the syntax
// its codes follow.
type externalSystem struct {
	name  string
	re    *regexp.Regexp
	check func(string) bool // a check digit, where the system has one

	// invalidMessage and unverifiedMessage are the diagnostics for a code
	// of this system, built once because they name only the system.
	invalidMessage, unverifiedMessage string
}

func (e externalSystem) valid(code string) bool {
	return e.re.MatchString(code) && (e.check == nil || e.check(code))
}

func syntax(name, re string, check func(string) bool) externalSystem {
	return externalSystem{
		name: name, re: regexp.MustCompile(`^(?:` + re + `)$`), check: check,
		invalidMessage:    "code is not a valid " + name + " code",
		unverifiedMessage: name + " codes cannot be verified offline; the syntax is valid",
	}
}

var (
	cpt     = syntax("CPT", `[0-9]{4}[0-9A-Z]`, nil)
	hcpcs   = syntax("HCPCS", `[A-Z][0-9]{4}|[0-9]{4}[0-9A-Z]`, nil)
	icd10cm = syntax("ICD-10-CM", `[A-Z][0-9][0-9A-Z](\.?[0-9A-Z]{1,4})?`, nil)
	icd9cm  = syntax("ICD-9-CM", `([0-9]{3}|V[0-9]{2}|E[0-9]{3})(\.?[0-9]{1,2})?|[0-9]{2}(\.?[0-9]{1,2})?`, nil)
	nubc    = syntax("NUBC", `[0-9A-Z]{1,4}`, nil)
	x12     = syntax("X12", `[0-9A-Z]{1,30}`, nil)
)

// externalSystems are code systems used in payer exchange whose content no package carries, keyed by canonical URL. Their codes
// are checked for syntax only.
var externalSystems = map[string]externalSystem{
	"http://www.ama-assn.org/go/cpt":                                                       cpt,
	"http://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets":                              hcpcs,
	"https://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets":                             hcpcs,
	"http://hl7.org/fhir/sid/icd-10-cm":                                                    icd10cm,
	"http://hl7.org/fhir/sid/icd-10":                                                       icd10cm,
	"http://www.cms.gov/Medicare/Coding/ICD10":                                             syntax("ICD-10-PCS", `[0-9A-HJ-NP-Z]{7}`, nil),
	"http://www.cms.gov/Medicare/Coding/ICD10PCS":                                          syntax("ICD-10-PCS", `[0-9A-HJ-NP-Z]{7}`, nil),
	"http://hl7.org/fhir/sid/icd-10-pcs":                                                   syntax("ICD-10-PCS", `[0-9A-HJ-NP-Z]{7}`, nil),
	"http://hl7.org/fhir/sid/icd-9-cm":                                                     icd9cm,
	"http://terminology.hl7.org/CodeSystem/icd9cm":                                         icd9cm,
	"http://loinc.org":                                                                     syntax("LOINC", `[0-9]{1,7}-[0-9]|LA[0-9]{1,8}-[0-9]|LP[0-9]{1,8}-[0-9]|LG[0-9]{1,8}-[0-9]`, loincCheckDigit),
	"http://snomed.info/sct":                                                               syntax("SNOMED CT", `[1-9][0-9]{5,17}`, verhoeff),
	"http://www.nlm.nih.gov/research/umls/rxnorm":                                          syntax("RxNorm", `[0-9]{1,10}`, nil),
	"http://hl7.org/fhir/sid/ndc":                                                          syntax("NDC", `[0-9]{4,5}-[0-9]{3,4}(-[0-9]{1,2})?|[0-9]{9,11}`, nil),
	"http://hl7.org/fhir/sid/cvx":                                                          syntax("CVX", `[0-9]{1,3}`, nil),
	"http://www.ada.org/cdt":                                                               syntax("CDT", `D[0-9]{4}`, nil),
	"http://nucc.org/provider-taxonomy":                                                    syntax("NUCC provider taxonomy", `[0-9]{3}[0-9A-Z]{6}X`, nil),
	"http://unitsofmeasure.org":                                                            syntax("UCUM", `[!-~]+`, nil),
	"urn:ietf:bcp:47":                                                                      syntax("BCP 47 language tag", `[a-zA-Z]{2,8}(-[a-zA-Z0-9]{1,8})*`, nil),
	"urn:ietf:bcp:13":                                                                      syntax("MIME type", `[a-zA-Z0-9!#$&^_.+-]+/[a-zA-Z0-9!#$&^_.+-]+( *; *[a-zA-Z0-9-]+=[^;]+)*`, nil),
	"urn:iso:std:iso:3166":                                                                 syntax("ISO 3166 country", `[A-Z]{2,3}|[0-9]{3}`, nil),
	"urn:iso:std:iso:3166:-2":                                                              syntax("ISO 3166-2 subdivision", `[A-Z]{2}-[0-9A-Z]{1,3}`, nil),
	"http://unstats.un.org/unsd/methods/m49/m49.htm":                                       syntax("UN M49 region", `[0-9]{3}`, nil),
	"urn:iso:std:iso:4217":                                                                 syntax("ISO 4217 currency", `[A-Z]{3}`, nil),
	"https://www.nubc.org/CodeSystem/TypeOfBill":                                           nubc,
	"https://www.nubc.org/CodeSystem/RevenueCodes":                                         nubc,
	"https://www.nubc.org/revenue-code":                                                    nubc,
	"https://www.nubc.org/CodeSystem/PriorityTypeOfAdmitOrVisit":                           nubc,
	"https://www.nubc.org/CodeSystem/PatDischargeStatus":                                   nubc,
	"https://www.nubc.org/CodeSystem/PointOfOrigin":                                        nubc,
	"https://codesystem.x12.org/005010/1365":                                               x12,
	"https://codesystem.x12.org/005010/1321":                                               x12,
	"https://codesystem.x12.org/005010/1136":                                               x12,
	"https://codesystem.x12.org/005010/901":                                                x12,
	"https://codesystem.x12.org/005010/889":                                                x12,
	"https://codesystem.x12.org/005010/756":                                                x12,
	"https://codesystem.x12.org/005010/755":                                                x12,
	"https://codesystem.x12.org/005010/1322":                                               x12,
	"https://codesystem.x12.org/005010/1338":                                               x12,
	"https://codesystem.x12.org/external/886":                                              x12,
	"https://x12.org/codes/claim-adjustment-reason-codes":                                  x12,
	"https://x12.org/codes/remittance-advice-remark-codes":                                 x12,
	"https://www.cms.gov/Medicare/Coding/place-of-service-codes/Place_of_Service_Code_Set": syntax("place of service", `[0-9]{2}`, nil),
	"https://www.cms.gov/Medicare/Medicare-Fee-for-Service-Payment/AcuteInpatientPPS/MS-DRG-Classifications-and-Software": syntax("MS-DRG", `[0-9]{3}`, nil),
}

// loincCheckDigit verifies the mod-10 check digit after the hyphen of a
// LOINC code. LOINC computes it with the Luhn method over the digits
// before the hyphen.
func loincCheckDigit(code string) bool {
	dash := len(code) - 2
	body, check := code[:dash], code[dash+1]
	digits := []byte{}
	for i := 0; i < len(body); i++ {
		if body[i] >= '0' && body[i] <= '9' {
			digits = append(digits, body[i]-'0')
		}
	}
	if len(body) > 0 && (body[0] < '0' || body[0] > '9') {
		return true // LA, LP and LG parts use other rules
	}
	sum := 0
	for i := len(digits) - 1; i >= 0; i-- {
		d := int(digits[i])
		if (len(digits)-1-i)%2 == 0 {
			d *= 2
			if d > 9 {
				d -= 9
			}
		}
		sum += d
	}
	return byte((10-sum%10)%10) == check-'0'
}

// Verhoeff tables, for the check digit of SNOMED CT identifiers.
var (
	verhoeffD = [10][10]int{
		{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}, {1, 2, 3, 4, 0, 6, 7, 8, 9, 5},
		{2, 3, 4, 0, 1, 7, 8, 9, 5, 6}, {3, 4, 0, 1, 2, 8, 9, 5, 6, 7},
		{4, 0, 1, 2, 3, 9, 5, 6, 7, 8}, {5, 9, 8, 7, 6, 0, 4, 3, 2, 1},
		{6, 5, 9, 8, 7, 1, 0, 4, 3, 2}, {7, 6, 5, 9, 8, 2, 1, 0, 4, 3},
		{8, 7, 6, 5, 9, 3, 2, 1, 0, 4}, {9, 8, 7, 6, 5, 4, 3, 2, 1, 0},
	}
	verhoeffP = [8][10]int{
		{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}, {1, 5, 7, 6, 2, 8, 3, 0, 9, 4},
		{5, 8, 0, 3, 7, 9, 6, 1, 4, 2}, {8, 9, 1, 6, 0, 4, 3, 5, 2, 7},
		{9, 4, 5, 3, 1, 2, 6, 8, 7, 0}, {4, 2, 8, 6, 5, 7, 3, 9, 0, 1},
		{2, 7, 9, 3, 8, 0, 6, 4, 1, 5}, {7, 0, 4, 6, 9, 1, 3, 2, 5, 8},
	}
)

// verhoeff validates the Verhoeff check digit, the last digit of a SNOMED
// CT identifier.
func verhoeff(code string) bool {
	c := 0
	for i := 0; i < len(code); i++ {
		digit := int(code[len(code)-1-i] - '0')
		c = verhoeffD[c][verhoeffP[i%8][digit]]
	}
	return c == 0
}
