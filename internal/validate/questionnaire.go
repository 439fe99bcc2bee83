package validate

import (
	"strings"

	"github.com/gatehouse-health/gatehouse/internal/outcome"
)

// A QuestionnaireResponse is checked against the Questionnaire its
// questionnaire element names, found among the contained resources ("#id")
// or in the loaded packages by canonical URL. The checks follow the rules
// the Questionnaire states for each item:
//
//   - every item's linkId is defined by the Questionnaire, at the same
//     level and in the same order;
//   - an item that does not repeat appears once and has at most one
//     answer; groups, display items and the abstract "question" type have
//     no answers;
//   - a required item that is enabled has an answer (a warning while the
//     response is in progress), and an item whose enableWhen conditions
//     fail has none;
//   - each answer has the value type of the item and meets its limits
//     (see qrCheck.answer).
//
// A Questionnaire that cannot be found is a warning, because the receiver
// may not have every form a sender uses.

// qrCheck is the state of one QuestionnaireResponse check.
type qrCheck struct {
	r          *run
	q          *jnode // the Questionnaire
	qr         *jnode // the QuestionnaireResponse
	inProgress bool
	// defs and answers index the Questionnaire's items and the response's
	// answers by linkId, each built once, so that the checks stay linear
	// in the size of both documents.
	defs    map[string]*jnode
	answers map[string][]*jnode
}

// questionnaireResponse checks the items of the QuestionnaireResponse n at
// path against its Questionnaire.
func (r *run) questionnaireResponse(n *jnode, path string) {
	q := r.questionnaireOf(n, path)
	if q == nil {
		return
	}
	c := &qrCheck{r: r, q: q, qr: n, inProgress: n.str("status") == "in-progress", defs: map[string]*jnode{}, answers: map[string][]*jnode{}}
	indexItemDefs(itemsOf(q.prop("item")), c.defs)
	indexAnswers(itemsOf(n.prop("item")), c.answers)
	c.items(itemsOf(q.prop("item")), itemsOf(n.prop("item")), path)
}

// questionnaireOf finds the Questionnaire a response names, or returns nil
// after reporting why there is none to check against.
func (r *run) questionnaireOf(n *jnode, path string) *jnode {
	ref := n.str("questionnaire")
	if ref == "" {
		return nil
	}
	at := path + ".questionnaire"
	if id, ok := strings.CutPrefix(ref, "#"); ok {
		q := r.resolveContained(id)
		if q == nil || q.str("resourceType") != "Questionnaire" {
			r.errorf(outcome.CodeNotFound, at, "the contained Questionnaire %q is not in the resource", ref)
			return nil
		}
		return q
	}
	if r.wrongCanonicalType(ref, "Questionnaire", at) {
		return nil
	}
	res := r.v.resolve(ref, nil)
	if res == nil {
		r.warnf(outcome.CodeNotFound, at, "Questionnaire %s is not loaded, so the answers were not checked against it", ref)
		return nil
	}
	q, err := cached(&r.v.questionnaires, res, func() (*jnode, error) { return parseTree(res.JSON, r.v.limits) })
	if err != nil {
		r.warnf(outcome.CodeProcessing, at, "Questionnaire %s is unreadable, so the answers were not checked against it: %v", ref, err)
		return nil
	}
	return q
}

// items checks the response items of one level (the response itself, a
// group item or an answer) against the Questionnaire items of that level.
func (c *qrCheck) items(defs, items []*jnode, parent string) {
	present := map[string][]int{}
	position := map[string]int{}
	for i, d := range defs {
		if _, dup := position[d.str("linkId")]; !dup {
			position[d.str("linkId")] = i
		}
	}
	last := -1
	for i, it := range items {
		link := it.str("linkId")
		if link == "" {
			continue // linkId is mandatory, so the structure check reports it
		}
		at := indexed(parent+".item", i)
		idx, defined := position[link]
		if !defined {
			c.unknownLinkID(link, it, at)
			continue
		}
		if idx < last {
			c.r.errorf(outcome.CodeStructure, at, "item %q is out of order: the Questionnaire defines it before the item preceding it", link)
		}
		last = idx
		present[link] = append(present[link], i)
	}
	for _, def := range defs {
		link := def.str("linkId")
		enabled := c.enabled(def)
		found := present[link]
		if len(found) == 0 {
			if enabled && def.prop("required").isTrue() && def.str("type") != "display" {
				c.missing(link, parent)
			}
			continue
		}
		if len(found) > 1 && !def.prop("repeats").isTrue() {
			c.r.errorf(outcome.CodeStructure, indexed(parent+".item", found[1]), "item %q does not repeat, so only one item with this linkId is allowed", link)
		}
		for _, i := range found {
			at := indexed(parent+".item", i)
			if !enabled && hasAnswers(items[i]) {
				c.r.errorf(outcome.CodeBusinessRule, at, "item %q has answers, but its enableWhen conditions are not met", link)
			}
			c.item(def, items[i], at, enabled)
		}
	}
}

