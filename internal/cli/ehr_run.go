package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"time"

	"github.com/gatehouse-health/gatehouse/internal/ehrclient"
	"github.com/gatehouse-health/gatehouse/internal/ehrsim"
	"github.com/gatehouse-health/gatehouse/internal/pas"
	"github.com/gatehouse-health/gatehouse/internal/safefile"
	"github.com/gatehouse-health/gatehouse/internal/token"
)

// runEHR starts the simulator, prints its endpoints, makes the requested
// calls and prints notifications until the end. It exits 1 when a call
// failed, a notification was rejected or an event is still missing.
func (e *env) runEHR(f *ehrFlags, opts ehrsim.Options) int {
	sim, err := ehrsim.Start(opts)
	if err != nil {
		e.errorf("%v", err)
		e.hint("--jwks-listen and --fhir-listen take a free loopback address such as 127.0.0.1:9445")
		return 1
	}
	defer sim.Close(context.WithoutCancel(e.ctx))
	if err := sim.Connect(f.gateway); err != nil {
		e.errorf("%v", err)
		return 1
	}
	e.printEndpoints(f, sim.Endpoints())

	ctx := e.ctx
	if f.duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, f.duration)
		defer cancel()
	}
	failed := !e.ehrCalls(ctx, f, sim)
	snap := e.printNotifications(ctx, f, sim)
	for _, n := range snap.Notifications {
		failed = failed || !n.Accepted
	}
	for id, st := range snap.Subscriptions {
		if len(st.Missing) > 0 {
			e.errorf("Subscription %s: events %v are still missing", id, st.Missing)
			failed = true
		}
	}
	if failed {
		return 1
	}
	return 0
}

func (e *env) printEndpoints(f *ehrFlags, ep ehrsim.Endpoints) {
	if f.asJSON {
		e.printJSON(map[string]any{"endpoints": ep})
		return
	}
	fmt.Fprintf(e.stdout, "ehr: JWKS URL      %s  (partners[].jwks_url)\n", ep.JWKSURL)
	fmt.Fprintf(e.stdout, "ehr: FHIR base     %s  (partners[].outbound.fhir_base)\n", ep.FHIRBase)
	fmt.Fprintf(e.stdout, "ehr: token URL     %s  (partners[].outbound.token_url)\n", ep.TokenURL)
	fmt.Fprintf(e.stdout, "ehr: payer scopes  %s  (partners[].outbound.scopes)\n", strings.Join(ep.PayerScopes, " "))
	fmt.Fprintf(e.stdout, "ehr: egress.allow  %s\n", strings.Join(ep.Addrs, ", "))
}

// ehrCalls subscribes, submits and inquires as the flags ask, and reports
// whether every call succeeded.
func (e *env) ehrCalls(ctx context.Context, f *ehrFlags, sim *ehrsim.Sim) bool {
	if !f.subscribe && len(f.submit) == 0 && len(f.inquire) == 0 {
		return true
	}
	if err := awaitGateway(ctx, sim); err != nil {
		e.errorf("%v", err)
		e.hint("%s", ehrTokenHint(err, f.gateway))
		return false
	}
	ok := true
	if f.subscribe {
		resp, id, err := sim.Subscribe(ctx)
		ok = e.reportCall(f, "subscribe", resp, err, id) && ok
	}
	for _, file := range f.submit {
		ok = e.ehrPost(ctx, f, sim, "submit", file, nil) && ok
	}
	inquiry := func(request []byte) ([]byte, error) { return pas.InquiryFor(request, time.Now()) }
	for _, file := range f.inquire {
		ok = e.ehrPost(ctx, f, sim, "inquire", file, inquiry) && ok
	}
	return ok
}

// ehrPost reads file, turns it into the body with build when build is not
// nil, posts it to Claim/$op and reports the call.
func (e *env) ehrPost(ctx context.Context, f *ehrFlags, sim *ehrsim.Sim, op, file string, build func([]byte) ([]byte, error)) bool {
	body, err := safefile.ReadCapped(file, maxEHRFileBytes)
	if err == nil && build != nil {
		body, err = build(body)
	}
	if err != nil {
		e.errorf("--%s %s: %v", op, file, err)
		return false
	}
	resp, err := sim.Do(ctx, http.MethodPost, "Claim/$"+op, body)
	return e.reportCall(f, op+" "+filepath.Base(file), resp, err, "")
}

