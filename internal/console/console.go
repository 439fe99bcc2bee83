// Package console serves the security team's console on the admin
// listener, under /console/: a live feed of exchanges and denials,
// per-partner charts, the data-flow diagram and the posture report of the
// running configuration, the audit log's latest checkpoint with an
// on-demand verification, the alerts, and the kill switch.
//
// Pages are rendered on the server with html/template; the stylesheet and
// the one script are embedded and served from /console/static/, so the
// console loads nothing from another origin. Every response carries a
// Content-Security-Policy that allows scripts, styles, images and fetches
// from the console's own origin only (no inline script or style), and
// forbids framing.
//
// The console shows ids, partners, interactions, statuses and rule ids; it
// never shows a request-target, a query string or a body, because those
// hold PHI.
//
// Authentication is the admin listener's: only a request that presented an
// administrator certificate reaches the console. Because a browser
// presents that certificate on every request, including ones another site
// triggers, every state-changing request is a POST that must carry a CSRF
// token bound to the administrator's name, and a request whose
// Sec-Fetch-Site header says it came from another site is refused.
package console

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gatehouse-health/gatehouse/internal/admin"
	"github.com/gatehouse-health/gatehouse/internal/alerts"
	"github.com/gatehouse-health/gatehouse/internal/auditlog"
	"github.com/gatehouse-health/gatehouse/internal/config"
	"github.com/gatehouse-health/gatehouse/internal/killswitch"
)

// Prefix is the path the console is mounted under.
const Prefix = "/console/"

// ContentSecurityPolicy is sent with every console response.
const ContentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; " +
	"connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

//go:embed templates/*.html
var templateFiles embed.FS

//go:embed static
var staticFiles embed.FS

// AlertSource lists alerts; *alerts.Monitor implements it.
type AlertSource interface {
	Active() []alerts.Alert
	Recent() []alerts.Alert
}

// AuditLog is the console's view of the tamper-evident log.
type AuditLog interface {
	// LatestCheckpoint returns the most recent signed checkpoint, or an
	// error wrapping auditlog.ErrNoCheckpoint.
	LatestCheckpoint(ctx context.Context) (*auditlog.SignedCheckpoint, error)
	// Verify recomputes the log and checks every checkpoint, calling
	// progress as it goes.
	Verify(ctx context.Context, progress func(done, total int64)) (*auditlog.Report, error)
}

// Options configures the console. Config, Activity and KillSwitch are
// required.
type Options struct {
	// Config is the running configuration, drawn as the data-flow diagram
	// and audited for the posture report. It must not change while the
	// console runs.
	Config *config.File
	// ConfigFile is the file Config was loaded from, for line numbers in
	// the posture report; empty in development mode.
	ConfigFile string
	// Activity is the feed of completed exchanges.
	Activity *Activity
	// Alerts, when set, lists the alerts.
	Alerts AlertSource
	// AuditLog, when set, gives the latest checkpoint and verification.
	AuditLog AuditLog
	// KillSwitch lists the engaged cuts.
	KillSwitch *killswitch.Switch
	// KillSwitchAPI serves POST /killswitch and POST
	// /killswitch/{id}/release as killswitch.Handlers does. The console
	// engages and releases cuts through it, so each change is recorded
	// exactly as one made through the admin API.
	KillSwitchAPI http.Handler
	// AdminOf returns the authenticated administrator of a request; default
	// admin.Name of its context. A request with no administrator is
	// refused.
	AdminOf func(*http.Request) string
	Logger  *slog.Logger
	Now     func() time.Time
}

// Console serves the console pages.
type Console struct {
	opts      Options
	log       *slog.Logger
	now       func() time.Time
	csrfKey   []byte
	pages     map[string]*template.Template
	mux       *http.ServeMux
	verifier  *verification
	staticFS  fs.FS
	subject   string
	startedAt time.Time
}

