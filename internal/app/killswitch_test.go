package app_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-health/gatehouse/internal/app"
	"github.com/gatehouse-health/gatehouse/internal/config"
	"github.com/gatehouse-health/gatehouse/internal/devmode"
	"github.com/gatehouse-health/gatehouse/internal/killswitch"
	"github.com/gatehouse-health/gatehouse/internal/pki"
	"github.com/gatehouse-health/gatehouse/internal/record"
	"github.com/gatehouse-health/gatehouse/internal/tlspolicy"
)

// adminClient returns a client with the development administrator
// certificate and the admin base URL.
func (h *harness) adminClient() (*http.Client, string) {
	h.t.Helper()
	roots, _ := h.layout.CAPool()
	certFile, keyFile := app.DevAdminFiles(h.layout.Dir)
	cert, err := pki.LoadTLSCertificate(certFile, keyFile)
	if err != nil {
		h.t.Fatal(err)
	}
	tr := &http.Transport{TLSClientConfig: tlspolicy.Client(roots, &cert)}
	h.t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr}, "https://localhost:" + portOf(h.rt.AdminAddr.String())
}

func (h *harness) engage(body string) int64 {
	h.t.Helper()
	client, base := h.adminClient()
	resp, err := client.Post(base+"/killswitch", "application/json", strings.NewReader(body))
	if err != nil {
		h.t.Fatal(err)
	}
	b := readBody(h.t, resp)
	if resp.StatusCode != http.StatusCreated {
		h.t.Fatalf("engage: status %d: %s", resp.StatusCode, b)
	}
	var cut struct{ ID int64 }
	json.Unmarshal(b, &cut)

	// The cut closes the partner's open connections. The EHR client may
	// not have seen the close yet, and a POST it sends on such a
	// connection fails with a broken pipe instead of reaching the gateway.
	h.ehr.HTTPClient().CloseIdleConnections()
	return cut.ID
}

func (h *harness) release(id int64) {
	h.t.Helper()
	client, base := h.adminClient()
	resp, err := client.Post(fmt.Sprintf("%s/killswitch/%d/release", base, id), "application/json", nil)
	if err != nil {
		h.t.Fatal(err)
	}
	if b := readBody(h.t, resp); resp.StatusCode != 200 {
		h.t.Fatalf("release: status %d: %s", resp.StatusCode, b)
	}
}

