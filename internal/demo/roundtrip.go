package demo

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/gatehouse-health/gatehouse/internal/app"
	"github.com/gatehouse-health/gatehouse/internal/ehrsim"
	"github.com/gatehouse-health/gatehouse/internal/members"
	"github.com/gatehouse-health/gatehouse/internal/pki"
	"github.com/gatehouse-health/gatehouse/internal/tlspolicy"
)

// waitLimit bounds each wait for a notification. Deliveries take
// milliseconds on loopback, so reaching it means one was lost.
const waitLimit = 10 * time.Second

// notificationPoll is how often the demo gateway's notification sender
// looks for due notifications.
const notificationPoll = 20 * time.Millisecond

// finalDecision is what the administrator decides on the pended item.
const finalDecision = "approve"

// world is the running gateway, the EHR simulator and the
// administrator's client toward the admin listener.
type world struct {
	rt       *app.Running
	sim      *ehrsim.Sim
	admin    *http.Client
	adminURL string
}

// startWorld starts the EHR simulator, then the development gateway
// configured to fetch the EHR's keys from its JWKS URL and to deliver
// notifications to it, with the admin listener on. The payer stores the
// patients of bundles as its members.
func startWorld(ctx context.Context, dir string, log *slog.Logger, bundles []bundle) (*world, error) {
	cfg, layout, _, err := app.DevConfig(filepath.Join(dir, "data"), "127.0.0.1:0", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("demo: %w", err)
	}
	kit, err := ehrsim.PrepareDev(cfg, layout, filepath.Join(dir, "kit"))
	if err != nil {
		return nil, fmt.Errorf("demo: %w", err)
	}

	kit.Options.Logger = log
	sim, err := ehrsim.Start(kit.Options)
	if err != nil {
		return nil, fmt.Errorf("demo: start the EHR simulator: %w", err)
	}

	w := &world{sim: sim}
	if err := kit.Attach(cfg, sim.Endpoints()); err != nil {
		w.close(ctx)
		return nil, fmt.Errorf("demo: %w", err)
	}
	// A bundle whose patient cannot be a member (no identifier, family
	// name or birth date, or not a request at all) is still submitted,
	// and its row shows the refusal or the payer's rejection.
	var seed [][]byte
	for _, b := range bundles {
		if _, _, err := members.RequestMember(b.data); err == nil {
			seed = append(seed, b.data)
		}
	}
	rt, err := app.Start(ctx, cfg, app.Options{Logger: log, NotificationPoll: notificationPoll, PayerMembers: seed})
	if err != nil {
		w.close(ctx)
		return nil, fmt.Errorf("demo: start gateway: %w", err)
	}

	w.rt = rt
	if err := sim.Connect(rt.PublicURL); err != nil {
		w.close(ctx)
		return nil, fmt.Errorf("demo: %w", err)
	}
	if err := w.connectAdmin(layout.Dir, layout.CACertFile); err != nil {
		w.close(ctx)
		return nil, err
	}
	return w, nil
}

func (w *world) connectAdmin(dataDir, caFile string) error {
	certFile, keyFile := app.DevAdminFiles(dataDir)
	cert, err := pki.LoadTLSCertificate(certFile, keyFile)
	if err != nil {
		return fmt.Errorf("demo: administrator certificate: %w", err)
	}
	roots, err := pki.LoadCertPool(caFile)
	if err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	if w.rt.AdminAddr == nil {
		return errors.New("demo: the gateway has no admin listener")
	}
	w.admin = &http.Client{Transport: &http.Transport{TLSClientConfig: tlspolicy.Client(roots, &cert)}, Timeout: waitLimit}
	_, port, _ := net.SplitHostPort(w.rt.AdminAddr.String())
	w.adminURL = "https://localhost:" + port
	return nil
}

// close stops the EHR before the gateway, so that the gateway's shutdown
// does not wait for the EHR's connections to it.
func (w *world) close(ctx context.Context) {
	w.sim.Close(ctx)
	if w.admin != nil {
		w.admin.CloseIdleConnections()
	}
	if w.rt != nil {
		w.rt.Close(ctx)
	}
}

// subscribe adds the subscribe and handshake rows and returns the new
// Subscription's id, or "" when either failed.
func (w *world) subscribe(ctx context.Context, res *Result) string {
	row := Row{File: "-", Step: "subscribe", Direction: "inbound"}
	resp, id, err := w.sim.Subscribe(ctx)
	if resp != nil {
		fillFromResponse(&row, resp)
	}
	switch {
	case err != nil:
		row.Error = sanitize(err.Error())
	case resp.Status != http.StatusCreated:
		row.Error = sanitize(outcomeText(resp.Body))
	default:
		row.Subscription, row.OK = id, true
		row.Detail = "PAS topic, rest-hook to the EHR"
	}
	res.add(row)
	if !row.OK {
		return ""
	}
	hs := w.notificationRow(ctx, "handshake", id, func(n ehrsim.Notification) bool { return n.Type == ehrsim.TypeHandshake })
	res.add(hs)
	if !hs.OK {
		return ""
	}
	return id
}

