package validate

import (
	"fmt"
	"strings"
	"testing"
)

// TestNodesAtSteps evaluates discriminator paths on an instance value:
// members and choice members, several values per step (more than the
// caller's room, so the results move to the heap), ofType and extension
// steps. Values must come out in document order.
func TestNodesAtSteps(t *testing.T) {
	var codings []string
	for i := range 6 {
		codings = append(codings, fmt.Sprintf(`{"system":"s%d","code":"c%d"}`, i, i))
	}
	doc := `{"resourceType":"Observation","code":{"coding":[` + strings.Join(codings[:3], ",") + `]},` +
		`"category":[{"coding":[` + strings.Join(codings[3:], ",") + `]},{"coding":[{"code":"x"}]}],` +
		`"valueQuantity":{"value":1},` +
		`"extension":[{"url":"u1","valueString":"a"},{"url":"u2","valueString":"b"},{"url":"u1","valueCode":"c"}]}`
	tree, err := parseTree([]byte(doc), DefaultLimits)
	if err != nil {
		t.Fatal(err)
	}
	r := newRun(shared(t))
	defer r.release()
	tests := []struct {
		path string
		want string // the values reached, each as type:text or type:{members}
	}{
		{"code.coding.code", ":c0 :c1 :c2"},
		{"category.coding.system", ":s3 :s4 :s5"},
		{"category.coding.code", ":c3 :c4 :c5 :x"},
		{"value", "Quantity:{value}"},
		{"value.ofType(Quantity).value", ":1"},
		{"value.ofType(string)", ""},
		{"extension('u1').value", "string:a code:c"},
		{"missing.code", ""},
	}
	for _, tc := range tests {
		var room [2]typedNode
		got := r.nodesAt(room[:0], typedNode{node: tree, typ: "Observation"}, splitPath(tc.path))
		if s := describeNodes(got); s != tc.want {
			t.Errorf("%s: got %q, want %q", tc.path, s, tc.want)
		}
	}
}

func describeNodes(nodes []typedNode) string {
	var parts []string
	for _, tn := range nodes {
		if tn.node.kind == kindObject {
			var names []string
			for _, p := range tn.node.props {
				names = append(names, p.name)
			}
			parts = append(parts, tn.typ+":{"+strings.Join(names, ",")+"}")
			continue
		}
		parts = append(parts, tn.typ+":"+tn.node.text)
	}
	return strings.Join(parts, " ")
}
