package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"maps"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gatehouse-health/gatehouse/internal/app"
	"github.com/gatehouse-health/gatehouse/internal/config"
	"github.com/gatehouse-health/gatehouse/internal/devmode"
	"github.com/gatehouse-health/gatehouse/internal/ehrclient"
	"github.com/gatehouse-health/gatehouse/internal/loadgen"
)

const loadSynopsis = "gatehouse load [--synthea FILE.tgz | --bundles DIR] [--write-bundles DIR | [--rate N/s] [--concurrency C] [--duration D] [--json] [--target URL [--data DIR] | --target URL --partner ID --cert FILE --key FILE --ca FILE --assertion-key FILE] [--scope SCOPES]...]"

var loadPartnerUse = partnerUse{purpose: "a load as a registered partner", urlFlag: "target", synopsis: loadSynopsis}

// load replays PAS prior-authorization requests through a gateway and
// reports throughput and latency. Without --target or --data it starts a
// development-mode gateway of its own in a temporary directory. With a
// registered partner's files it loads the gateway at --target, which may
// run with a configuration file, as that partner.
func (e *env) load(args []string) int {
	fs := e.flags("load")
	synthea := fs.String("synthea", "", "Synthea `FILE.tgz` of patient Bundles whose claims become the requests; default: built-in requests shaped like them")
	bundles := fs.String("bundles", "", "`DIR` of PAS request bundles (*.json) to replay instead")
	rateText := fs.String("rate", "50/s", fmt.Sprintf("open-loop request rate `N/s`, at most %d/s; 0 sends closed loop, each worker sending as soon as it has a response", loadgen.MaxRate))
	concurrency := fs.Int("concurrency", 8, fmt.Sprintf("number of workers `C`, 1 to %d, each with its own connection and access token", loadgen.MaxConcurrency))
	duration := fs.Duration("duration", 10*time.Second, fmt.Sprintf("how long to send requests, `D` such as 30s, at most %s", loadgen.MaxDuration))
	asJSON := fs.Bool("json", false, "print the summary as one JSON object")
	targetURL := fs.String("target", "", "public `URL` of a running gateway on this machine; default: the one --data names, else a new one in a temporary directory")
	dataDir := fs.String("data", "./gatehouse-data", "development-mode data `DIR` of the running gateway, for the partner's certificate and key; used with --target or when given")
	writeDir := fs.String("write-bundles", "", "write the requests as PAS request Bundles (*.json) into `DIR`, created if missing, and exit without sending them")
	partner := fs.String("partner", app.DevPartner, "the partner's OAuth client `ID` at the gateway (partners[].id); required with --cert")
	scope := scopeFlag(fs, app.DevScopes)
	files := partnerFileFlags(fs)
	if code, ok := e.parse(fs, loadSynopsis, args); !ok {
		return code
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	// Without --data or --target the load goes to a gateway of its own, so
	// that a run does not depend on what the working directory holds.
	// --target alone finds the partner's credentials where 'gatehouse
	// serve' and 'gatehouse token' do.
	if !set["data"] && !set["target"] {
		*dataDir = ""
	}

	rate, err := parseRate(*rateText)
	if err == nil && *synthea != "" && *bundles != "" {
		err = errors.New("--synthea and --bundles cannot be used together")
	}
	if err == nil && *writeDir != "" && (set["target"] || set["data"] || set["scope"] || files.given(set)) {
		err = errors.New("--write-bundles cannot be combined with --target, --data, --scope or a partner's files: it writes the requests and sends none")
	}
	if err != nil {
		e.errorf("%v", err)
		e.hint("usage: %s", loadSynopsis)
		return 2
	}
	if err := loadgen.CheckLimits(rate, *concurrency, *duration); err != nil {
		var limit *loadgen.LimitError
		if errors.As(err, &limit) {
			e.errorf("invalid --%s %s: use %s", limit.Option, limit.Value, limit.Allowed)
		} else {
			e.errorf("%v", err)
		}
		e.hint("the limits are --rate 0 to %d/s, --concurrency 1 to %d and --duration up to %s", loadgen.MaxRate, loadgen.MaxConcurrency, loadgen.MaxDuration)
		return 2
	}

	// The options are checked before the requests are read, which can
	// take seconds for a large Synthea archive.
	var partnerTarget *loadgen.Gateway
	if files.given(set) {
		opts, code := e.registeredPartnerOptions(loadPartnerUse, files, set, *targetURL, *partner, scope.String())
		if code != 0 {
			return code
		}
		if err := loadgen.CheckLoopbackURL(*targetURL); err != nil {
			e.errorf("%v", err)
			return 1
		}
		partnerTarget = gatewayFromOptions(opts)
	} else if code := e.checkDevPartner(*partner); code != 0 {
		return code
	}

	reqs, err := e.loadRequests(*synthea, *bundles)
	if err != nil {
		e.errorf("%v", err)
		return exitCode(err)
	}
	if *writeDir != "" {
		return e.writeLoadBundles(*writeDir, reqs)
	}
	var target loadgen.Target = partnerTarget
	if partnerTarget == nil {
		var stop func()
		target, stop, err = e.loadTarget(*targetURL, *dataDir, scope.String(), rate, reqs)
		if err != nil {
			e.errorf("%v", err)
			if errors.Is(err, errNoDevGateway) {
				e.noDevGatewayHint(*dataDir)
			}
			return exitCode(err)
		}
		defer stop()
	}

	sum, err := loadgen.Run(e.ctx, loadgen.Options{
		Requests:    reqs,
		Target:      target,
		Rate:        rate,
		Concurrency: *concurrency,
		Duration:    *duration,
		Progress:    e.loadProgress,
	})
	if err != nil {
		e.errorf("%v", err)
		if partnerTarget != nil {
			e.hint("%s", partnerTokenHint(err, "--target", partnerTarget.PublicURL))
		}
		return 1
	}
	return e.printLoadResult(sum, *asJSON)
}

// writeLoadBundles writes reqs into dir for sending by hand.
func (e *env) writeLoadBundles(dir string, reqs []*loadgen.Template) int {
	n, err := loadgen.WriteBundles(dir, reqs)
	if err != nil {
		e.errorf("--write-bundles: %v (%d of %d request bundles written)", err, n, len(reqs))
		if errors.Is(err, fs.ErrExist) {
			e.hint("pass a new or empty directory to --write-bundles; existing files are never overwritten")
		}
		return 1
	}
	fmt.Fprintf(e.stderr, "gatehouse: load: wrote %d request bundles to %s; none was sent\n", n, dir)
	return 0
}

// noDevGatewayHint prints the next step when dataDir is not the data
// directory of a running development gateway.
func (e *env) noDevGatewayHint(dataDir string) {
	// Suggesting development mode in a directory that already contains other
	// files would mix generated keys into it.
	if entries, _ := os.ReadDir(dataDir); len(entries) > 0 {
		e.hint("without --cert, load uses development data; against a gateway with a configuration file, pass --target, --partner, --cert, --key, --ca and --assertion-key")
		return
	}
	e.hint("start the gateway with 'gatehouse serve --data %s', or pass --data with its data directory; without --data and --target, load starts a gateway of its own; "+
		"against a gateway with a configuration file, pass a registered partner's files with --partner, --cert, --key, --ca and --assertion-key", shellWord(dataDir))
}

// parseRate reads "20", "20/s" or "0".
func parseRate(text string) (float64, error) {
	v, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(text), "/s"), 64)
	if err != nil || math.IsNaN(v) || math.IsInf(v, 0) || v < 0 {
		return 0, fmt.Errorf("invalid --rate %q: use requests per second, such as 20/s, or 0 for closed loop", text)
	}
	if v > loadgen.MaxRate {
		return 0, fmt.Errorf("--rate %q is above the cap of %d/s", text, loadgen.MaxRate)
	}
	return v, nil
}

