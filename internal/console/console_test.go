package console

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-health/gatehouse/internal/alerts"
	"github.com/gatehouse-health/gatehouse/internal/auditlog"
	"github.com/gatehouse-health/gatehouse/internal/config"
	"github.com/gatehouse-health/gatehouse/internal/killswitch"
	"github.com/gatehouse-health/gatehouse/internal/record"
	"github.com/gatehouse-health/gatehouse/internal/sqlitedb"
)

// hostile is text an attacker could get into the console: a partner's
// interaction or rule, an alert message.
const hostile = `<script>alert(1)</script>"><img src=x onerror=alert(2)>`

type memStore struct {
	mu      sync.Mutex
	entries []record.Entry
}

func (s *memStore) Append(_ context.Context, e *record.Entry) (int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.entries = append(s.entries, *e)
	return int64(len(s.entries)), nil
}

type fakeAlerts struct{ list []alerts.Alert }

func (f fakeAlerts) Active() []alerts.Alert { return f.list }
func (f fakeAlerts) Recent() []alerts.Alert { return f.list }

type fakeLog struct {
	verified chan struct{}
}

func (f *fakeLog) LatestCheckpoint(context.Context) (*auditlog.SignedCheckpoint, error) {
	return &auditlog.SignedCheckpoint{
		Checkpoint: auditlog.Checkpoint{Origin: "test.example/log", Size: 42},
		Note:       []byte("test.example/log\n42\nAAAA\n\n— test.example/log sig\n"),
		Created:    time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC),
	}, nil
}

func (f *fakeLog) Verify(_ context.Context, progress func(done, total int64)) (*auditlog.Report, error) {
	progress(21, 42)
	defer close(f.verified)
	return &auditlog.Report{Size: 42, Checkpoints: 3, Uncovered: 0}, nil
}

type env struct {
	t       *testing.T
	c       *Console
	sw      *killswitch.Switch
	records *memStore
	log     *fakeLog
	admin   string
}

