package fhirpath

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

func evalString(t *testing.T, expr string, input ...Value) (Collection, error) {
	t.Helper()
	e, err := Compile(expr)
	if err != nil {
		t.Fatalf("Compile(%q): %v", expr, err)
	}
	return e.Evaluate(EvalContext{}, input...)
}

const primitiveExtensionsJSON = `{
  "resourceType": "Patient",
  "id": "p1",
  "name": [{"given": ["Ann", null, "Bo"], "_given": [null, {"id": "g2", "extension": [{"url": "http://example.org/x", "valueString": "absent"}]}, {"id": "g3"}]}],
  "birthDate": "1970-01-01",
  "_birthDate": {"extension": [{"url": "http://hl7.org/fhir/StructureDefinition/patient-birthTime", "valueDateTime": "1970-01-01T10:00:00Z"}]},
  "multipleBirthInteger": 2,
  "deceasedBoolean": false
}`

// checkSingleStrings evaluates each expression without input and compares
// its single result, as a string, with want. An empty want means an empty
// result, or a result of more than one item.
func checkSingleStrings(t *testing.T, cases []struct{ expr, want string }) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.expr, func(t *testing.T) {
			got, err := evalString(t, c.expr)
			if err != nil {
				t.Fatal(err)
			}
			s := ""
			if len(got) == 1 {
				s, _ = toString(got[0])
			}
			if s != c.want {
				t.Errorf("got %q, want %q", s, c.want)
			}
		})
	}
}

func TestParseJSONPrimitives(t *testing.T) {
	p, err := ParseJSON([]byte(primitiveExtensionsJSON))
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct{ expr, want string }{
		{"Patient.name.given.count()", "System.Integer\t3\n"},
		{"Patient.name.given[1].hasValue()", "System.Boolean\tfalse\n"},
		{"Patient.name.given[1].id", "FHIR.string\tg2\n"},
		{"Patient.name.given[2].id", "FHIR.string\tg3\n"},
		{"Patient.name.given.where(hasValue()).join(',')", "System.String\tAnn,Bo\n"},
		{"Patient.birthDate.extension('http://hl7.org/fhir/StructureDefinition/patient-birthTime').value", "FHIR.dateTime\t1970-01-01T10:00:00Z\n"},
		{"Patient.multipleBirth is integer", "System.Boolean\ttrue\n"},
		{"Patient.deceased.is(boolean)", "System.Boolean\ttrue\n"},
		{"Patient.id.type().name", "System.String\tid\n"},
	}
	for _, c := range cases {
		t.Run(c.expr, func(t *testing.T) {
			got, err := evalString(t, c.expr, p)
			if err != nil {
				t.Fatal(err)
			}
			if s := FormatText(got); s != c.want {
				t.Errorf("got %q, want %q", s, c.want)
			}
		})
	}
}

func TestParseJSONRejects(t *testing.T) {
	cases := map[string]string{
		"duplicate name":   `{"resourceType":"Patient","id":"a","id":"b"}`,
		"trailing data":    `{"resourceType":"Patient"} {}`,
		"unknown resource": `{"resourceType":"Nope"}`,
		"not an object":    `[1,2]`,
		"primitive object": `{"resourceType":"Patient","birthDate":{"x":1}}`,
		"complex scalar":   `{"resourceType":"Patient","name":"Ann"}`,
		"deep nesting":     `{"resourceType":"Patient","extension":[` + strings.Repeat(`{"extension":[`, 70) + strings.Repeat(`]}`, 70) + `]}`,
	}
	for name, doc := range cases {
		t.Run(name, func(t *testing.T) {
			if _, err := ParseJSON([]byte(doc)); err == nil {
				t.Error("accepted")
			} else if !strings.HasPrefix(err.Error(), "fhirpath: ") {
				t.Errorf("error %q lacks the fhirpath: prefix", err)
			}
		})
	}
}

func TestDecimalPrecision(t *testing.T) {
	cases := []struct{ expr, want string }{
		{"1.10", "System.Decimal\t1.10\n"},
		{"1.0 = 1", "System.Boolean\ttrue\n"},
		{"1.10 + 2.205", "System.Decimal\t3.305\n"},
		{"0.1 + 0.2 = 0.3", "System.Boolean\ttrue\n"},
		{"10 / 4", "System.Decimal\t2.5\n"},
		{"1 / 3", "System.Decimal\t0.33333333\n"},
		{"12345678901234567890.123 * 10", "System.Decimal\t123456789012345678901.230\n"},
	}
	for _, c := range cases {
		t.Run(c.expr, func(t *testing.T) {
			got, err := evalString(t, c.expr)
			if err != nil {
				t.Fatal(err)
			}
			if s := FormatText(got); s != c.want {
				t.Errorf("got %q, want %q", s, c.want)
			}
		})
	}
}