// loadRequests prepares the requests and prints their source on stderr.
// An error about --synthea or --bundles is an inputError.
func (e *env) loadRequests(synthea, bundles string) ([]*loadgen.Template, error) {
	switch {
	case synthea != "":
		reqs, st, err := loadgen.FromSynthea(synthea, loadgen.SyntheaOptions{})
		if err != nil {
			return nil, unusableInput(fmt.Errorf("--synthea: %w", err))
		}
		fmt.Fprintf(e.stderr, "gatehouse: load: %d requests from %d Synthea patients in %s (%d claims skipped%s)\n",
			len(reqs), st.Patients, filepath.Base(synthea), st.Claims-st.Requests, skipReasons(st.Skipped))
		if len(reqs) >= loadgen.DefaultMaxRequests {
			e.warnf("reached the cap of %d distinct requests: the claims after that point in the archive were not read", loadgen.DefaultMaxRequests)
		}
		return reqs, nil
	case bundles != "":
		reqs, skipped, err := loadgen.FromDir(bundles)
		for _, s := range skipped {
			e.warnf("skipping %s: %s", s.File, s.Reason)
		}
		if err != nil {
			return nil, unusableInput(fmt.Errorf("--bundles: %w", err))
		}
		fmt.Fprintf(e.stderr, "gatehouse: load: %d request bundles from %s\n", len(reqs), bundles)
		return reqs, nil
	}
	return loadgen.Builtin(0, 1, time.Now())
}