// roundTrip adds the pended, decide, notification, status and
// inquire-final rows for item of a submission, stopping at the first
// failed step.
func (w *world) roundTrip(ctx context.Context, res *Result, subID string, submitted Row, item int) {
	pended := w.pendedRow(ctx, submitted, item)
	res.add(pended)
	if !pended.OK {
		return
	}
	decide, crID := w.decideRow(ctx, pended, item)
	res.add(decide)
	if !decide.OK {
		return
	}
	note := w.notificationRow(ctx, "notification", subID, func(n ehrsim.Notification) bool {
		return n.Type == ehrsim.TypeEvent && slices.ContainsFunc(n.Events, func(e ehrsim.Event) bool {
			return strings.HasSuffix(e.Focus, "/ClaimResponse/"+crID)
		})
	})
	res.add(note)
	if !note.OK {
		return
	}
	res.add(w.statusRow(ctx, subID))
	res.add(finalInquiryRow(ctx, w.sim, pended, item))
}

// pendedItem returns the sequence of the first pended item of a
// submission, 0 when none is.
func pendedItem(submitted Row) int {
	for _, d := range submitted.Items {
		if d.Code == "A4" {
			return d.Sequence
		}
	}
	return 0
}

// pendedRow reads the payer's work queue through the admin listener, which
// must contain the submission's pended item.
func (w *world) pendedRow(ctx context.Context, submitted Row, item int) Row {
	row := Row{File: submitted.File, Step: "pended", Direction: "admin", Claim: submitted.Claim,
		bundle: submitted.bundle, preAuthRef: submitted.preAuthRef}
	var queue struct {
		Pended []struct {
			PreAuthRef string `json:"preAuthRef"`
			Item       int    `json:"item"`
			Code       string `json:"code"`
		} `json:"pended"`
	}
	status, err := w.adminCall(ctx, http.MethodGet, "/payer/pended", nil, &queue, &row)
	row.Status = status
	if err != nil {
		row.Error = sanitize(err.Error())
		return row
	}
	for _, p := range queue.Pended {
		if p.PreAuthRef == submitted.preAuthRef && p.Item == item {
			row.Items = []ItemDecision{{Sequence: item, Code: "A4", Decision: reviewActionNames["A4"]}}
			row.Detail = fmt.Sprintf("item %d (%s) is in the payer's work queue of %d", item, p.Code, len(queue.Pended))
			row.OK = true
			return row
		}
	}
	row.Error = fmt.Sprintf("item %d of the submission is not in the payer's work queue", item)
	return row
}

// decideRow records the administrator's decision on the pended item and
// returns the new ClaimResponse id. The row carries the decision's entry in
// the exchange record.
func (w *world) decideRow(ctx context.Context, pended Row, item int) (Row, string) {
	row := Row{File: pended.File, Step: "decide", Direction: "admin", Claim: pended.Claim}
	req := map[string]any{"claim": pended.preAuthRef, "item": item, "decision": finalDecision}
	var out struct {
		ClaimResponse string `json:"claimResponse"`
		ReviewAction  string `json:"reviewAction"`
		Notified      int    `json:"notified"`
		Record        int64  `json:"record"`
	}
	status, err := w.adminCall(ctx, http.MethodPost, "/payer/decisions", req, &out, &row)
	row.Status = status
	if err != nil {
		row.Error = sanitize(err.Error())
		return row, ""
	}
	row.Items = []ItemDecision{{Sequence: item, Code: out.ReviewAction, Decision: reviewActionNames[out.ReviewAction]}}
	row.Record = out.Record
	row.Detail = fmt.Sprintf("by %s; queued for %d Subscription(s)", app.DevAdminName, out.Notified)
	if out.Notified != 1 {
		row.Error = fmt.Sprintf("the decision was queued for %d Subscriptions, expected the EHR's one", out.Notified)
		return row, ""
	}
	row.OK = true
	return row, out.ClaimResponse
}