func TestQuantityUnits(t *testing.T) {
	cases := []struct{ expr, want string }{
		{"1 'kg' = 1000 'g'", "true"},
		{"2.54 'cm' = 1 '[in_i]'", "true"},
		{"1 '[lb_av]' > 450 'g'", "true"},
		{"1 'h' = 60 'min'", "true"},
		{"1 day = 24 'h'", "true"},
		{"1 year = 12 months", "true"},
		{"1 year = 1 'a'", ""},
		{"1 year ~ 1 'a'", "true"},
		{"1 'mL' = 1 'cm3'", "true"},
		{"1 'kg' = 1 'm'", "false"},
		{"5 'mg/dL' = 50 'mg/L'", "true"},
		{"(3 'kg' + 500 'g').toString()", "3.5 'kg'"},
	}
	checkSingleStrings(t, cases)
}

func TestDateTimePrecision(t *testing.T) {
	cases := []struct{ expr, want string }{
		{"@2012-04 = @2012-04-15", ""},
		{"@2012-04 < @2012-05-15", "true"},
		{"@2012-01-31 + 1 month", "2012-02-29"},
		{"@2012-04-15T10:00:00+02:00 = @2012-04-15T08:00:00Z", "true"},
		{"@T10:30 < @T10:30:00", ""},
		{"@2014-01-01T08.lowBoundary(17)", "2014-01-01T08:00:00.000+14:00"},
	}
	checkSingleStrings(t, cases)
}

const bundleJSON = `{
  "resourceType": "Bundle", "type": "collection",
  "entry": [
    {"fullUrl": "http://example.org/fhir/Patient/1", "resource": {"resourceType": "Patient", "id": "1",
      "contained": [{"resourceType": "Organization", "id": "org", "name": "Inner"}],
      "managingOrganization": {"reference": "#org"},
      "generalPractitioner": [{"reference": "Practitioner/2"}, {"reference": "urn:uuid:0b2a"}, {"reference": "Practitioner/missing"}]}},
    {"fullUrl": "http://example.org/fhir/Practitioner/2", "resource": {"resourceType": "Practitioner", "id": "2"}},
    {"fullUrl": "urn:uuid:0b2a", "resource": {"resourceType": "Organization", "id": "o3", "name": "Outer"}}
  ]
}`

