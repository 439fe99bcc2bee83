package fhirpath

import (
	"strings"
	"sync"
	"testing"
)

// The evaluator reuses its scratch memory across evaluations. These tests
// check that nothing a caller receives is overwritten by a later
// evaluation or shared with the compiled expression.

func TestEvaluateResultSurvivesLaterEvaluations(t *testing.T) {
	p, err := ParseJSON([]byte(primitiveExtensionsJSON))
	if err != nil {
		t.Fatal(err)
	}
	names := MustCompile("Patient.name.given")
	first, err := names.Evaluate(EvalContext{}, p)
	if err != nil {
		t.Fatal(err)
	}
	want := FormatText(first)

	other := MustCompile("Patient.deceased")
	for range 20 {
		if _, err := other.Evaluate(EvalContext{}, p); err != nil {
			t.Fatal(err)
		}
	}
	if got := FormatText(first); got != want {
		t.Errorf("first result changed to %q, want %q", got, want)
	}
}

func TestEvaluateResultIsCallersCopy(t *testing.T) {
	for _, expr := range []string{"'abc'", "1 = 1", "true"} {
		t.Run(expr, func(t *testing.T) {
			e := MustCompile(expr)
			out, err := e.Evaluate(EvalContext{})
			if err != nil {
				t.Fatal(err)
			}
			want := FormatText(out)
			out[0] = Integer(99)

			again, err := e.Evaluate(EvalContext{})
			if err != nil {
				t.Fatal(err)
			}
			if got := FormatText(again); got != want {
				t.Errorf("after changing a result, got %q, want %q", got, want)
			}
		})
	}
}

func TestTraceValuesSurviveEvaluation(t *testing.T) {
	p, err := ParseJSON([]byte(primitiveExtensionsJSON))
	if err != nil {
		t.Fatal(err)
	}
	var traced Collection
	ec := EvalContext{Trace: func(_ string, values Collection) { traced = values }}
	if _, err := MustCompile("Patient.name.given.trace('t').count()").Evaluate(ec, p); err != nil {
		t.Fatal(err)
	}
	want := FormatText(traced)
	if want != "FHIR.string\tAnn\nFHIR.string\tnull\nFHIR.string\tBo\n" {
		t.Fatalf("trace values %q", want)
	}

	other := MustCompile("Patient.deceased | Patient.id")
	for range 20 {
		if _, err := other.Evaluate(EvalContext{}, p); err != nil {
			t.Fatal(err)
		}
	}
	if got := FormatText(traced); got != want {
		t.Errorf("trace values changed to %q, want %q", got, want)
	}
}

func TestEvaluateResultsDoNotShareItems(t *testing.T) {
	e := MustCompile("1 = 1")
	first, err := e.Evaluate(EvalContext{})
	if err != nil {
		t.Fatal(err)
	}
	second, err := e.Evaluate(EvalContext{})
	if err != nil {
		t.Fatal(err)
	}

	first[0] = Integer(7)
	first = append(first, Integer(8))
	if got := FormatText(second); got != "System.Boolean\ttrue\n" {
		t.Errorf("second result is %q after changing the first", got)
	}
	if got := FormatText(first); got != "System.Integer\t7\nSystem.Integer\t8\n" {
		t.Errorf("first result is %q", got)
	}
}

func TestConcurrentEvaluationsAgree(t *testing.T) {
	p, err := ParseJSON([]byte(primitiveExtensionsJSON))
	if err != nil {
		t.Fatal(err)
	}
	exprs := []string{
		"Patient.name.given",
		"Patient.name.given.where(hasValue()).select($this & '!') | Patient.id",
		"(1 | 2 | 3).aggregate($this + $total, 0)",
		"Patient.descendants().count()",
		"4 'g' ~ 4000 'mg'",
		"%resource.id.substring(1)",
	}
	want := make([]string, len(exprs))
	compiled := make([]*Expression, len(exprs))
	for i, s := range exprs {
		compiled[i] = MustCompile(s)
		out, err := compiled[i].Evaluate(EvalContext{}, p)
		if err != nil {
			t.Fatal(err)
		}
		want[i] = FormatText(out)
	}

	var wg sync.WaitGroup
	errs := make(chan string, 8)
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := range 300 {
				i := (g + k) % len(exprs)
				out, err := compiled[i].Evaluate(EvalContext{}, p)
				if err != nil {
					errs <- err.Error()
					return
				}
				if got := FormatText(out); got != want[i] {
					errs <- exprs[i] + ": got " + got + ", want " + want[i]
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
}

// A step from a node with many children reserves room for its matches
// only, so "entry.all(%resource.type ...)" over a large Bundle does not
// reserve a slot per entry for every entry.
func TestMemberStepReservesOnlyMatches(t *testing.T) {
	var b strings.Builder
	b.WriteString(`{"resourceType":"Bundle","type":"batch","entry":[`)
	for i := range 200 {
		if i > 0 {
			b.WriteString(",")
		}
		b.WriteString(`{"fullUrl":"urn:uuid:x"}`)
	}
	b.WriteString(`]}`)
	bundle, err := ParseJSON([]byte(b.String()))
	if err != nil {
		t.Fatal(err)
	}

	ev := &evaluator{}
	ev.reset(&EvalContext{}, []Value{bundle})
	defer ev.release()
	for _, tc := range []struct {
		name string
		want int
	}{{"type", 1}, {"entry", 200}, {"id", 0}} {
		out, err := newMember(0, tc.name, false).eval(ev, &ev.rootScope, ev.input)
		if err != nil {
			t.Fatal(err)
		}
		if len(out) != tc.want {
			t.Errorf("%s: %d matches, want %d", tc.name, len(out), tc.want)
		}
		if cap(out) != tc.want {
			t.Errorf("%s: room for %d, want %d", tc.name, cap(out), tc.want)
		}
	}

	small := newMember(0, "type", false)
	if got := small.room(Collection{&Node{children: bundle.children[:3]}}); got != 4 {
		t.Errorf("room on a small node = %d, want the bound 4", got)
	}
}