func newEnv(t *testing.T) *env {
	t.Helper()
	db, err := sqlitedb.Open(context.Background(), filepath.Join(t.TempDir(), "t.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	sw, err := killswitch.Open(context.Background(), db, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, sw: sw, records: &memStore{}, log: &fakeLog{verified: make(chan struct{})}, admin: "alice"}
	api := http.NewServeMux()
	for pattern, h := range killswitch.Handlers(sw, e.records) {
		api.Handle(pattern, h)
	}
	cfg := &config.File{
		Listen: "127.0.0.1:8443", PublicURL: "https://gw.example:8443",
		Admin:    config.Admin{Listen: "127.0.0.1:9443"},
		Partners: []config.Partner{{ID: "ehr-a", Interactions: []string{"Claim/$submit"}}, {ID: "ehr-b"}},
	}
	config.ApplyDefaults(cfg)

	activity := NewActivity(nil)
	activity.ObserveExchange(&record.Entry{ExchangeID: "0123456789abcdef", Seq: 7, Direction: "inbound", Partner: "ehr-a",
		Interaction: "Claim/$submit", Decision: record.Allow, Status: 200, Target: "/fhir/Claim/$submit?secret=PHI",
		RequestBody: []byte(`{"name":"PATIENT-NAME"}`)})
	activity.ObserveExchange(&record.Entry{ExchangeID: "fedcba9876543210", Direction: "inbound", Partner: "ehr-b",
		Interaction: hostile, Decision: record.Deny, Status: 403, Rule: hostile})

	c, err := New(Options{
		Config:        cfg,
		Activity:      activity,
		Alerts:        fakeAlerts{[]alerts.Alert{{ID: "a1", Rule: "canary", Severity: alerts.High, Partner: "ehr-b", Message: hostile, Raised: time.Now()}}},
		AuditLog:      e.log,
		KillSwitch:    sw,
		KillSwitchAPI: api,
		AdminOf:       func(r *http.Request) string { return r.Header.Get("X-Test-Admin") },
	})
	if err != nil {
		t.Fatal(err)
	}
	e.c = c
	return e
}

func (e *env) do(method, target string, form url.Values, header ...string) *http.Response {
	e.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	r := httptest.NewRequest(method, target, body)
	if form != nil {
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if e.admin != "" {
		r.Header.Set("X-Test-Admin", e.admin)
	}
	for i := 0; i+1 < len(header); i += 2 {
		r.Header.Set(header[i], header[i+1])
	}
	w := httptest.NewRecorder()
	e.c.ServeHTTP(w, r)
	return w.Result()
}

func readAll(t *testing.T, resp *http.Response) string {
	t.Helper()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

var csrfRE = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// csrf returns a token from a rendered page.
func (e *env) csrf() string {
	e.t.Helper()
	body := readAll(e.t, e.do("GET", "/console/killswitch", nil))
	m := csrfRE.FindStringSubmatch(body)
	if m == nil {
		e.t.Fatal("the kill-switch page has no CSRF token")
	}
	return m[1]
}

func TestPagesRender(t *testing.T) {
	e := newEnv(t)
	tests := []struct {
		path, want string
	}{
		{"/console/", "Live feed"},
		{"/console/partners", "Requests per minute"},
		{"/console/alerts", "Active"},
		{"/console/killswitch", "Engage a cut"},
		{"/console/auditlog", "test.example/log"},
		{"/console/posture", "GH-"},
		{"/console/dataflow", `src="/console/dataflow.svg"`},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			resp := e.do("GET", tt.path, nil)
			body := readAll(t, resp)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status %d: %s", resp.StatusCode, body)
			}
			if !strings.Contains(body, tt.want) {
				t.Errorf("the page lacks %q", tt.want)
			}
			if got := resp.Header.Get("Content-Security-Policy"); got != ContentSecurityPolicy {
				t.Errorf("Content-Security-Policy = %q", got)
			}
			if got := resp.Header.Get("X-Frame-Options"); got != "DENY" {
				t.Errorf("X-Frame-Options = %q, want DENY", got)
			}
			if got := resp.Header.Get("Cache-Control"); got != "no-store" {
				t.Errorf("Cache-Control = %q, want no-store", got)
			}
			// No inline script or style: the CSP would block them.
			if regexp.MustCompile(`<script(?:\s[^>]*)?>[^<]`).MatchString(body) || strings.Contains(body, " style=") || strings.Contains(body, "<style") {
				t.Error("the page has an inline script or style")
			}
			if strings.Contains(body, "http://") && !strings.Contains(tt.path, "partners") {
				for _, u := range regexp.MustCompile(`(?:src|href)="(https?://[^"]+)"`).FindAllString(body, -1) {
					t.Errorf("the page loads from another origin: %s", u)
				}
			}
		})
	}
}

func TestContentEscaped(t *testing.T) {
	e := newEnv(t)
	for _, path := range []string{"/console/", "/console/alerts"} {
		body := readAll(t, e.do("GET", path, nil))
		if strings.Contains(body, "<script>alert") || strings.Contains(body, "<img src=x") {
			t.Errorf("%s: hostile text is not escaped", path)
		}
		if !strings.Contains(body, "&lt;script&gt;alert(1)&lt;/script&gt;") {
			t.Errorf("%s: the escaped hostile text is missing", path)
		}
	}
}

func TestFeedShowsNoPHI(t *testing.T) {
	e := newEnv(t)
	page := readAll(t, e.do("GET", "/console/", nil))
	resp := e.do("GET", "/console/api/feed?after=0", nil)
	api := readAll(t, resp)
	for _, leak := range []string{"secret=PHI", "PATIENT-NAME", "/fhir/Claim"} {
		if strings.Contains(page, leak) || strings.Contains(api, leak) {
			t.Errorf("the feed shows %q", leak)
		}
	}
	var got struct{ Items []FeedItem }
	if err := json.Unmarshal([]byte(api), &got); err != nil {
		t.Fatalf("feed JSON: %v", err)
	}
	if len(got.Items) != 2 || got.Items[0].ExchangeID != "fedcba9876543210" {
		t.Errorf("feed items = %+v, want two, newest first", got.Items)
	}
	var later struct{ Items []FeedItem }
	_ = json.Unmarshal([]byte(readAll(t, e.do("GET", "/console/api/feed?after=2", nil))), &later)
	if len(later.Items) != 0 {
		t.Errorf("feed after the newest = %d items, want 0", len(later.Items))
	}
}

func TestPostsNeedCSRF(t *testing.T) {
	e := newEnv(t)
	valid := e.csrf()
	otherAdmin := func() string {
		e.admin = "mallory"
		defer func() { e.admin = "alice" }()
		return e.csrf()
	}()
	expired := "1." + e.c.csrfMAC("alice", "1")
	paths := []string{
		"/console/killswitch/confirm", "/console/killswitch/engage",
		"/console/killswitch/release/confirm", "/console/killswitch/release", "/console/auditlog/verify",
	}
	tokens := map[string]string{"missing": "", "garbage": "abc", "other administrator": otherAdmin, "expired": expired}
	for _, path := range paths {
		for name, tok := range tokens {
			t.Run(path+" "+name, func(t *testing.T) {
				form := url.Values{"mode": {"full"}, "scope_kind": {"all"}, "reason": {"x"}, "confirm": {"yes"}, "id": {"1"}}
				if tok != "" {
					form.Set("csrf", tok)
				}
				resp := e.do("POST", path, form)
				if resp.StatusCode != http.StatusForbidden {
					t.Errorf("status %d, want 403", resp.StatusCode)
				}
			})
		}
	}
	if n := len(e.sw.Cuts()); n != 0 {
		t.Errorf("%d cuts engaged by refused requests", n)
	}
	// The valid token passes.
	resp := e.do("POST", "/console/killswitch/confirm", url.Values{"csrf": {valid}, "mode": {"full"}, "scope_kind": {"all"}, "reason": {"drill"}})
	if resp.StatusCode != http.StatusOK {
		t.Errorf("with a valid token: status %d, want 200", resp.StatusCode)
	}
}

func TestRefusesCrossSiteAndAnonymous(t *testing.T) {
	e := newEnv(t)
	if resp := e.do("GET", "/console/", nil, "Sec-Fetch-Site", "cross-site"); resp.StatusCode != http.StatusForbidden {
		t.Errorf("cross-site: status %d, want 403", resp.StatusCode)
	}
	if resp := e.do("GET", "/console/", nil, "Sec-Fetch-Site", "same-origin"); resp.StatusCode != http.StatusOK {
		t.Errorf("same-origin: status %d, want 200", resp.StatusCode)
	}
	e.admin = ""
	if resp := e.do("GET", "/console/", nil); resp.StatusCode != http.StatusForbidden {
		t.Errorf("no administrator: status %d, want 403", resp.StatusCode)
	}
}

func TestKillSwitchEngageAndRelease(t *testing.T) {
	e := newEnv(t)
	tok := e.csrf()
	form := url.Values{"csrf": {tok}, "mode": {"full"}, "scope_kind": {"partner"}, "partner": {"ehr-b"},
		"direction": {"both"}, "reason": {"suspected <exfiltration>"}}

	// Step 1: the confirmation page, which engages nothing.
	resp := e.do("POST", "/console/killswitch/confirm", form)
	body := readAll(t, resp)
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, "Engage the cut") || !strings.Contains(body, "partner:ehr-b") {
		t.Fatalf("confirmation page: status %d\n%s", resp.StatusCode, body)
	}
	if !strings.Contains(body, "suspected &lt;exfiltration&gt;") {
		t.Error("the reason is not escaped on the confirmation page")
	}
	if n := len(e.sw.Cuts()); n != 0 {
		t.Fatalf("the confirmation step engaged %d cuts", n)
	}

	// Step 2: the confirmed engage.
	form.Set("confirm", "yes")
	resp = e.do("POST", "/console/killswitch/engage", form)
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("engage: status %d, want 303\n%s", resp.StatusCode, readAll(t, resp))
	}
	cuts := e.sw.Cuts()
	if len(cuts) != 1 || cuts[0].Scope != "partner:ehr-b" || cuts[0].Mode != killswitch.Full {
		t.Fatalf("cuts = %+v, want one full cut of ehr-b", cuts)
	}
	loc := resp.Header.Get("Location")
	if !strings.HasPrefix(loc, "/console/killswitch?engaged="+itoa(cuts[0].ID)+"&mac=") {
		t.Errorf("Location = %q", loc)
	}
	if len(e.records.entries) != 1 || e.records.entries[0].Interaction != "killswitch.engage" {
		t.Errorf("records = %+v, want the engage control entry", e.records.entries)
	}
	page := readAll(t, e.do("GET", loc, nil))
	if !strings.Contains(page, "is engaged and recorded") || !strings.Contains(page, "Kill switch engaged: 1 cut") {
		t.Error("the kill-switch page does not show the engaged cut")
	}

	// Release, through its own confirmation.
	id := itoa(cuts[0].ID)
	resp = e.do("POST", "/console/killswitch/release/confirm", url.Values{"csrf": {tok}, "id": {id}})
	if body := readAll(t, resp); resp.StatusCode != http.StatusOK || !strings.Contains(body, "Release cut #"+id) {
		t.Fatalf("release confirmation: status %d", resp.StatusCode)
	}
	if len(e.sw.Cuts()) != 1 {
		t.Fatal("the release confirmation released the cut")
	}
	resp = e.do("POST", "/console/killswitch/release", url.Values{"csrf": {tok}, "id": {id}, "confirm": {"yes"}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("release: status %d\n%s", resp.StatusCode, readAll(t, resp))
	}
	if n := len(e.sw.Cuts()); n != 0 {
		t.Errorf("%d cuts after release, want 0", n)
	}
	if len(e.records.entries) != 2 || e.records.entries[1].Interaction != "killswitch.release" {
		t.Errorf("records = %+v, want the release control entry", e.records.entries)
	}
	page = readAll(t, e.do("GET", resp.Header.Get("Location"), nil))
	if !strings.Contains(page, "Cut #"+id+" is released") {
		t.Error("the kill-switch page does not confirm the release it redirected to")
	}
}

