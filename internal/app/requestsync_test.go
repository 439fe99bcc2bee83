package app_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse-health/gatehouse/internal/auditlog"
	"github.com/gatehouse-health/gatehouse/internal/config"
	"github.com/gatehouse-health/gatehouse/internal/congruence"
	"github.com/gatehouse-health/gatehouse/internal/devmode"
	"github.com/gatehouse-health/gatehouse/internal/record"
	"github.com/gatehouse-health/gatehouse/internal/storage"
)

// appendSpy is the audit log, noting for each entry whether the gateway
// waited for the disk before going on. With failResponses set, it fails
// every response entry.
type appendSpy struct {
	*auditlog.Log
	mu            sync.Mutex
	synced        map[record.Phase][]bool
	failResponses atomic.Bool
	// syncs counts SyncCommitted calls, and submitSynced notes for each
	// whether a Claim/$submit response entry was committed before it.
	syncs        int
	submitSynced []bool
	lastSubmit   bool
	// afterSubmit, when set, runs once a Claim/$submit response entry has
	// been committed by AppendCommitted.
	afterSubmit func()
}

// SyncCommitted notes the call and whether the latest entry was the
// response entry of a Claim/$submit, then syncs.
func (s *appendSpy) SyncCommitted() error {
	s.mu.Lock()
	s.syncs++
	s.submitSynced = append(s.submitSynced, s.lastSubmit)
	s.mu.Unlock()
	return s.Log.SyncCommitted()
}

func (s *appendSpy) wrap(inner record.Store) record.Store {
	s.Log = inner.(*auditlog.Log)
	s.synced = map[record.Phase][]bool{}
	return s
}

func (s *appendSpy) note(e *record.Entry, synced bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.synced[e.Phase] = append(s.synced[e.Phase], synced)
	s.lastSubmit = e.Phase == record.PhaseResponse && strings.HasSuffix(e.Target, "/Claim/$submit")
}

func (s *appendSpy) AppendEntry(ctx context.Context, e *record.Entry) (auditlog.Appended, error) {
	s.note(e, true)
	if s.failResponses.Load() && e.Phase == record.PhaseResponse {
		return auditlog.Appended{}, errors.Join(record.ErrUnavailable, errors.New("disk full (simulated)"))
	}
	return s.Log.AppendEntry(ctx, e)
}

func (s *appendSpy) AppendCommitted(ctx context.Context, e *record.Entry) (auditlog.Appended, error) {
	s.note(e, false)
	if s.failResponses.Load() && e.Phase == record.PhaseResponse {
		return auditlog.Appended{}, errors.Join(record.ErrUnavailable, errors.New("disk full (simulated)"))
	}
	a, err := s.Log.AppendCommitted(ctx, e)
	s.mu.Lock()
	after := s.afterSubmit
	if !s.lastSubmit {
		after = nil
	}
	s.mu.Unlock()
	if err == nil && after != nil {
		after()
	}
	return a, err
}

// The gateway forwards a request to the built-in payer service once its
// request entry has committed, without waiting for the disk. The
// service's writes follow the entry in the same SQLite log, and the
// response entry's sync covers both before the response leaves. An
// external upstream gets a request only after its entry is synced.
func TestRequestEntrySyncDependsOnUpstream(t *testing.T) {
	for _, tc := range []struct {
		name          string
		builtin       bool
		requestSynced bool
	}{
		{"builtin payer service", true, false},
		{"external upstream", false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			spy := &appendSpy{}
			h := newHarness(t, harnessOptions{builtinUpstream: tc.builtin, records: spy.wrap})
			header := http.Header{"Content-Type": {"application/fhir+json"}, "Authorization": {"Bearer " + h.accessToken()}}
			resp := h.send(h.ehr.HTTPClient(), "POST", "/fhir/Claim/$submit", header, shippedBundle(t))
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status %d, want 200: %s", resp.StatusCode, body)
			}

			spy.mu.Lock()
			defer spy.mu.Unlock()
			if got := spy.synced[record.PhaseRequest]; len(got) != 1 || got[0] != tc.requestSynced {
				t.Errorf("request entries synced before forwarding: %v, want [%v]", got, tc.requestSynced)
			}
			// The token request's response entry comes first and waits for
			// the disk. The submission's waits for the sync before the
			// release when the payer service shares the file.
			if got, want := spy.synced[record.PhaseResponse], []bool{true, tc.requestSynced}; !slices.Equal(got, want) {
				t.Errorf("response entries synced when appended: %v, want %v", got, want)
			}
		})
	}
}