// TestKillSwitchFullCut engages a full cut on the demo partner while it
// keeps an idle keep-alive connection and a request in flight. Both must be
// cut, and later requests and token requests must get 503. Tokens from
// before the cut must stay revoked after the release, and both changes
// must be in the record.
func TestKillSwitchFullCut(t *testing.T) {
	slow := make(chan struct{})
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.Contains(r.URL.Path, "$inquire") {
			select {
			case <-slow:
			case <-r.Context().Done():
			}
		}
		w.Header().Set("Content-Type", "application/fhir+json")
		w.Write([]byte(`{"resourceType":"Bundle","type":"collection"}`))
	}))
	defer upstream.Close()
	defer close(slow)
	h := newHarness(t, harnessOptions{upstreamURL: upstream.URL})
	tok := h.accessToken()
	header := http.Header{"Content-Type": {"application/fhir+json"}, "Authorization": {"Bearer " + tok}}

	// A request that will still be running when the cut comes.
	inflight := make(chan error, 1)
	go func() {
		req, _ := http.NewRequest("POST", h.rt.FHIRBase+"/Claim/$inquire", bytes.NewReader(shippedBundle(t)))
		req.Header = header.Clone()
		resp, err := h.ehr.HTTPClient().Do(req)
		if err == nil {
			resp.Body.Close()
			err = fmt.Errorf("request completed with status %d", resp.StatusCode)
		}
		inflight <- err
	}()
	time.Sleep(200 * time.Millisecond)

	id := h.engage(`{"mode":"full","scope":"partner:demo-ehr","reason":"suspected credential theft"}`)

	select {
	case err := <-inflight:
		if !strings.Contains(err.Error(), "EOF") && !strings.Contains(err.Error(), "reset") && !strings.Contains(err.Error(), "closed") {
			t.Errorf("in-flight request ended with %v, want a closed connection", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the in-flight request was not cut")
	}

	resp := h.send(h.ehr.HTTPClient(), "GET", "/fhir/metadata", header, nil)
	body := readBody(t, resp)
	if resp.StatusCode != http.StatusServiceUnavailable || outcomeCode(t, body) != "transient" {
		t.Fatalf("request during the cut: status %d: %s", resp.StatusCode, body)
	}
	if e := h.entries(resp); len(e) != 1 || !strings.HasPrefix(e[0].Rule, "killswitch.cut-") {
		t.Errorf("entries = %+v", e)
	}
	if _, err := h.ehr.Token(context.Background()); err == nil {
		t.Error("a token was issued during the cut")
	}

	h.release(id)
	resp = h.send(h.ehr.HTTPClient(), "GET", "/fhir/metadata", header, nil)
	if body := readBody(t, resp); resp.StatusCode != http.StatusUnauthorized || !strings.Contains(string(body), "revoked") {
		t.Errorf("old token after release: status %d: %s", resp.StatusCode, body)
	}
	time.Sleep(1100 * time.Millisecond) // token iat has one-second resolution
	fresh := h.accessToken()
	resp = h.send(h.ehr.HTTPClient(), "GET", "/fhir/metadata", http.Header{"Authorization": {"Bearer " + fresh}}, nil)
	if readBody(t, resp); resp.StatusCode != http.StatusOK {
		t.Errorf("new token after release: status %d", resp.StatusCode)
	}

	controls, err := h.rt.Records.(record.Reader).List(context.Background(), record.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	var actions []string
	for _, e := range controls {
		if e.Phase == record.PhaseControl {
			actions = append(actions, e.Interaction+" by "+strings.TrimPrefix(e.Source, "admin:"))
		}
	}
	if strings.Join(actions, ", ") != "killswitch.engage by dev-admin, killswitch.release by dev-admin" {
		t.Errorf("control entries = %v", actions)
	}
}

// TestKillSwitchModes checks read-only and writes-off on the PAS operations.
func TestKillSwitchModes(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	header := http.Header{"Content-Type": {"application/fhir+json"}, "Authorization": {"Bearer " + h.accessToken()}}
	status := func(path string) int {
		resp := h.send(h.ehr.HTTPClient(), "POST", path, header, shippedBundle(t))
		readBody(t, resp)
		return resp.StatusCode
	}
	id := h.engage(`{"mode":"writes-off","reason":"contain a bad deploy"}`)
	if got := status("/fhir/Claim/$submit"); got != 503 {
		t.Errorf("writes-off: $submit status %d, want 503", got)
	}
	if got := status("/fhir/Claim/$inquire"); got != 200 {
		t.Errorf("writes-off: $inquire status %d, want 200", got)
	}
	h.release(id)
	h.engage(`{"mode":"read-only","reason":"contain a bad deploy"}`)
	if got := status("/fhir/Claim/$inquire"); got != 503 {
		t.Errorf("read-only: $inquire status %d, want 503", got)
	}
}

// TestKillSwitchReachesOtherReplica runs a second kill switch on the same
// database, as a replica would. A cut engaged through the first gateway
// must reach it by polling within a second. A gateway restarted on the
// database must start with the cut in force.
func TestKillSwitchReachesOtherReplica(t *testing.T) {
	a := newHarness(t, harnessOptions{})
	replica, err := killswitch.Open(context.Background(), a.rt.DB, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go replica.Run(ctx)

	a.engage(`{"mode":"full","reason":"drill"}`)
	deadline := time.Now().Add(time.Second)
	for len(replica.Cuts()) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the replica did not see the cut within a second")
		}
		time.Sleep(20 * time.Millisecond)
	}

	// A restarted gateway starts with the cut in force.
	cfg, _, _, err := app.DevConfig(a.layout.Dir, "127.0.0.1:0", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg.Upstream.URL = a.upstream.srv.URL
	a.rt.Close(context.Background())
	b := &harness{t: t, layout: a.layout, upstream: a.upstream}
	b.start(cfg)
	resp := b.send(b.ehr.HTTPClient(), "GET", "/fhir/metadata", nil, nil)
	readBody(t, resp)
	if e := b.entries(resp); resp.StatusCode != http.StatusServiceUnavailable || len(e) != 1 || !strings.HasPrefix(e[0].Rule, "killswitch.cut-") {
		t.Errorf("restarted gateway: status %d, entries %+v; want 503 by the kill switch", resp.StatusCode, e)
	}
}

// TestKillSwitchRouteCutCoversBatchEntries engages a full cut of one
// route. The route pattern does not match a batch itself, so the cut must
// check the batch's entries. The interaction is refused inside a batch as
// well, and nothing reaches the upstream. A batch of other interactions
// still passes.
func TestKillSwitchRouteCutCoversBatchEntries(t *testing.T) {
	h := newHarness(t, harnessOptions{edit: func(cfg *config.File, _ *devmode.Layout) {
		p := &cfg.Partners[0]
		p.Interactions = append(p.Interactions, "batch-transaction", "ClaimResponse.search", "Claim.search")
	}})
	tok := h.accessToken()
	header := http.Header{"Content-Type": {"application/fhir+json"}, "Authorization": {"Bearer " + tok}}
	batchOf := func(url string) []byte {
		return []byte(`{"resourceType":"Bundle","type":"batch","entry":[{"request":{"method":"GET","url":"` + url + `"}}]}`)
	}

	h.engage(`{"mode":"full","scope":"route:ClaimResponse.search","direction":"inbound","reason":"ClaimResponse search leaks"}`)
	before := h.upstream.count.Load()

	resp := h.send(h.ehr.HTTPClient(), "GET", "/fhir/ClaimResponse?identifier=A12345", header, nil)
	body := readBody(t, resp)
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("direct search during the route cut: status %d, want 503: %s", resp.StatusCode, body)
	}

	resp = h.send(h.ehr.HTTPClient(), "POST", "/fhir", header, batchOf("ClaimResponse?identifier=A12345"))
	body = readBody(t, resp)
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("the cut route inside a batch: status %d, want 503: %s", resp.StatusCode, body)
	}
	if code := outcomeCode(t, body); code != "transient" {
		t.Errorf("the cut route inside a batch: issue code %q, want transient", code)
	}
	if n := h.upstream.count.Load() - before; n != 0 {
		t.Errorf("upstream received %d requests during the route cut, want 0", n)
	}
	if entries := h.entries(resp); len(entries) != 1 || !strings.HasPrefix(entries[0].Rule, "killswitch.cut-") {
		t.Errorf("record of the batch = %+v, want one killswitch refusal", entries)
	}

	resp = h.send(h.ehr.HTTPClient(), "POST", "/fhir", header, batchOf("Claim?identifier=A12345"))
	if body := readBody(t, resp); resp.StatusCode != http.StatusOK {
		t.Errorf("a batch outside the cut route: status %d, want 200: %s", resp.StatusCode, body)
	}
}

