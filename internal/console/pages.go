package console

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"github.com/gatehouse-health/gatehouse/internal/alerts"
	"github.com/gatehouse-health/gatehouse/internal/auditlog"
	"github.com/gatehouse-health/gatehouse/internal/dfd"
	"github.com/gatehouse-health/gatehouse/internal/posture"
)

// feedPageSize is how many exchanges the feed page and one poll show.
const feedPageSize = 100

func (c *Console) feedPage(r *http.Request, d *pageData) (string, error) {
	d.Title, d.Nav = "Live feed", "feed"
	items := c.opts.Activity.Feed(0, feedPageSize)
	var last int64
	if len(items) > 0 {
		last = items[0].Seq
	}
	d.Content = struct {
		Items []FeedItem
		Last  int64
	}{items, last}
	return "feed", nil
}

// feedJSON returns the exchanges after ?after=SEQ, newest first, for the
// feed page's polling.
func (c *Console) feedJSON(w http.ResponseWriter, r *http.Request) {
	after, _ := strconv.ParseInt(r.URL.Query().Get("after"), 10, 64)
	writeJSON(w, map[string]any{"items": c.opts.Activity.Feed(after, feedPageSize)})
}

func (c *Console) partnersPage(r *http.Request, d *pageData) (string, error) {
	d.Title, d.Nav = "Partners", "partners"
	var charts []chart
	for _, s := range c.opts.Activity.Series() {
		charts = append(charts, buildChart(s, d.Now))
	}
	d.Content = struct{ Charts []chart }{charts}
	return "partners", nil
}

func (c *Console) dataflowPage(r *http.Request, d *pageData) (string, error) {
	d.Title, d.Nav = "Data flow", "dataflow"
	g := dfd.Build(c.opts.Config)
	d.Content = struct {
		Nodes, Edges int
	}{len(g.Nodes), len(g.Edges)}
	return "dataflow", nil
}

// dataflowSVG serves the diagram of the running configuration. The page
// shows it in an img element, where an SVG cannot run script.
func (c *Console) dataflowSVG(w http.ResponseWriter, r *http.Request) {
	var buf bytes.Buffer
	if err := dfd.WriteSVG(&buf, dfd.Build(c.opts.Config)); err != nil {
		c.log.Error("console: data-flow diagram failed", "error", err)
		http.Error(w, "the diagram could not be drawn", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "image/svg+xml")
	_, _ = w.Write(buf.Bytes())
}

// postureRow is one finding with its check's title.
type postureRow struct {
	posture.Finding
	Title string
}

func (c *Console) posturePage(r *http.Request, d *pageData) (string, error) {
	d.Title, d.Nav = "Posture", "posture"
	t, err := posture.NewTarget(c.opts.Config, c.opts.ConfigFile, c.subject, posture.Options{Now: d.Now})
	if err != nil {
		return "", err
	}
	rep := posture.Audit(t)
	titles := map[string]string{}
	for _, ch := range rep.Checks {
		titles[ch.ID] = ch.Title
	}
	var rows []postureRow
	for _, f := range rep.Findings {
		rows = append(rows, postureRow{f, titles[f.Check]})
	}
	failed, passed := rep.Counts()
	d.Content = struct {
		Subject             string
		Rows                []postureRow
		Passed              int
		High, Medium, Low   int
		ConfigFileAvailable bool
	}{rep.Subject, rows, passed, failed[posture.High], failed[posture.Medium], failed[posture.Low], c.opts.ConfigFile != ""}
	return "posture", nil
}

func (c *Console) auditLogPage(r *http.Request, d *pageData) (string, error) {
	d.Title, d.Nav = "Audit log", "auditlog"
	content := struct {
		Available  bool
		Checkpoint *auditlog.SignedCheckpoint
		Hash       string
		Note       string
		Error      string
		Verify     VerifyState
		Started    bool
	}{Available: c.opts.AuditLog != nil, Verify: c.verifier.snapshot(), Started: r.URL.Query().Get("started") == "1"}
	if c.opts.AuditLog != nil {
		cp, err := c.opts.AuditLog.LatestCheckpoint(r.Context())
		switch {
		case errors.Is(err, auditlog.ErrNoCheckpoint):
			content.Error = "no checkpoint has been signed yet"
		case err != nil:
			return "", err
		default:
			content.Checkpoint, content.Hash, content.Note = cp, cp.Hash.String(), string(cp.Note)
		}
	}
	d.Content = content
	return "auditlog", nil
}

// startVerify starts a verification and shows the audit-log page.
func (c *Console) startVerify(r *http.Request, d *pageData) (string, error) {
	if c.opts.AuditLog == nil {
		d.StatusCode = http.StatusNotFound
		return c.auditLogPage(r, d)
	}
	if c.verifier.start(c.opts.AuditLog, d.Admin, c.now) {
		c.log.Info("console: audit log verification started", "admin", d.Admin)
	}
	d.Redirect = "/console/auditlog?started=1"
	return "", nil
}

func (c *Console) verifyJSON(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, c.verifier.snapshot())
}

func (c *Console) alertsPage(r *http.Request, d *pageData) (string, error) {
	d.Title, d.Nav = "Alerts", "alerts"
	content := struct {
		Available      bool
		Active, Recent []alerts.Alert
	}{Available: c.opts.Alerts != nil}
	if c.opts.Alerts != nil {
		content.Active, content.Recent = c.opts.Alerts.Active(), c.opts.Alerts.Recent()
	}
	d.Content = content
	return "alerts", nil
}

func writeJSON(w http.ResponseWriter, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		http.Error(w, fmt.Sprintf("encoding failed: %v", err), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(body)
}