// With the built-in payer service, an accepted submission's response
// entry and its patient links commit without an fsync each, and one sync
// of the record makes both durable before the response is released.
func TestResponseEntrySyncedOnceBeforeRelease(t *testing.T) {
	spy := &appendSpy{}
	h := newHarness(t, harnessOptions{builtinUpstream: true, records: spy.wrap})
	header := http.Header{"Content-Type": {"application/fhir+json"}, "Authorization": {"Bearer " + h.accessToken()}}
	resp := h.send(h.ehr.HTTPClient(), "POST", "/fhir/Claim/$submit", header, shippedBundle(t))
	body := readBody(t, resp)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d, want 200: %s", resp.StatusCode, body)
	}
	if resp.Header.Get("X-Gatehouse-Log-Index") == "" {
		t.Error("no X-Gatehouse-Log-Index header on the released response")
	}

	spy.mu.Lock()
	defer spy.mu.Unlock()
	if spy.syncs != 1 {
		t.Errorf("record synced %d times, want 1", spy.syncs)
	}
	if !slices.Equal(spy.submitSynced, []bool{true}) {
		t.Errorf("syncs after the submission's response entry: %v, want [true]", spy.submitSynced)
	}
	patients, err := h.rt.PatientLinks().Lookup(context.Background(), devmode.PartnerID, []congruence.Identifier{examplePatient})
	if err != nil {
		t.Fatal(err)
	}
	if !patients[0].Partner {
		t.Error("the submission's patient is not linked to the partner")
	}
}

// The patient links of an accepted submission commit without an fsync of
// their own when they share the record's file. Every fsync of the file
// fails from the submission's response entry on, so links that sync on
// their own log a failure, while the record's sync before the release
// fails the exchange with 503.
func TestLinksCommitWithoutOwnSync(t *testing.T) {
	spy := &appendSpy{}
	var restore atomic.Pointer[func()]
	t.Cleanup(func() {
		if r := restore.Load(); r != nil {
			(*r)()
		}
	})
	spy.afterSubmit = func() {
		r := storage.FailLogSyncsForTest()
		restore.Store(&r)
	}
	h := newHarness(t, harnessOptions{builtinUpstream: true, records: spy.wrap})
	header := http.Header{"Content-Type": {"application/fhir+json"}, "Authorization": {"Bearer " + h.accessToken()}}
	resp := h.send(h.ehr.HTTPClient(), "POST", "/fhir/Claim/$submit", header, shippedBundle(t))
	body := readBody(t, resp)
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("status %d, want 503 from the failed sync of the record: %s", resp.StatusCode, body)
	}
	if restore.Load() == nil {
		t.Fatal("the submission's response entry was not committed without a sync")
	}
	if logs := h.logs.String(); strings.Contains(logs, "link patients and claims to partner failed") {
		t.Errorf("the links were synced on their own: %s", logs)
	}
	patients, err := h.rt.PatientLinks().Lookup(context.Background(), devmode.PartnerID, []congruence.Identifier{examplePatient})
	if err != nil {
		t.Fatal(err)
	}
	if !patients[0].Partner {
		t.Error("the submission's patient links were not committed")
	}
}

// An outbound exchange goes to a partner, which keeps nothing in the
// record's file, so its request entry is synced before it is sent, even
// with the built-in payer service as the upstream.
func TestOutboundRequestEntrySynced(t *testing.T) {
	cfg, layout, ehr, engineCert := newPayerOutbound(t)
	cfg.Partners[0].Outbound = partnerOutbound(layout, ehr, "capabilities")
	cfg.Egress.Allow = []string{ehr.srv.Listener.Addr().String()}
	if cfg.Upstream.URL != config.Builtin {
		t.Fatalf("upstream %q, want the built-in payer service", cfg.Upstream.URL)
	}
	spy := &appendSpy{}
	h := &harness{t: t, layout: layout, records: spy.wrap}
	h.start(cfg)

	engine := engineClient(t, layout, engineCert)
	resp, body := h.outboundMetadata(engine)
	if resp.StatusCode != http.StatusOK || ehr.calls.Load() != 1 {
		t.Fatalf("outbound metadata: status %d, partner calls %d: %s", resp.StatusCode, ehr.calls.Load(), body)
	}

	spy.mu.Lock()
	defer spy.mu.Unlock()
	if got := spy.synced[record.PhaseRequest]; len(got) != 1 || !got[0] {
		t.Errorf("outbound request entries synced before sending: %v, want [true]", got)
	}
}