// New parses the templates and returns the console.
func New(opts Options) (*Console, error) {
	switch {
	case opts.Config == nil:
		return nil, errors.New("console: Options.Config is required")
	case opts.Activity == nil:
		return nil, errors.New("console: Options.Activity is required")
	case opts.KillSwitch == nil || opts.KillSwitchAPI == nil:
		return nil, errors.New("console: Options.KillSwitch and Options.KillSwitchAPI are required")
	}
	c := &Console{opts: opts, log: opts.Logger, now: opts.Now, csrfKey: make([]byte, 32)}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	if c.now == nil {
		c.now = time.Now
	}
	if c.opts.AdminOf == nil {
		c.opts.AdminOf = func(r *http.Request) string { return admin.Name(r.Context()) }
	}
	if _, err := rand.Read(c.csrfKey); err != nil {
		return nil, fmt.Errorf("console: %w", err)
	}
	var err error
	if c.pages, err = parsePages(); err != nil {
		return nil, err
	}
	if c.staticFS, err = fs.Sub(staticFiles, "static"); err != nil {
		return nil, fmt.Errorf("console: %w", err)
	}
	c.subject = "running configuration"
	if opts.ConfigFile != "" {
		c.subject = opts.ConfigFile
	}
	c.verifier = &verification{}
	c.startedAt = c.now()
	c.routes()
	return c, nil
}

// Routes returns the console's routes for the admin listener's mux.
func (c *Console) Routes() map[string]http.Handler {
	return map[string]http.Handler{Prefix: c}
}

func (c *Console) routes() {
	m := http.NewServeMux()
	m.HandleFunc("GET /console/{$}", c.page(c.feedPage))
	m.HandleFunc("GET /console/api/feed", c.feedJSON)
	m.HandleFunc("GET /console/partners", c.page(c.partnersPage))
	m.HandleFunc("GET /console/dataflow", c.page(c.dataflowPage))
	m.HandleFunc("GET /console/dataflow.svg", c.dataflowSVG)
	m.HandleFunc("GET /console/posture", c.page(c.posturePage))
	m.HandleFunc("GET /console/auditlog", c.page(c.auditLogPage))
	m.HandleFunc("POST /console/auditlog/verify", c.post(c.startVerify))
	m.HandleFunc("GET /console/api/verify", c.verifyJSON)
	m.HandleFunc("GET /console/alerts", c.page(c.alertsPage))
	m.HandleFunc("GET /console/killswitch", c.page(c.killSwitchPage))
	m.HandleFunc("POST /console/killswitch/confirm", c.post(c.confirmEngage))
	m.HandleFunc("POST /console/killswitch/engage", c.post(c.engage))
	m.HandleFunc("POST /console/killswitch/release/confirm", c.post(c.confirmRelease))
	m.HandleFunc("POST /console/killswitch/release", c.post(c.release))
	m.Handle("GET /console/static/", http.StripPrefix("/console/static/", http.FileServerFS(c.staticFS)))
	c.mux = m
}

// ServeHTTP sets the security headers, requires an administrator and
// dispatches to the page.
func (c *Console) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Security-Policy", ContentSecurityPolicy)
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
	h.Set("Cross-Origin-Resource-Policy", "same-origin")
	h.Set("Cache-Control", "no-store")
	if c.opts.AdminOf(r) == "" {
		http.Error(w, "an administrator client certificate is required", http.StatusForbidden)
		return
	}
	// Browsers send Sec-Fetch-Site with the request's origin relative to
	// the target. Another site's page must not reach the console with the
	// administrator's certificate.
	switch r.Header.Get("Sec-Fetch-Site") {
	case "", "same-origin", "none":
	default:
		http.Error(w, "cross-site requests to the console are rejected", http.StatusForbidden)
		return
	}
	c.mux.ServeHTTP(w, r)
}

// pageData is the data every page template receives.
type pageData struct {
	Title      string
	Nav        string
	Admin      string
	CSRF       string
	Now        time.Time
	Active     int // active alerts
	Cuts       int // engaged kill-switch cuts
	StatusCode int
	// Redirect, when a handler sets it, makes the console send 303 See
	// Other to this path instead of a page, so that reloading the result of
	// a POST does not repeat it.
	Redirect string
	Content  any
}