// errNoDevGateway marks a data directory that names no running
// development gateway.
var errNoDevGateway = errors.New("no development gateway to load")

// loadTarget returns the gateway to load, with the demo partner asking
// for scope: the running one at targetURL, the one dataDir's endpoint file
// names, or a new development-mode gateway in a temporary directory, which
// stop closes.
func (e *env) loadTarget(targetURL, dataDir, scope string, rate float64, reqs []*loadgen.Template) (loadgen.Target, func(), error) {
	if dataDir == "" {
		return e.startLoadGateway(scope, rate, reqs)
	}
	layout, err := openDevData(dataDir)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %w", errNoDevGateway, err)
	}
	if targetURL == "" {
		if targetURL, err = readPublicURL(layout.Dir); err != nil {
			return nil, nil, fmt.Errorf("%w: %w", errNoDevGateway, err)
		}
	}
	if err := loadgen.CheckLoopbackURL(targetURL); err != nil {
		return nil, nil, err
	}
	target, err := gatewayTarget(layout, targetURL, scope)
	return target, func() {}, err
}

// startLoadGateway starts a development-mode gateway with its built-in
// payer service on loopback ports, as the demo does. The partner's rate
// limit becomes twice the load's rate (at least the default, and MaxRate
// for a closed loop), so that the limiter runs but does not reject the load.
func (e *env) startLoadGateway(scope string, rate float64, reqs []*loadgen.Template) (loadgen.Target, func(), error) {
	tmp, err := os.MkdirTemp("", "gatehouse-load-")
	if err != nil {
		return nil, nil, err
	}
	cleanup := func() { os.RemoveAll(tmp) }
	cfg, layout, _, err := app.DevConfig(filepath.Join(tmp, "data"), "127.0.0.1:0", "")
	if err != nil {
		cleanup()
		return nil, nil, err
	}

	limit := max(config.DefaultPartnerRate, 2*rate)
	if rate == 0 {
		limit = loadgen.MaxRate
	}
	for i := range cfg.Partners {
		cfg.Partners[i].RateLimit = config.RateLimit{RequestsPerSecond: limit, Burst: int(2 * limit)}
	}

	rt, err := app.Start(e.ctx, cfg, app.Options{PayerMembers: e.loadMembers(reqs)})
	if err != nil {
		cleanup()
		return nil, nil, fmt.Errorf("start gateway: %w", err)
	}
	stop := func() {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(e.ctx), 15*time.Second)
		defer cancel()
		rt.Close(ctx)
		cleanup()
	}
	fmt.Fprintf(e.stderr, "gatehouse: load: started a development-mode gateway at %s (partner rate limit %g/s)\n", rt.PublicURL, limit)

	target, err := gatewayTarget(layout, rt.PublicURL, scope)
	if err != nil {
		stop()
		return nil, nil, err
	}
	return target, stop, nil
}

