//go:build consolebrowser

package console

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-health/gatehouse/internal/pki"
	"github.com/gatehouse-health/gatehouse/internal/tlspolicy"
)

// Browser window size for every screenshot.
const (
	shotWidth     = 1280
	shotHeight    = 900
	maxShotHeight = 2400
)

// TestBrowserConsole drives headless Chromium through every console page
// of a running development gateway and saves screenshots. .ci/console-test.sh
// starts the gateway and sets:
//
//	GATEHOUSE_ADMIN_URL    https://localhost:PORT of the admin listener
//	GATEHOUSE_DATA         the development data directory
//	GATEHOUSE_CHROMIUM     the Chromium binary
//	GATEHOUSE_SCREENSHOTS  the directory the PNG files are written to
//
// Chromium cannot be handed a client certificate on the command line, so
// the test puts a TLS-terminating reverse proxy on a loopback port between
// the browser and the admin listener: the browser speaks plain HTTP to
// the proxy, and the proxy connects to the admin listener over mutual TLS
// with the development administrator's certificate, verifying the server
// against the development CA.
func TestBrowserConsole(t *testing.T) {
	adminURL, data := os.Getenv("GATEHOUSE_ADMIN_URL"), os.Getenv("GATEHOUSE_DATA")
	chromium, shots := os.Getenv("GATEHOUSE_CHROMIUM"), os.Getenv("GATEHOUSE_SCREENSHOTS")
	if adminURL == "" || data == "" || chromium == "" || shots == "" {
		t.Skip("set GATEHOUSE_ADMIN_URL, GATEHOUSE_DATA, GATEHOUSE_CHROMIUM and GATEHOUSE_SCREENSHOTS; .ci/console-test.sh does")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()

	proxy := adminProxy(t, adminURL, data)
	defer proxy.Close()
	b, err := launchBrowser(ctx, chromium, t.TempDir(), shotWidth, shotHeight)
	if err != nil {
		t.Fatal(err)
	}
	defer b.close()
	problems := watchConsole(b)

	s := &session{t: t, ctx: ctx, b: b, base: proxy.URL, shots: shots}
	s.feed()
	s.visit("/console/partners", "document.querySelector('section.chart svg rect')", "partners.png")
	s.visit("/console/alerts", "document.querySelector('table.alerts td.mono')", "alerts.png")
	s.expectText("canary")
	s.visit("/console/dataflow", "document.querySelector('.diagram img').complete && document.querySelector('.diagram img').naturalWidth > 0", "dataflow.png")
	s.visit("/console/posture", "document.querySelectorAll('table.posture tbody tr').length > 5", "posture.png")
	s.auditLog()
	s.killSwitch(proxy.URL, proxy.Client())

	for _, p := range problems() {
		t.Errorf("browser reported: %s", p)
	}
}

// adminProxy returns a loopback HTTP server that forwards to the admin
// listener with the development administrator's certificate.
func adminProxy(t *testing.T, adminURL, data string) *httptest.Server {
	t.Helper()
	target, err := url.Parse(adminURL)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := pki.LoadTLSCertificate(filepath.Join(data, "admin", "admin.pem"), filepath.Join(data, "admin", "admin-key.pem"))
	if err != nil {
		t.Fatal(err)
	}
	roots, err := pki.LoadCertPool(filepath.Join(data, "ca", "ca.pem"))
	if err != nil {
		t.Fatal(err)
	}
	rp := &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.SetURL(target)
		},
		Transport: &http.Transport{Proxy: nil, TLSClientConfig: tlspolicy.Client(roots, &cert), ForceAttemptHTTP2: true},
	}
	return httptest.NewServer(rp)
}

// watchConsole collects console errors, exceptions and failed loads, which
// is where Chromium reports Content-Security-Policy violations.
func watchConsole(b *browser) func() []string {
	var mu sync.Mutex
	var found []string
	go func() {
		for m := range b.events {
			switch m.Method {
			case "Log.entryAdded":
				var p struct {
					Entry struct {
						Level, Source, Text, URL string
					} `json:"entry"`
				}
				if json.Unmarshal(m.Params, &p) == nil && (p.Entry.Level == "error" || p.Entry.Source == "security") {
					mu.Lock()
					found = append(found, fmt.Sprintf("%s %s: %s %s", p.Entry.Level, p.Entry.Source, p.Entry.Text, p.Entry.URL))
					mu.Unlock()
				}
			case "Runtime.exceptionThrown":
				mu.Lock()
				found = append(found, "exception: "+string(m.Params))
				mu.Unlock()
			}
		}
	}()
	return func() []string {
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), found...)
	}
}

type session struct {
	t     *testing.T
	ctx   context.Context
	b     *browser
	base  string
	shots string
}

func (s *session) must(err error) {
	s.t.Helper()
	if err != nil {
		s.t.Fatal(err)
	}
}

