package console

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/gatehouse-health/gatehouse/internal/killswitch"
)

// cutForm is the engage form as submitted.
type cutForm struct {
	Mode      string
	ScopeKind string // all, partner or route
	Partner   string
	Route     string
	Direction string
	Reason    string
}

func readCutForm(r *http.Request) cutForm {
	f := r.PostForm
	return cutForm{
		Mode: f.Get("mode"), ScopeKind: f.Get("scope_kind"), Partner: f.Get("partner"),
		Route: strings.TrimSpace(f.Get("route")), Direction: f.Get("direction"), Reason: strings.TrimSpace(f.Get("reason")),
	}
}

// scope returns the cut scope the form selects.
func (f cutForm) scope() string {
	switch f.ScopeKind {
	case "partner":
		return "partner:" + f.Partner
	case "route":
		return "route:" + f.Route
	}
	return f.ScopeKind
}

// cut returns the cut the form describes, validated as the kill switch
// will validate it.
func (f cutForm) cut() (*killswitch.Cut, error) {
	c := &killswitch.Cut{Mode: killswitch.Mode(f.Mode), Scope: f.scope(), Direction: killswitch.Direction(f.Direction), Reason: f.Reason}
	return c, c.Validate()
}

// modeEffects describes what each mode does to the traffic in scope.
var modeEffects = map[killswitch.Mode]string{
	killswitch.Full: "Every request in scope is refused with 503. Live connections of the partners in scope are closed, " +
		"and access tokens issued to them before now stay revoked even after the cut is released.",
	killswitch.ReadOnly: "Only reads, searches and the capability statement pass. Every operation and every write is refused with 503.",
	killswitch.WritesOff: "Everything passes except interactions that create or change data: create, update, patch, delete, " +
		"batch or transaction, and write operations such as Claim/$submit.",
}

type killSwitchContent struct {
	Cuts     []*killswitch.Cut
	Partners []string
	Form     cutForm
	Error    string
	Engaged  string // id of the cut just engaged
	Released string // id of the cut just released
}

func (c *Console) killSwitchContent(r *http.Request) *killSwitchContent {
	k := &killSwitchContent{Cuts: c.opts.KillSwitch.Cuts(), Form: cutForm{Mode: string(killswitch.Full), ScopeKind: "all", Direction: string(killswitch.Both)}}
	for _, p := range c.opts.Config.Partners {
		k.Partners = append(k.Partners, p.ID)
	}
	q := r.URL.Query()
	adminName := c.opts.AdminOf(r)
	if id := q.Get("engaged"); c.validFlash(adminName, "engaged", id, q.Get("mac")) {
		k.Engaged = id
	}
	if id := q.Get("released"); c.validFlash(adminName, "released", id, q.Get("mac")) {
		k.Released = id
	}
	return k
}

// flashLocation returns the kill-switch page's address after a change,
// with a MAC over the administrator, the change and the cut id. An
// administrator may open a link that someone else wrote, from a chat or an
// e-mail, and such a navigation carries Sec-Fetch-Site: none. Without the
// MAC, that link could make the page claim that a still-engaged cut is
// released, or that a cut that does not exist is engaged.
func (c *Console) flashLocation(adminName, kind string, id int64) string {
	idText := strconv.FormatInt(id, 10)
	q := url.Values{kind: {idText}, "mac": {c.flashMAC(adminName, kind, idText)}}
	return "/console/killswitch?" + q.Encode()
}

func (c *Console) flashMAC(adminName, kind, id string) string {
	mac := hmac.New(sha256.New, c.csrfKey)
	// The "flash" label keeps these MACs apart from CSRF tokens, which
	// use the same key.
	for _, part := range []string{"flash", adminName, kind, id} {
		mac.Write([]byte(part))
		mac.Write([]byte{0})
	}
	return hex.EncodeToString(mac.Sum(nil))
}

func (c *Console) validFlash(adminName, kind, id, mac string) bool {
	if id == "" || mac == "" {
		return false
	}
	if n, err := strconv.ParseInt(id, 10, 64); err != nil || n <= 0 || strconv.FormatInt(n, 10) != id {
		return false
	}
	return hmac.Equal([]byte(mac), []byte(c.flashMAC(adminName, kind, id)))
}

func (c *Console) killSwitchPage(r *http.Request, d *pageData) (string, error) {
	d.Title, d.Nav = "Kill switch", "killswitch"
	d.Content = c.killSwitchContent(r)
	return "killswitch", nil
}

// killSwitchError shows the kill-switch page again with the form as
// submitted and what was wrong with it.
func (c *Console) killSwitchError(r *http.Request, d *pageData, status int, form cutForm, msg string) (string, error) {
	d.Title, d.Nav, d.StatusCode = "Kill switch", "killswitch", status
	k := c.killSwitchContent(r)
	k.Form, k.Error, k.Engaged, k.Released = form, msg, "", ""
	d.Content = k
	return "killswitch", nil
}

// confirmEngage shows what the cut will do and requests confirmation.
func (c *Console) confirmEngage(r *http.Request, d *pageData) (string, error) {
	form := readCutForm(r)
	cut, err := form.cut()
	if err != nil {
		return c.killSwitchError(r, d, http.StatusBadRequest, form, err.Error())
	}
	d.Title, d.Nav = "Confirm: engage the kill switch", "killswitch"
	d.Content = struct {
		Action string
		Cut    *killswitch.Cut
		Form   cutForm
		Effect string
	}{"engage", cut, form, modeEffects[cut.Mode]}
	return "confirm", nil
}