func (e *env) loadProgress(p loadgen.Progress) {
	fmt.Fprintf(e.stderr, "gatehouse: load: %3.0fs: %d sent, %d ok, %d rejected, %d failed, %d errors, %d in flight, %d/s\n",
		p.Elapsed.Seconds(), p.Sent, p.Succeeded, p.Rejected, p.Failed, p.Errors, p.InFlight, p.LastSecond)
}

// printLoadResult prints the summary. The exit code is 0 only when every
// request sent got a 2xx response that is not a rejection.
func (e *env) printLoadResult(sum *loadgen.Summary, asJSON bool) int {
	var err error
	if asJSON {
		err = sum.WriteJSON(e.stdout)
	} else {
		err = sum.WriteText(e.stdout)
	}
	if err != nil {
		e.errorf("writing the summary: %v", err)
		return 1
	}
	if sum.Successes > 0 && sum.Rejected == 0 && sum.Failures == 0 && sum.Errors == 0 {
		return 0
	}
	e.errorf("%d of %d requests did not succeed", sum.Sent-sum.Successes, sum.Sent)
	if sum.Statuses["403"] > 0 {
		e.hint("403 means the gateway's policy denied the requests: the partner's interactions, scopes and roles must allow Claim/$submit, with roles {claims: read}; the gateway's log names the rule")
	}
	if sum.Statuses["429"] > 0 {
		e.hint("429 means the partner's rate limit (partners[].rate_limit) was reached: lower --rate or raise the limit")
	}
	if sum.Rejected > 0 {
		// Last, so that it stays in view below the summary.
		e.warnf("%d of %d requests were rejected with a ClaimResponse of outcome error, usually because their patients are not members of the payer: "+
			"load the patients with 'gatehouse payer load', or run 'gatehouse load' without --target and --data so that it starts a gateway whose payer has them as members",
			sum.Rejected, sum.Sent)
	}
	return 1
}

// gatewayTarget returns the development partner of layout, asking for
// scope, as the load's client.
func gatewayTarget(layout *devmode.Layout, publicURL, scope string) (*loadgen.Gateway, error) {
	opts, err := layoutClientOptions(layout, publicURL, scope)
	if err != nil {
		return nil, err
	}
	return gatewayFromOptions(opts), nil
}

// gatewayFromOptions returns the partner of opts as the load's client.
func gatewayFromOptions(opts ehrclient.Options) *loadgen.Gateway {
	return &loadgen.Gateway{
		PublicURL: opts.PublicURL, ClientID: opts.ClientID, AssertionKey: opts.AssertionKey,
		Certificate: opts.Certificate, Roots: opts.Roots, Scope: opts.Scope,
	}
}

// loadMembers returns one request per distinct patient of reqs, for the
// payer of load's own gateway to store as members, so that it
// adjudicates the load instead of rejecting every patient as unknown. A patient that
// cannot be a member is left out with a warning, and its requests get the
// payer's rejection.
func (e *env) loadMembers(reqs []*loadgen.Template) [][]byte {
	seed, skipped := loadgen.MemberSeeds(reqs)
	if skipped > 0 {
		e.warnf("%d of %d requests name a patient without identifier, family name or birth date; the payer rejects them as unknown members", skipped, len(reqs))
	}
	return seed
}

// skipReasons returns the counts of skipped claims by reason, such as
// ": 40 no insurance, 6 no items with a code", or "" when there are none.
func skipReasons(skipped map[string]int) string {
	reasons := slices.Sorted(maps.Keys(skipped))
	parts := make([]string, 0, len(reasons))
	for _, reason := range reasons {
		if skipped[reason] > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", skipped[reason], reason))
		}
	}
	if len(parts) == 0 {
		return ""
	}
	return ": " + strings.Join(parts, ", ")
}
