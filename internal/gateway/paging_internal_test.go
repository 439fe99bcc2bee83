package gateway

import (
	"testing"

	"github.com/go-json-experiment/json/jsontext"
)

func TestRewriteMemberKeepsOtherMembers(t *testing.T) {
	in := `{"resourceType":"Bundle","link":[{"relation":"next","url":"x"}],"type":"searchset"}`
	out, _, err := rewriteMember([]byte(in), "link", func(jsontext.Value) (jsontext.Value, int, error) {
		return jsontext.Value(`[]`), 0, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"resourceType":"Bundle","link":[],"type":"searchset"}`; string(out) != want {
		t.Errorf("rewritten %s, expected %s", out, want)
	}
}