// TestKillSwitchUnknownPartner engages a cut of a mistyped partner id
// through the admin API. The gateway gives the switch its registered
// partners, so the cut is rejected with 400 and nothing is engaged, while
// the registered id still engages.
func TestKillSwitchUnknownPartner(t *testing.T) {
	h := newHarness(t, harnessOptions{builtinUpstream: true})
	client, base := h.adminClient()
	body := fmt.Sprintf(`{"mode":"full","scope":"partner:%s-typo","reason":"incident"}`, devmode.PartnerID)
	resp, err := client.Post(base+"/killswitch", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	b := readBody(t, resp)
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("status %d, want 400: %s", resp.StatusCode, b)
	}
	if want := "registered partners: " + devmode.PartnerID; !strings.Contains(string(b), want) {
		t.Errorf("error %s does not contain %q", b, want)
	}
	if n := len(h.rt.KillSwitch.Cuts()); n != 0 {
		t.Errorf("engaged cuts %d after the rejection, want 0", n)
	}

	h.engage(fmt.Sprintf(`{"mode":"full","scope":"partner:%s","reason":"incident"}`, devmode.PartnerID))
	if n := len(h.rt.KillSwitch.Cuts()); n != 1 {
		t.Errorf("engaged cuts %d after a cut of the registered partner, want 1", n)
	}
}