// engage engages the confirmed cut through the kill-switch API.
func (c *Console) engage(r *http.Request, d *pageData) (string, error) {
	form := readCutForm(r)
	if r.PostForm.Get("confirm") != "yes" {
		return c.confirmEngage(r, d)
	}
	cut, err := form.cut()
	if err != nil {
		return c.killSwitchError(r, d, http.StatusBadRequest, form, err.Error())
	}
	body, _ := json.Marshal(killswitch.EngageRequest{Mode: cut.Mode, Scope: cut.Scope, Direction: cut.Direction, Reason: cut.Reason})
	status, answer := c.callKillSwitch(r, "/killswitch", body)
	var engaged killswitch.Cut
	if status != http.StatusCreated || json.Unmarshal(answer, &engaged) != nil {
		return c.killSwitchError(r, d, apiStatus(status), form, apiError(status, answer))
	}
	c.log.Warn("console: kill switch engaged", "admin", d.Admin, "cut", engaged.ID, "mode", string(engaged.Mode), "scope", engaged.Scope)
	d.Redirect = c.flashLocation(d.Admin, "engaged", engaged.ID)
	return "", nil
}

// confirmRelease shows the cut about to be released and requests
// confirmation.
func (c *Console) confirmRelease(r *http.Request, d *pageData) (string, error) {
	cut := c.findCut(r.PostForm.Get("id"))
	if cut == nil {
		return c.killSwitchError(r, d, http.StatusNotFound, cutForm{}, "no engaged cut with that id; it may have been released already")
	}
	d.Title, d.Nav = "Confirm: release a cut", "killswitch"
	effect := "Traffic this cut refuses will flow again, unless another cut covers it."
	if cut.Mode == killswitch.Full {
		effect += " Access tokens this cut revoked stay revoked: partners must obtain new tokens."
	}
	d.Content = struct {
		Action string
		Cut    *killswitch.Cut
		Effect string
	}{"release", cut, effect}
	return "confirm", nil
}

// release releases the confirmed cut through the kill-switch API.
func (c *Console) release(r *http.Request, d *pageData) (string, error) {
	if r.PostForm.Get("confirm") != "yes" {
		return c.confirmRelease(r, d)
	}
	id, err := strconv.ParseInt(r.PostForm.Get("id"), 10, 64)
	if err != nil || id <= 0 {
		return c.killSwitchError(r, d, http.StatusBadRequest, cutForm{}, "invalid cut id")
	}
	idText := strconv.FormatInt(id, 10)
	status, answer := c.callKillSwitch(r, "/killswitch/"+idText+"/release", nil)
	if status != http.StatusOK {
		return c.killSwitchError(r, d, apiStatus(status), cutForm{}, apiError(status, answer))
	}
	c.log.Warn("console: kill switch cut released", "admin", d.Admin, "cut", id)
	d.Redirect = c.flashLocation(d.Admin, "released", id)
	return "", nil
}

func (c *Console) findCut(idText string) *killswitch.Cut {
	id, err := strconv.ParseInt(idText, 10, 64)
	if err != nil {
		return nil
	}
	for _, cut := range c.opts.KillSwitch.Cuts() {
		if cut.ID == id {
			return cut
		}
	}
	return nil
}

// callKillSwitch sends a POST to the kill-switch API in-process, with the
// administrator's request context, so the API records the change under
// the same administrator.
func (c *Console) callKillSwitch(r *http.Request, path string, body []byte) (int, []byte) {
	req, err := http.NewRequestWithContext(r.Context(), http.MethodPost, path, bytes.NewReader(body))
	if err != nil {
		return http.StatusInternalServerError, nil
	}
	req.Header.Set("Content-Type", "application/json")
	req.RemoteAddr, req.TLS = r.RemoteAddr, r.TLS
	rec := &capturedResponse{header: http.Header{}}
	c.opts.KillSwitchAPI.ServeHTTP(rec, req)
	if rec.status == 0 {
		rec.status = http.StatusOK
	}
	return rec.status, rec.body.Bytes()
}

// apiError returns the error the kill-switch API gave, or a generic one.
func apiError(status int, body []byte) string {
	var e struct {
		Error string `json:"error"`
	}
	if json.Unmarshal(body, &e) == nil && e.Error != "" {
		return e.Error
	}
	return "the kill switch answered with status " + strconv.Itoa(status)
}

// apiStatus maps the API's status to the page's: a client error stays one,
// anything else is a server error.
func apiStatus(status int) int {
	if status >= 400 && status < 500 {
		return status
	}
	return http.StatusInternalServerError
}

// capturedResponse collects a handler's response in memory.
type capturedResponse struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (c *capturedResponse) Header() http.Header { return c.header }

func (c *capturedResponse) Write(p []byte) (int, error) {
	if c.status == 0 {
		c.status = http.StatusOK
	}
	return c.body.Write(p)
}

func (c *capturedResponse) WriteHeader(status int) {
	if c.status == 0 {
		c.status = status
	}
}