// TestKillSwitchFlashFromLink opens the kill-switch page from addresses
// that the console did not redirect to, as an administrator does with a
// link from a chat or an e-mail. The page must not claim that an engaged
// cut is released, nor that a missing cut is engaged.
func TestKillSwitchFlashFromLink(t *testing.T) {
	e := newEnv(t)
	cut := &killswitch.Cut{Mode: killswitch.Full, Scope: "all", Reason: "incident", EngagedBy: "bob"}
	if err := e.sw.Engage(context.Background(), cut); err != nil {
		t.Fatal(err)
	}
	id := itoa(cut.ID)
	mallorysMAC := e.c.flashMAC("mallory", "released", id)
	links := []string{
		"/console/killswitch?released=" + id,
		"/console/killswitch?released=" + id + "&engaged=99",
		"/console/killswitch?released=" + id + "&mac=00",
		"/console/killswitch?released=" + id + "&mac=" + mallorysMAC,
		"/console/killswitch?released=0" + id + "&mac=" + e.c.flashMAC("alice", "released", id),
		"/console/killswitch?engaged=" + id + "&mac=" + e.c.flashMAC("alice", "released", id),
	}
	for _, link := range links {
		resp := e.do("GET", link, nil, "Sec-Fetch-Site", "none")
		page := readAll(t, resp)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("%s: status %d", link, resp.StatusCode)
		}
		if strings.Contains(page, "is released and") {
			t.Errorf("%s: the page claims a release that did not happen", link)
		}
		if strings.Contains(page, "is engaged and recorded") {
			t.Errorf("%s: the page claims an engage that did not happen", link)
		}
		if !strings.Contains(page, `id="cut-`+id+`"`) {
			t.Errorf("%s: the engaged cut is missing from the table", link)
		}
	}
	if n := len(e.sw.Cuts()); n != 1 {
		t.Errorf("%d cuts engaged, want the one cut", n)
	}
}