// adminCall sends one JSON request to the admin listener and decodes a
// 200 response into out.
func (w *world) adminCall(ctx context.Context, method, path string, in, out any, row *Row) (int, error) {
	var body io.Reader = http.NoBody
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return 0, err
		}
		body = bytes.NewReader(b)
	}

	req, err := http.NewRequestWithContext(ctx, method, w.adminURL+path, body)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")

	start := time.Now()
	resp, err := w.admin.Do(req)
	if err != nil {
		return 0, fmt.Errorf("admin %s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	row.LatencyMS = millis(time.Since(start))
	if err != nil {
		return resp.StatusCode, fmt.Errorf("admin %s %s: reading the response: %w", method, path, err)
	}

	if resp.StatusCode != http.StatusOK {
		var e struct {
			Error string `json:"error"`
		}
		_ = json.Unmarshal(data, &e)
		return resp.StatusCode, fmt.Errorf("admin %s %s: status %d: %s", method, path, resp.StatusCode, e.Error)
	}
	if err := json.Unmarshal(data, out); err != nil {
		return resp.StatusCode, fmt.Errorf("admin %s %s: invalid JSON response: %w", method, path, err)
	}
	return resp.StatusCode, nil
}

// notificationRow waits until the EHR has received a notification that
// match accepts, and reports it. Rejected notifications fail the row.
func (w *world) notificationRow(ctx context.Context, step, subID string, match func(ehrsim.Notification) bool) Row {
	row := Row{File: "-", Step: step, Direction: "outbound", Subscription: subID}
	start := time.Now()
	wait, cancel := context.WithTimeout(ctx, waitLimit)
	defer cancel()

	var found *ehrsim.Notification
	snap, err := w.sim.Wait(wait, "the "+step+" at the EHR", func(s *ehrsim.Snapshot) bool {
		for i := range s.Notifications {
			if n := s.Notifications[i]; n.Subscription == subID && (match(n) || !n.Accepted) {
				found = &s.Notifications[i]
				return true
			}
		}
		return false
	})
	row.LatencyMS = millis(time.Since(start))
	if err != nil {
		row.Error = fmt.Sprintf("the %s did not reach the EHR within %s (%d notifications received, %d requests rejected for their credentials)",
			step, waitLimit, len(snap.Notifications), snap.Rejected)
		return row
	}

	n := *found
	row.exchangeID, row.Status, row.Strict = n.ExchangeID, n.StatusCode, n.Strict
	if len(n.Events) > 0 {
		row.Event = n.Events[0].Number
	}
	if !n.Accepted {
		row.Error = sanitize("the EHR rejected the " + n.Type + ": " + n.Problem)
		return row
	}
	row.Detail = describeNotification(n)
	row.OK = true
	return row
}

func describeNotification(n ehrsim.Notification) string {
	text := n.Type + ", strict mode passed"
	if len(n.Events) > 0 {
		text = fmt.Sprintf("event %d, %s", n.Events[0].Number, text)
	}
	switch {
	case len(n.Gap) > 0:
		text += fmt.Sprintf(", gap %v", n.Gap)
	case len(n.Duplicates) > 0:
		text += fmt.Sprintf(", duplicate %v", n.Duplicates)
	case len(n.Events) > 0:
		text += ", no gap"
	}
	return text
}

// statusRow reads the Subscription's counter from the gateway ($status).
// It must equal the highest event number the EHR received.
func (w *world) statusRow(ctx context.Context, subID string) Row {
	row := Row{File: "-", Step: "status", Direction: "inbound", Subscription: subID}
	counter, code, resp, err := w.sim.Status(ctx, subID)
	if resp != nil {
		fillFromResponse(&row, resp)
	}
	if err != nil {
		row.Error = sanitize(err.Error())
		if resp != nil && resp.Status != http.StatusOK {
			row.Error = sanitize(outcomeText(resp.Body))
		}
		return row
	}
	row.Event = counter
	st, _ := w.sim.Snapshot().Subscription(subID)
	if counter != st.Highest || len(st.Missing) > 0 {
		row.Error = fmt.Sprintf("the payer counts %d events, the EHR received up to %d with %v missing", counter, st.Highest, st.Missing)
		return row
	}
	row.Detail = fmt.Sprintf("%s, %d event(s) since start, none missing at the EHR", code, counter)
	row.OK = true
	return row
}

// finalInquiryRow inquires about the decided request and requires the
// decided item to carry the new decision.
func finalInquiryRow(ctx context.Context, sim *ehrsim.Sim, pended Row, item int) Row {
	row := inquireRow(ctx, sim.Client(), pended.bundle)
	row.Step = "inquire-final"
	if !row.OK {
		return row
	}
	want := reviewActionCodes[finalDecision]
	i := slices.IndexFunc(row.Items, func(d ItemDecision) bool { return d.Sequence == item })
	if i < 0 || row.Items[i].Code != want {
		row.OK = false
		row.Error = fmt.Sprintf("item %d does not carry the decision %s (%s)", item, finalDecision, want)
	}
	return row
}

// reviewActionCodes maps the admin API's decision names to X12 306 codes.
var reviewActionCodes = map[string]string{"approve": "A1", "partial": "A2", "deny": "A3", "modify": "A6", "contact": "CT", "none": "NA"}
