package loadgen

import (
	"fmt"
	"math/rand/v2"
	"time"
)

// BuiltinRequests is how many distinct requests Builtin generates.
const BuiltinRequests = 500

// builtinPatients is how many distinct patients the built-in requests
// name, about 20 claims each as in the Synthea sample.
const builtinPatients = 25

// weighted is a value with its relative frequency.
type weighted[T any] struct {
	weight int
	value  T
}

// The tables below are counts from the claims of the 200-patient Synthea
// R4 sample (smart-on-fhir/generated-sample-data, R4/SYNTHEA): 3,931
// claims with 8,760 items.

// itemCounts is how many claims had n items.
var itemCounts = []weighted[int]{
	{1214, 1}, {1443, 2}, {821, 3}, {227, 4}, {105, 5}, {84, 6}, {36, 7}, {1, 8},
}

// itemCodes are the 15 most frequent item codes, which make up 74% of the
// items.
var itemCodes = []weighted[itemData]{
	{2006, itemData{systemSNOMED, "185349003", "Encounter for check up (procedure)"}},
	{1392, itemData{systemCVX, "140", "Influenza, seasonal, injectable, preservative free"}},
	{787, itemData{systemSNOMED, "185345009", "Encounter for symptom"}},
	{699, itemData{systemSNOMED, "428191000124101", "Documentation of current medications"}},
	{244, itemData{systemSNOMED, "50849002", "Emergency room admission (procedure)"}},
	{226, itemData{systemSNOMED, "698314001", "Consultation for treatment"}},
	{215, itemData{systemSNOMED, "185347001", "Encounter for problem"}},
	{186, itemData{systemSNOMED, "444814009", "Viral sinusitis (disorder)"}},
	{138, itemData{systemCVX, "113", "Td (adult) preservative free"}},
	{121, itemData{systemCVX, "133", "Pneumococcal conjugate PCV 13"}},
	{113, itemData{systemSNOMED, "195662009", "Acute viral pharyngitis (disorder)"}},
	{102, itemData{systemCVX, "20", "DTaP"}},
	{92, itemData{systemSNOMED, "73761001", "Colonoscopy"}},
	{91, itemData{systemCVX, "10", "IPV"}},
	{85, itemData{systemCVX, "62", "HPV, quadrivalent"}},
}

// plans are the insurance plans of the insured claims.
var plans = []weighted[string]{
	{3122, "private"}, {423, "medicare"}, {305, "medicaid"}, {35, "dual_eligible"},
}

// claimTypes are the claim types after claimTypeOf: Synthea's 716
// pharmacy claims become professional.
var claimTypes = []weighted[string]{{3215, "institutional"}, {716, "professional"}}

var (
	givenNames  = []string{"Ava", "Ben", "Chloe", "Dev", "Elena", "Farid", "Grace", "Hiro", "Imani", "Jonas", "Kira", "Luis"}
	familyNames = []string{"Abbott", "Baptiste", "Castillo", "Dunn", "Eriksen", "Fofana", "Gallagher", "Huang", "Iyer", "Jablonski", "Kowalczyk"}
	cities      = []string{"Boston", "Worcester", "Springfield", "Lowell", "Cambridge", "Quincy"}
)

// Builtin generates n PAS request Templates (BuiltinRequests when n is
// zero or less) without any input, in the shape FromSynthea produces. Item
// counts, item codes, plans and claim types follow the Synthea sample's
// frequencies. The patients are made up. The same seed gives the same
// requests apart from the resource ids.
func Builtin(n int, seed uint64, now time.Time) ([]*Template, error) {
	if n <= 0 {
		n = BuiltinRequests
	}
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	patients := make([]patientData, builtinPatients)
	for i := range patients {
		patients[i] = builtinPatient(rng, i)
	}
	m := newMarkers()
	out := make([]*Template, 0, n)
	for i := range n {
		c := &claimData{
			name:      fmt.Sprintf("builtin#%d", i+1),
			claimType: pick(rng, claimTypes),
			plan:      pick(rng, plans),
			patient:   patients[rng.IntN(len(patients))],
			items:     builtinItems(rng),
		}
		t, err := buildTemplate(c, now, m)
		if err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, nil
}

func builtinPatient(rng *rand.Rand, i int) patientData {
	gender := "female"
	if i%2 == 1 {
		gender = "male"
	}
	birth := time.Date(1940, 1, 1, 0, 0, 0, 0, time.UTC).AddDate(0, 0, rng.IntN(75*365))
	return patientData{
		identifiers: []identifierJSON{{System: "urn:gatehouse:loadgen:patient", Value: fmt.Sprintf("P%05d", i+1)}},
		name: humanNameJSON{
			Use:    "official",
			Family: familyNames[rng.IntN(len(familyNames))],
			Given:  []string{givenNames[rng.IntN(len(givenNames))]},
		},
		gender:    gender,
		birthDate: birth.Format("2006-01-02"),
		address: []addressJSON{{
			Line:       []string{fmt.Sprintf("%d Main Street", 1+rng.IntN(900))},
			City:       cities[rng.IntN(len(cities))],
			State:      "MA",
			PostalCode: fmt.Sprintf("0%04d", 1000+rng.IntN(1800)),
			Country:    "US",
		}},
		telecom: []contactPointJSON{{System: "phone", Value: fmt.Sprintf("555-%03d-%04d", rng.IntN(1000), rng.IntN(10000)), Use: "home"}},
	}
}

// builtinItems draws the item count, then that many distinct codes.
func builtinItems(rng *rand.Rand) []itemData {
	n := pick(rng, itemCounts)
	items := make([]itemData, 0, n)
	seen := map[string]bool{}
	for len(items) < n {
		it := pick(rng, itemCodes)
		if seen[it.code] {
			continue
		}
		seen[it.code] = true
		items = append(items, it)
	}
	return items
}

// pick draws one value with probability proportional to its weight.
func pick[T any](rng *rand.Rand, table []weighted[T]) T {
	total := 0
	for _, w := range table {
		total += w.weight
	}
	r := rng.IntN(total)
	for _, w := range table {
		if r < w.weight {
			return w.value
		}
		r -= w.weight
	}
	panic("loadgen: pick: weights changed while drawing")
}