func TestKillSwitchInvalidForm(t *testing.T) {
	e := newEnv(t)
	tok := e.csrf()
	tests := []struct {
		name string
		form url.Values
		want string
	}{
		{"no reason", url.Values{"mode": {"full"}, "scope_kind": {"all"}}, "a reason is required"},
		{"bad mode", url.Values{"mode": {"off"}, "scope_kind": {"all"}, "reason": {"r"}}, "invalid mode"},
		{"bad route", url.Values{"mode": {"full"}, "scope_kind": {"route"}, "route": {"<nope>"}, "reason": {"r"}}, "scope route"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.form.Set("csrf", tok)
			resp := e.do("POST", "/console/killswitch/confirm", tt.form)
			body := readAll(t, resp)
			if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, tt.want) {
				t.Errorf("status %d, want 400 with %q", resp.StatusCode, tt.want)
			}
		})
	}
	resp := e.do("POST", "/console/killswitch/release/confirm", url.Values{"csrf": {tok}, "id": {"99"}})
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("release of an unknown cut: status %d, want 404", resp.StatusCode)
	}
}

func TestVerifyNow(t *testing.T) {
	e := newEnv(t)
	resp := e.do("POST", "/console/auditlog/verify", url.Values{"csrf": {e.csrf()}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("verify: status %d, want 303", resp.StatusCode)
	}
	select {
	case <-e.log.verified:
	case <-time.After(10 * time.Second):
		t.Fatal("verification did not run")
	}
	var state VerifyState
	for range 100 {
		_ = json.Unmarshal([]byte(readAll(t, e.do("GET", "/console/api/verify", nil))), &state)
		if state.Status != "running" {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if state.Status != "intact" || state.Size != 42 || state.Checked != 3 || state.By != "alice" {
		t.Errorf("state = %+v, want intact, 42 entries, 3 checkpoints, by alice", state)
	}
	if body := readAll(t, e.do("GET", "/console/auditlog", nil)); !strings.Contains(body, "Intact: 42 entries and 3 checkpoints verified") {
		t.Error("the audit-log page does not show the result")
	}
}

func TestVerifyFailureShown(t *testing.T) {
	v := &verification{}
	v.finish(nil, errors.New("auditlog: read size: disk I/O error"), time.Now())
	if s := v.snapshot(); s.Status != "failed" || !strings.Contains(s.Error, "disk I/O") {
		t.Errorf("state = %+v", s)
	}
	v.finish(&auditlog.Report{Size: 3, Problems: []auditlog.Problem{{Index: 1, What: "hash mismatch"}}}, nil, time.Now())
	if s := v.snapshot(); s.Status != "problems" || len(s.Problems) != 1 || s.Problems[0] != "entry 1: hash mismatch" {
		t.Errorf("state = %+v", s)
	}
}

func TestStaticAndDiagram(t *testing.T) {
	e := newEnv(t)
	tests := []struct{ path, contentType, want string }{
		{"/console/static/console.css", "text/css", ":root"},
		{"/console/static/console.js", "text/javascript", "textContent"},
		{"/console/dataflow.svg", "image/svg+xml", "<svg"},
	}
	for _, tt := range tests {
		resp := e.do("GET", tt.path, nil)
		body := readAll(t, resp)
		if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), tt.contentType) || !strings.Contains(body, tt.want) {
			t.Errorf("%s: status %d, type %q", tt.path, resp.StatusCode, resp.Header.Get("Content-Type"))
		}
	}
	if strings.Contains(readAll(t, e.do("GET", "/console/static/console.js", nil)), "innerHTML") {
		t.Error("console.js writes HTML")
	}
}

func TestChartScale(t *testing.T) {
	var s PartnerSeries
	s.Requests[chartMinutes-1], s.Denials[chartMinutes-1] = 7, 2
	c := buildChart(s, time.Date(2026, 3, 2, 9, 30, 0, 0, time.UTC))
	if c.Requests != 7 || c.Denials != 2 || c.PeakPerMinute != 7 {
		t.Errorf("totals = %d/%d/%d", c.Requests, c.Denials, c.PeakPerMinute)
	}
	if got := c.Grid[2].Label; got != "10" {
		t.Errorf("scale top = %s, want 10", got)
	}
	last := c.Bars[chartMinutes-1]
	if !last.HasAny || !last.HasDenials || last.Height <= last.DenialH {
		t.Errorf("last bar = %+v", last)
	}
	if !strings.HasPrefix(last.Title, "09:30 UTC") {
		t.Errorf("last bar title = %q", last.Title)
	}
	for _, tt := range []struct{ peak, want int }{{0, 2}, {2, 2}, {3, 5}, {11, 20}, {51, 100}, {100, 100}} {
		if got := niceMax(tt.peak); got != tt.want {
			t.Errorf("niceMax(%d) = %d, want %d", tt.peak, got, tt.want)
		}
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