// A refusal after forwarding, here an upstream timeout, is synced like
// any entry but the request entry.
func TestRefusalAfterForwardingSynced(t *testing.T) {
	spy := &appendSpy{}
	h := newHarness(t, harnessOptions{builtinUpstream: true, records: spy.wrap,
		edit: func(cfg *config.File, _ *devmode.Layout) { cfg.Upstream.Timeout = time.Nanosecond }})
	header := http.Header{"Content-Type": {"application/fhir+json"}, "Authorization": {"Bearer " + h.accessToken()}}
	resp := h.send(h.ehr.HTTPClient(), "POST", "/fhir/Claim/$submit", header, shippedBundle(t))
	body := readBody(t, resp)
	if resp.StatusCode != http.StatusGatewayTimeout {
		t.Fatalf("status %d, want 504: %s", resp.StatusCode, body)
	}

	spy.mu.Lock()
	defer spy.mu.Unlock()
	if got := spy.synced[record.PhaseRequest]; len(got) != 1 || got[0] {
		t.Errorf("request entries synced before forwarding: %v, want [false]", got)
	}
	if got := spy.synced[record.PhaseRefusal]; len(got) != 1 || !got[0] {
		t.Errorf("refusal entries synced: %v, want [true]", got)
	}
}

// When the response entry of an exchange with the built-in payer service
// cannot be recorded, the 503 names no log entry. The request entry it
// would name is not on disk yet, and a power loss could give its index to
// another entry.
func TestUnrecordedResponseNamesNoUnsyncedEntry(t *testing.T) {
	spy := &appendSpy{}
	h := newHarness(t, harnessOptions{builtinUpstream: true, records: spy.wrap})
	header := http.Header{"Content-Type": {"application/fhir+json"}, "Authorization": {"Bearer " + h.accessToken()}}
	spy.failResponses.Store(true)
	resp := h.send(h.ehr.HTTPClient(), "POST", "/fhir/Claim/$submit", header, shippedBundle(t))
	body := readBody(t, resp)
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("status %d, want 503: %s", resp.StatusCode, body)
	}
	if !strings.Contains(string(body), "may have processed it") {
		t.Errorf("body = %s, want the message that the payer may have processed the request", body)
	}
	for _, name := range []string{"X-Gatehouse-Record", "X-Gatehouse-Log-Index", "X-Gatehouse-Leaf-Hash"} {
		if v := resp.Header.Get(name); v != "" {
			t.Errorf("%s = %q, want none for an entry not on disk", name, v)
		}
	}
}

// A submission's response entry commits to the request body but keeps
// no second copy of it: the security team reads it from the request
// entry.
func TestResponseEntryOmitsRequestCopy(t *testing.T) {
	spy := &appendSpy{}
	h := newHarness(t, harnessOptions{builtinUpstream: true, records: spy.wrap})
	header := http.Header{"Content-Type": {"application/fhir+json"}, "Authorization": {"Bearer " + h.accessToken()}}
	sent := shippedBundle(t)
	resp := h.send(h.ehr.HTTPClient(), "POST", "/fhir/Claim/$submit", header, sent)
	body := readBody(t, resp)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d, want 200: %s", resp.StatusCode, body)
	}

	ctx := context.Background()
	ids, err := auditlog.LoadIdentities(auditlog.DevKeyPaths(h.layout.Dir).IdentityFile)
	if err != nil {
		t.Fatal(err)
	}
	dec, err := spy.Log.NewDecrypter(ctx, ids)
	if err != nil {
		t.Fatal(err)
	}
	var rows []*auditlog.Row
	err = spy.Log.Scan(ctx, auditlog.Query{ExchangeID: resp.Header.Get("X-Request-Id")}, func(r *auditlog.Row) error {
		rows = append(rows, r)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 2 || rows[0].Leaf.Entry.Phase != record.PhaseRequest || rows[1].Leaf.Entry.Phase != record.PhaseResponse {
		t.Fatalf("%d entries for the exchange, want its request and response entries", len(rows))
	}
	request, response := rows[0], rows[1]
	if !response.Leaf.Request.InRequestEntry() || response.RequestCiphertext != nil {
		t.Errorf("response entry stores a request ciphertext of %d bytes, want none", len(response.RequestCiphertext))
	}
	bodies, err := dec.Open(ctx, response)
	if err != nil {
		t.Fatal(err)
	}
	if string(bodies.Request) != string(sent) || bodies.RequestIndex != request.Leaf.Index {
		t.Errorf("request body of %d bytes from entry %d, want the %d bytes sent, from entry %d",
			len(bodies.Request), bodies.RequestIndex, len(sent), request.Leaf.Index)
	}
	if string(bodies.Response) != string(body) {
		t.Errorf("response body of %d bytes, want the %d bytes released", len(bodies.Response), len(body))
	}
}