func TestResolve(t *testing.T) {
	b, err := ParseJSON([]byte(bundleJSON))
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct{ expr, want string }{
		{"Bundle.entry[0].resource.managingOrganization.resolve().name", "FHIR.string\tInner\n"},
		{"Bundle.entry[0].resource.generalPractitioner.resolve().id", "FHIR.id\t2\nFHIR.id\to3\n"},
		{"Bundle.entry[0].resource.generalPractitioner.resolve().is(Practitioner)", ""},
		{"Bundle.entry[0].resource.generalPractitioner[0].resolve() is Practitioner", "System.Boolean\ttrue\n"},
	}
	for _, c := range cases {
		t.Run(c.expr, func(t *testing.T) {
			got, err := evalString(t, c.expr, b)
			if c.want == "" {
				if err == nil {
					t.Errorf("got %q, want an error", FormatText(got))
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if s := FormatText(got); s != c.want {
				t.Errorf("got %q, want %q", s, c.want)
			}
		})
	}
}

// bigBundle builds a Bundle of n patients with names and identifiers.
func bigBundle(n int) []byte {
	var b strings.Builder
	b.WriteString(`{"resourceType":"Bundle","type":"collection","entry":[`)
	for i := 0; i < n; i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"fullUrl":"urn:uuid:%d","resource":{"resourceType":"Patient","id":"p%d","active":true,`+
			`"identifier":[{"system":"http://example.org/mrn","value":"%d"}],`+
			`"name":[{"family":"Family%d","given":["A","B"]}],"birthDate":"1980-01-%02d"}}`, i, i, i, i, i%28+1)
	}
	b.WriteString(`]}`)
	return []byte(b.String())
}

func TestEvaluationLimits(t *testing.T) {
	bundle, err := ParseJSON(bigBundle(2000))
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, expr string
		ec         EvalContext
	}{
		{"descendants of descendants", "descendants().descendants().count()", EvalContext{MaxSteps: 200_000}},
		{"endless repeat", "1.repeat($this + 1)", EvalContext{}},
		{"step cap", "descendants().count()", EvalContext{MaxSteps: 1000}},
		{"collection cap", "descendants()", EvalContext{MaxCollection: 100}},
		{"growing repeat", "(1|2|3).repeat($this | ($this + 1)).count()", EvalContext{MaxSteps: 100_000}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := MustCompile(c.expr)
			_, err := e.Evaluate(c.ec, bundle)
			if !errors.Is(err, ErrLimit) {
				t.Errorf("got %v, want ErrLimit", err)
			}
		})
	}
}

// TestStringGrowthLimits builds strings that double or multiply at each
// step. Steps were charged per item, not per byte, so a few dozen steps
// built a string of gigabytes and the process ran out of memory.
func TestStringGrowthLimits(t *testing.T) {
	tenA := "'aaaaaaaaaa'"
	cases := []struct{ name, expr string }{
		{"doubling plus", "'a'.repeat($this + $this)"},
		{"doubling ampersand", "'a'.repeat($this & $this)"},
		{"doubling quantity unit", "(1 'm').repeat($this * $this)"},
		{"doubling aggregate", "(1 | 2 | 3 | 4 | 5 | 6 | 7 | 8 | 9 | 10 | 11 | 12 | 13 | 14 | 15 | 16 | 17 | 18 | 19 | 20 | 21 | 22 | 23 | 24 | 25 | 26 | 27 | 28 | 29 | 30 | 31 | 32 | 33 | 34 | 35 | 36 | 37 | 38 | 39 | 40).aggregate($total + $total, 'x')"},
		{"replace", tenA + strings.Repeat(".replace('a', "+tenA+")", 9)},
		{"replaceMatches", tenA + strings.Repeat(".replaceMatches('a', '$0$0$0$0$0$0$0$0$0$0')", 9)},
		{"join", "'a'.repeat($this.combine($this).join($this))"},
		{"many strings", "(1).repeat(iif($this < 100000, $this + 1, {})).select(" + tenA + strings.Repeat(".replace('a', "+tenA+")", 5) + " + $this.toString())"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := MustCompile(c.expr).Evaluate(EvalContext{})
			if !errors.Is(err, ErrLimit) {
				t.Errorf("got %v, want ErrLimit", err)
			}
		})
	}
}

// TestStringFunctionsWithinLimits keeps the string limits from rejecting
// ordinary use.
func TestStringFunctionsWithinLimits(t *testing.T) {
	checkSingleStrings(t, []struct{ expr, want string }{
		{"'abc'.replace('b', 'xx')", "axxc"},
		{"'abc'.replace('', '-')", "-a-b-c-"},
		{"'abcb'.replaceMatches('(b)', '[$1]')", "a[b]c[b]"},
		{"'a' + 'b' & 'c'", "abc"},
		{"(2 'm' * 3 'm').toString()", "6 'm.m'"},
		{"'a,b'.split(',').join('+')", "a+b"},
	})
}

func TestCompileLimits(t *testing.T) {
	deep := strings.Repeat("(", MaxDepth+1) + "1" + strings.Repeat(")", MaxDepth+1)
	long := strings.Repeat("a.", MaxExpressionLength)
	for name, expr := range map[string]string{"deep": deep, "long": long} {
		t.Run(name, func(t *testing.T) {
			var se *SyntaxError
			if _, err := Compile(expr); !errors.As(err, &se) {
				t.Errorf("got %v, want a *SyntaxError", err)
			}
		})
	}
}

func TestSyntaxErrorMessage(t *testing.T) {
	_, err := Compile("name.given.frobnicate()")
	if err == nil || err.Error() != `fhirpath: unknown function "frobnicate" at offset 11` {
		t.Errorf("got %v", err)
	}
	_, err = Compile("1 + ")
	if err == nil || !strings.Contains(err.Error(), "offset 4") {
		t.Errorf("got %v, want the offset of the missing operand", err)
	}
}

func TestFormatJSON(t *testing.T) {
	p, err := ParseJSON([]byte(primitiveExtensionsJSON))
	if err != nil {
		t.Fatal(err)
	}
	got := string(FormatJSON(Collection{Integer(4), Decimal{}, String("a\"b"), p.Child("name")[0]}))
	want := `[{"type":"System.Integer","value":4},{"type":"System.Decimal","value":0},{"type":"System.String","value":"a\"b"},` +
		`{"type":"FHIR.HumanName","value":{"given":["Ann",null,"Bo"],"_given":[null,{"id":"g2","extension":[{"url":"http://example.org/x","valueString":"absent"}]},{"id":"g3"}]}}]`
	if got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
}
