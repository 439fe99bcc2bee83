package app_test

import (
	"io"
	"net/http"
	"strings"
	"testing"
)

// TestAdminAmbiguousBodiesRejected sends kill-switch and decision requests
// whose JSON a lenient decoder reads differently from a strict one. The
// cases are a duplicate member, where the last value would win, a member
// name in another case and a second object after the first. Each must get
// 400 and change nothing, so that what a proxy log or a reviewer shows is
// what the gateway does.
func TestAdminAmbiguousBodiesRejected(t *testing.T) {
	h := newHarness(t, harnessOptions{builtinUpstream: true})
	client, base := h.adminClient()

	cases := []struct {
		name, path, body string
	}{
		{"engage with two modes", "/killswitch",
			`{"mode":"read-only","mode":"full","scope":"partner:demo-ehr","reason":"attack test"}`},
		{"engage with two scopes", "/killswitch",
			`{"mode":"full","scope":"partner:demo-ehr","scope":"all","reason":"attack test"}`},
		{"engage with an upper-case member name", "/killswitch",
			`{"MODE":"full","scope":"partner:demo-ehr","reason":"attack test"}`},
		{"engage followed by a second object", "/killswitch",
			`{"mode":"full","scope":"partner:demo-ehr","reason":"attack test"} {"mode":"full"}`},
		{"engage over 16 KiB", "/killswitch",
			`{"mode":"full","scope":"partner:demo-ehr","reason":"` + strings.Repeat("a", 17<<10) + `"}`},
		{"decision with two claims", "/payer/decisions",
			`{"claim":"PA-1","claim":"PA-2","item":1,"decision":"approve"}`},
		{"decision with two decisions", "/payer/decisions",
			`{"claim":"PA-1","item":1,"decision":"deny","decision":"approve"}`},
		{"decision with an upper-case member name", "/payer/decisions",
			`{"Claim":"PA-1","item":1,"decision":"approve"}`},
		{"decision followed by a second object", "/payer/decisions",
			`{"claim":"PA-1","item":1,"decision":"approve"} {}`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			resp, err := client.Post(base+c.path, "application/json", strings.NewReader(c.body))
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusBadRequest {
				t.Errorf("status %d, want 400: %s", resp.StatusCode, body)
			}
			if !strings.Contains(string(body), "invalid JSON body") {
				t.Errorf("body %q does not name the invalid JSON body", body)
			}
			h.assertNoCut(c.name)
		})
	}
}