// navItems are the console's pages, in menu order.
var navItems = []struct{ Path, Name, Label string }{
	{"/console/", "feed", "Live feed"},
	{"/console/partners", "partners", "Partners"},
	{"/console/alerts", "alerts", "Alerts"},
	{"/console/killswitch", "killswitch", "Kill switch"},
	{"/console/auditlog", "auditlog", "Audit log"},
	{"/console/posture", "posture", "Posture"},
	{"/console/dataflow", "dataflow", "Data flow"},
}

// pageFunc fills the page's data; it returns the template name.
type pageFunc func(r *http.Request, d *pageData) (string, error)

// page renders a page through its template into a buffer, so a template
// error becomes a 500 rather than half a page.
func (c *Console) page(fn pageFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		c.render(w, r, fn)
	}
}

func (c *Console) render(w http.ResponseWriter, r *http.Request, fn pageFunc) {
	adminName := c.opts.AdminOf(r)
	d := &pageData{Admin: adminName, CSRF: c.csrfToken(adminName), Now: c.now(), StatusCode: http.StatusOK,
		Cuts: len(c.opts.KillSwitch.Cuts())}
	if c.opts.Alerts != nil {
		d.Active = len(c.opts.Alerts.Active())
	}
	name, err := fn(r, d)
	if err != nil {
		c.log.Error("console page failed", "page", r.URL.Path, "error", err)
		http.Error(w, "the page could not be built; the gateway log has the cause", http.StatusInternalServerError)
		return
	}
	if d.Redirect != "" {
		http.Redirect(w, r, d.Redirect, http.StatusSeeOther)
		return
	}
	var buf bytes.Buffer
	if err := c.pages[name].ExecuteTemplate(&buf, "layout", d); err != nil {
		c.log.Error("console template failed", "template", name, "error", err)
		http.Error(w, "the page could not be rendered; the gateway log has the cause", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(d.StatusCode)
	_, _ = w.Write(buf.Bytes())
}

// post wraps a state-changing handler: the form must parse and carry a
// valid CSRF token for the administrator.
func (c *Console) post(fn pageFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		r.Body = http.MaxBytesReader(w, r.Body, 16<<10)
		if err := r.ParseForm(); err != nil {
			http.Error(w, "invalid form", http.StatusBadRequest)
			return
		}
		if !c.validCSRF(c.opts.AdminOf(r), r.PostForm.Get("csrf")) {
			c.log.Warn("console request rejected: missing or invalid CSRF token", "path", r.URL.Path, "admin", c.opts.AdminOf(r))
			http.Error(w, "the form is missing its CSRF token or the token expired; reload the page and try again", http.StatusForbidden)
			return
		}
		c.render(w, r, fn)
	}
}

// csrfLifetime is how long a rendered form stays usable.
const csrfLifetime = 12 * time.Hour

// csrfToken returns a token for forms: its expiry and an HMAC of the
// administrator's name and that expiry under a per-process key, so tokens
// die with the process and cannot be used by another administrator.
func (c *Console) csrfToken(adminName string) string {
	exp := strconv.FormatInt(c.now().Add(csrfLifetime).Unix(), 10)
	return exp + "." + c.csrfMAC(adminName, exp)
}

func (c *Console) csrfMAC(adminName, exp string) string {
	mac := hmac.New(sha256.New, c.csrfKey)
	mac.Write([]byte(adminName))
	mac.Write([]byte{0})
	mac.Write([]byte(exp))
	return hex.EncodeToString(mac.Sum(nil))
}

func (c *Console) validCSRF(adminName, token string) bool {
	exp, mac, ok := strings.Cut(token, ".")
	if !ok {
		return false
	}
	unix, err := strconv.ParseInt(exp, 10, 64)
	if err != nil || c.now().Unix() > unix {
		return false
	}
	return hmac.Equal([]byte(mac), []byte(c.csrfMAC(adminName, exp)))
}