// unknownLinkID reports a response item whose linkId the Questionnaire
// does not define at this level. An item defined at another level is still
// checked against that definition.
func (c *qrCheck) unknownLinkID(link string, it *jnode, at string) {
	def := c.defs[link]
	if def == nil {
		c.r.errorf(outcome.CodeNotFound, at, "linkId %q is not defined in the Questionnaire", link)
		return
	}
	c.r.errorf(outcome.CodeStructure, at, "linkId %q is defined at another level of the Questionnaire", link)
	c.item(def, it, at, c.enabled(def))
}

// missing reports a required item without an answer.
func (c *qrCheck) missing(link, at string) {
	sev := outcome.Error
	if c.inProgress {
		sev = outcome.Warning
	}
	c.r.add(sev, outcome.CodeRequired, at, "required item %q has no answer", link)
}

// item checks one response item against its definition: the number and
// kind of its answers, then its answers and nested items.
func (c *qrCheck) item(def, it *jnode, at string, enabled bool) {
	typ, link := def.str("type"), def.str("linkId")
	answers := itemsOf(it.prop("answer"))
	if len(answers) == 0 && enabled && def.prop("required").isTrue() && typ != "group" && typ != "display" {
		c.missing(link, at)
	}
	if len(answers) > 1 && !def.prop("repeats").isTrue() {
		c.r.errorf(outcome.CodeStructure, at, "item %q does not repeat, so only one answer is allowed", link)
	}
	c.answerCount(def, len(answers), at)

	switch typ {
	case "group", "display", "question":
		if len(answers) > 0 {
			c.r.errorf(outcome.CodeStructure, at, "items of type %s must not have answers", typ)
		}
	default:
		for i, ans := range answers {
			ansAt := indexed(at+".answer", i)
			c.answer(def, ans, ansAt, len(answers))
			c.items(itemsOf(def.prop("item")), itemsOf(ans.prop("item")), ansAt)
		}
	}

	children := itemsOf(it.prop("item"))
	switch {
	case typ == "group":
		c.items(itemsOf(def.prop("item")), children, at)
	case len(children) > 0:
		c.r.errorf(outcome.CodeStructure, at, "item %q has type %s, so its nested items belong under its answers", link, typ)
	}
}

// answerCount checks the questionnaire-minOccurs and
// questionnaire-maxOccurs extensions against the number of answers.
func (c *qrCheck) answerCount(def *jnode, n int, at string) {
	if lim, ok := extensionInt(def, "http://hl7.org/fhir/StructureDefinition/questionnaire-minOccurs"); ok && n < lim {
		c.r.errorf(outcome.CodeStructure, at, "the item needs at least %d answers but has %d", lim, n)
	}
	if lim, ok := extensionInt(def, "http://hl7.org/fhir/StructureDefinition/questionnaire-maxOccurs"); ok && n > lim {
		c.r.errorf(outcome.CodeStructure, at, "the item allows at most %d answers but has %d", lim, n)
	}
}

// indexItemDefs indexes the item definitions of a Questionnaire by
// linkId, at any depth. The first definition of a linkId wins.
func indexItemDefs(defs []*jnode, out map[string]*jnode) {
	for _, d := range defs {
		if link := d.str("linkId"); out[link] == nil {
			out[link] = d
		}
		indexItemDefs(itemsOf(d.prop("item")), out)
	}
}

// hasAnswers reports whether a response item or any item nested in it has
// an answer.
func hasAnswers(it *jnode) bool {
	if len(itemsOf(it.prop("answer"))) > 0 {
		return true
	}
	for _, child := range itemsOf(it.prop("item")) {
		if hasAnswers(child) {
			return true
		}
	}
	return false
}

func (n *jnode) isTrue() bool { return n != nil && n.kind == kindTrue }

// extensions returns the values of the extensions of n with a URL, as the
// extension objects.
func extensions(n *jnode, url string) []*jnode {
	var out []*jnode
	for _, x := range itemsOf(n.prop("extension")) {
		if x.str("url") == url {
			out = append(out, x)
		}
	}
	return out
}

// extensionValue returns the value[x] member of the first extension of n
// with a URL, and the type suffix of its name ("Integer" for
// valueInteger).
func extensionValue(n *jnode, url string) (val *jnode, typ string) {
	for _, x := range extensions(n, url) {
		if v, t := choiceValue(x, "value"); v != nil {
			return v, t
		}
	}
	return nil, ""
}

// extensionInt returns the integer value of an extension of n.
func extensionInt(n *jnode, url string) (int, bool) {
	v, _ := extensionValue(n, url)
	if v == nil || v.kind != kindNumber {
		return 0, false
	}
	return integerText(v.text)
}

// choiceValue returns the member of n whose name is prefix followed by a
// type name ("valueCoding", "answerInteger"), and that type name.
func choiceValue(n *jnode, prefix string) (*jnode, string) {
	for _, p := range n.props {
		rest, ok := strings.CutPrefix(p.name, prefix)
		if ok && rest != "" && rest[0] >= 'A' && rest[0] <= 'Z' {
			return p.val, rest
		}
	}
	return nil, ""
}
