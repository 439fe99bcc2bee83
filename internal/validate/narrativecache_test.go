package validate

import "testing"

// TestNarrativeCheckNotCarriedBetweenRuns validates a Patient with a
// well-formed narrative and one of the same size whose narrative is not,
// in turns. Pooled runs reuse their tree arenas, so the second document's
// narrative node can have the first one's address. The invalid narrative
// must still be reported every time.
func TestNarrativeCheckNotCarriedBetweenRuns(t *testing.T) {
	v := shared(t)
	doc := func(div string) []byte {
		return []byte(`{"resourceType":"Patient","text":{"status":"generated","div":"<div xmlns=\"http://www.w3.org/1999/xhtml\">` + div + `</div>"},"gender":"male"}`)
	}
	good, bad := doc("<b>x</b>"), doc("<b>x</i>")
	for i := range 5 {
		res, err := v.Validate(good)
		if err != nil {
			t.Fatal(err)
		}
		if !res.Valid() {
			t.Fatalf("round %d: well-formed narrative rejected: %+v", i, res.Issues)
		}
		res, err = v.Validate(bad)
		if err != nil {
			t.Fatal(err)
		}
		if !hasIssue(res, "error", "Patient.text.div", "invalid narrative") {
			t.Fatalf("round %d: malformed narrative after a well-formed one not reported: %+v", i, res.Issues)
		}
	}
}

// TestNarrativeCheckKeyedByNode checks that a run remembers a narrative
// that passed for that node only: not for another node with the same
// text, not for a narrative that failed, and not after the run is
// released.
func TestNarrativeCheckKeyedByNode(t *testing.T) {
	v := shared(t)
	const div = `<div xmlns="http://www.w3.org/1999/xhtml">x</div>`
	checked, other := &jnode{kind: kindString, text: div}, &jnode{kind: kindString, text: div}
	broken := &jnode{kind: kindString, text: `<div xmlns="http://www.w3.org/1999/xhtml">x</dvi>`}

	r := newRun(v)
	r.xhtml(&occurrence{val: checked, at: location{text: "Patient.text.div", index: -1}})
	r.xhtml(&occurrence{val: broken, at: location{text: "Patient.text.div", index: -1}})
	if !r.checkedNarrative(checked) {
		t.Error("a narrative that passed is not remembered")
	}
	if r.checkedNarrative(other) {
		t.Error("another node with the same text counts as checked")
	}
	if r.checkedNarrative(broken) {
		t.Error("a narrative that failed counts as checked")
	}
	if len(r.issues) != 1 {
		t.Errorf("issues %+v, want one for the malformed narrative", r.issues)
	}
	r.release()

	r = newRun(v)
	defer r.release()
	if r.checkedNarrative(checked) {
		t.Error("a released run still counts the narrative as checked")
	}
}
