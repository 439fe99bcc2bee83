package app_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
)

// TestAdminRejectsCrossSiteRequests sends what another site's page can
// make a browser send with the administrator's client certificate: form
// posts and fetch requests without a preflight. None may release the kill
// switch or reach an operator decision.
func TestAdminRejectsCrossSiteRequests(t *testing.T) {
	h := newHarness(t, harnessOptions{builtinUpstream: true})
	id := h.engage(`{"mode":"full","scope":"all","reason":"incident"}`)
	client, base := h.adminClient()
	release := fmt.Sprintf("%s/killswitch/%d/release", base, id)

	cases := []struct {
		name   string
		url    string
		header http.Header
		body   string
		want   int
	}{
		{"form post from another site", release,
			http.Header{"Content-Type": {"application/x-www-form-urlencoded"}, "Sec-Fetch-Site": {"cross-site"}}, "", http.StatusForbidden},
		{"fetch without body from another site", release,
			http.Header{"Sec-Fetch-Site": {"same-site"}}, "", http.StatusForbidden},
		{"text/plain post without fetch metadata", release,
			http.Header{"Content-Type": {"text/plain"}}, "", http.StatusUnsupportedMediaType},
		{"post without content type or fetch metadata", release,
			http.Header{}, "", http.StatusUnsupportedMediaType},
		{"text/plain operator decision", base + "/payer/decisions",
			http.Header{"Content-Type": {"text/plain"}}, `{"claim":"PA-0000000000000000","item":1,"decision":"approve"}`, http.StatusUnsupportedMediaType},
		{"text/plain engage", base + "/killswitch",
			http.Header{"Content-Type": {"text/plain;charset=UTF-8"}}, `{"mode":"full","scope":"all","reason":"x"}`, http.StatusUnsupportedMediaType},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			req, err := http.NewRequest(http.MethodPost, c.url, strings.NewReader(c.body))
			if err != nil {
				t.Fatal(err)
			}
			req.Header = c.header
			resp, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body := readBody(t, resp)
			if resp.StatusCode != c.want {
				t.Errorf("status %d, want %d: %s", resp.StatusCode, c.want, body)
			}
			if cuts := h.rt.KillSwitch.Cuts(); len(cuts) != 1 {
				t.Errorf("engaged cuts %d, want 1: the cut was released or another engaged", len(cuts))
			}
		})
	}

	// The same release as the CLI sends it still works.
	h.release(id)
	if cuts := h.rt.KillSwitch.Cuts(); len(cuts) != 0 {
		t.Errorf("engaged cuts %d after the CLI's release, want 0", len(cuts))
	}
}