// visit opens a page, waits until ready is true, and saves a screenshot.
func (s *session) visit(path, ready, shot string) {
	s.t.Helper()
	s.must(s.b.navigate(s.ctx, s.base+path))
	s.must(s.b.waitFor(s.ctx, "location.pathname === "+jsString(strings.SplitN(path, "?", 2)[0])+" && ("+ready+")"))
	s.shot(shot)
}

func (s *session) shot(name string) {
	s.t.Helper()
	s.must(s.b.screenshot(s.ctx, filepath.Join(s.shots, name), shotWidth, maxShotHeight))
}

// click clicks the element and waits for the next page to satisfy ready.
func (s *session) click(selector, ready string) {
	s.t.Helper()
	s.must(s.b.eval(s.ctx, "document.querySelector("+jsString(selector)+").click()", nil))
	s.must(s.b.waitFor(s.ctx, ready))
}

func (s *session) expectText(want string) {
	s.t.Helper()
	var text string
	s.must(s.b.eval(s.ctx, "document.body.innerText", &text))
	if !strings.Contains(text, want) {
		s.t.Errorf("page %q lacks %q", s.path(), want)
	}
}

func (s *session) path() string {
	var p string
	_ = s.b.eval(s.ctx, "location.pathname + location.search", &p)
	return p
}

// feed checks the live feed: rows rendered, no request-target or body, and
// the polling script still live after a poll.
func (s *session) feed() {
	s.visit("/console/", "document.querySelectorAll('#feed-rows tr.deny').length > 0 && document.querySelectorAll('#feed-rows tr.allow').length > 0", "feed.png")
	var text string
	s.must(s.b.eval(s.ctx, "document.body.innerText", &text))
	for _, leak := range []string{"/fhir/", "CANARY-0001", "identifier="} {
		if strings.Contains(text, leak) {
			s.t.Errorf("the feed shows %q", leak)
		}
	}
	time.Sleep(2500 * time.Millisecond)
	var live string
	s.must(s.b.eval(s.ctx, "document.getElementById('feed-state').className", &live))
	if live != "live" {
		s.t.Errorf("feed polling state = %q, want live", live)
	}
}

// auditLog shows the latest checkpoint, runs "verify now" and waits for
// its result.
func (s *session) auditLog() {
	s.must(s.b.navigate(s.ctx, s.base+"/console/auditlog"))
	s.must(s.b.waitFor(s.ctx, "location.pathname === '/console/auditlog' && document.querySelector('dl.facts')"))
	s.click("#verify button[type=submit]", "document.querySelector('#verify-status.intact')")
	s.shot("auditlog.png")
}

// killSwitch engages a cut of the demo partner through the confirmation
// step, checks it through the admin API, then releases it the same way.
func (s *session) killSwitch(proxyURL string, client *http.Client) {
	s.visit("/console/killswitch", "document.getElementById('engage-review')", "killswitch.png")
	s.must(s.b.eval(s.ctx, `(function(){
		document.querySelector('input[name=scope_kind][value=partner]').checked = true;
		document.getElementById('reason').value = 'console drill: suspected exfiltration by demo-ehr';
	})()`, nil))
	s.click("#engage-review", "location.pathname === '/console/killswitch/confirm' && document.getElementById('confirm')")
	s.expectText("partner:demo-ehr")
	s.shot("killswitch-confirm.png")
	if n := s.cuts(proxyURL, client); n != 0 {
		s.t.Fatalf("%d cuts engaged before confirmation", n)
	}

	s.click("#confirm", "location.pathname === '/console/killswitch' && document.querySelector('.flash.danger')")
	s.shot("killswitch-engaged.png")
	if n := s.cuts(proxyURL, client); n != 1 {
		s.t.Fatalf("%d cuts engaged after confirmation, want 1", n)
	}

	s.click("table.cuts button[type=submit]", "location.pathname === '/console/killswitch/release/confirm' && document.getElementById('confirm')")
	s.shot("killswitch-release-confirm.png")
	s.click("#confirm", "location.pathname === '/console/killswitch' && document.querySelector('.flash.ok')")
	s.shot("killswitch-released.png")
	if n := s.cuts(proxyURL, client); n != 0 {
		s.t.Errorf("%d cuts engaged after release, want 0", n)
	}
}

// cuts counts the engaged cuts through the kill-switch admin API.
func (s *session) cuts(proxyURL string, client *http.Client) int {
	s.t.Helper()
	resp, err := client.Get(proxyURL + "/killswitch")
	s.must(err)
	defer resp.Body.Close()
	var body struct {
		Cuts []json.RawMessage `json:"cuts"`
	}
	s.must(json.NewDecoder(resp.Body).Decode(&body))
	return len(body.Cuts)
}

func jsString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}