// ehrTokenHint returns the next step after the simulator's first token
// request failed for good. A rejected client, or no response, most often
// means the gateway has not registered this EHR or its key yet. Any other
// OAuth error, such as a kill-switch cut, gets the token endpoint's hint.
func ehrTokenHint(err error, gatewayURL string) string {
	var re *token.ResponseError
	if errors.As(err, &re) && re.Code != "" && re.Code != token.CodeInvalidClient {
		return ehrclient.TokenHint(err, gatewayURL)
	}
	return "start the gateway with this EHR's JWKS URL and --client-id registered before --for ends; a simulator restarted without --assertion-key has a new key, which the gateway learns at its next JWK set fetch (at most once a minute)"
}

// awaitGateway fetches a first token, retrying while the gateway cannot
// be reached, for at most gatewayWait.
func awaitGateway(ctx context.Context, sim *ehrsim.Sim) error {
	return retryToken(ctx, gatewayWait, 250*time.Millisecond, func(ctx context.Context) error {
		_, err := sim.Client().Token(ctx)
		return err
	})
}

// retryToken calls fetch every interval until it succeeds or wait has
// passed. The error it returns is that of the last attempt that ended on
// its own, such as the gateway's 401, because the attempt the deadline cut
// short can only report the deadline.
func retryToken(ctx context.Context, wait, interval time.Duration, fetch func(context.Context) error) error {
	ctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	retry := time.NewTicker(interval)
	defer retry.Stop()
	var last error
	for {
		err := fetch(ctx)
		if err == nil {
			return nil
		}
		if last == nil || ctx.Err() == nil {
			last = err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("no access token from the gateway: %w", last)
		case <-retry.C:
		}
	}
}

// reportCall prints one call's result and reports whether it succeeded.
func (e *env) reportCall(f *ehrFlags, what string, resp *ehrclient.Response, err error, id string) bool {
	line := map[string]any{"call": what}
	switch {
	case err != nil:
		line["error"] = err.Error()
	default:
		line["status"], line["exchange"], line["record"] = resp.Status, resp.Header.Get("X-Request-Id"), resp.Header.Get("X-Gatehouse-Record")
		if id != "" {
			line["subscription"] = id
		}
	}
	ok := err == nil && resp.Status < 300
	if f.asJSON {
		e.printJSON(line)
		return ok
	}
	if err != nil {
		e.errorf("%s: %v", what, err)
		return false
	}
	fmt.Fprintf(e.stdout, "%s: status %d, exchange %s, record %s", what, resp.Status, line["exchange"], line["record"])
	if id != "" {
		fmt.Fprintf(e.stdout, ", Subscription %s", id)
	}
	fmt.Fprintln(e.stdout)
	return ok
}

// printNotifications prints each notification as it arrives until ctx
// ends, and returns the final state.
func (e *env) printNotifications(ctx context.Context, f *ehrFlags, sim *ehrsim.Sim) *ehrsim.Snapshot {
	printed := 0
	for {
		snap, err := sim.Wait(ctx, "notifications", func(s *ehrsim.Snapshot) bool { return len(s.Notifications) > printed })
		for _, n := range snap.Notifications[printed:] {
			e.printNotification(f, n)
		}
		printed = len(snap.Notifications)
		if err != nil {
			return snap
		}
	}
}

func (e *env) printNotification(f *ehrFlags, n ehrsim.Notification) {
	if f.asJSON {
		e.printJSON(map[string]any{"notification": n})
		return
	}
	var numbers []string
	for _, ev := range n.Events {
		numbers = append(numbers, fmt.Sprint(ev.Number))
	}
	verdict := "accepted"
	if !n.Accepted {
		verdict = fmt.Sprintf("rejected with %d: %s", n.StatusCode, n.Problem)
	}
	fmt.Fprintf(e.stdout, "notification: %s, Subscription %s, events [%s], strict %v, gap %v, duplicates %v, exchange %s: %s\n",
		n.Type, n.Subscription, strings.Join(numbers, " "), n.Strict, n.Gap, n.Duplicates, n.ExchangeID, verdict)
}

func (e *env) printJSON(v any) {
	b, err := json.Marshal(v)
	if err != nil {
		e.errorf("encoding a JSON line failed: %v", err)
		return
	}
	fmt.Fprintln(e.stdout, string(b))
}
