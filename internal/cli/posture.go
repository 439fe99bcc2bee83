package cli

import (
	"fmt"
	"io"

	"github.com/gatehouse-health/gatehouse/internal/app"
	"github.com/gatehouse-health/gatehouse/internal/config"
	"github.com/gatehouse-health/gatehouse/internal/posture"
)

const postureSynopsis = "gatehouse posture [--config FILE] [--live URL [--data DIR | --cert FILE --key FILE --ca FILE --client-id ID --assertion-key FILE] [--scope SCOPES]] [--format table|json|sarif] [--fail-on high|medium|low]"

// posture audits a configuration, or probes a running gateway, and exits 1
// when a finding at or above the --fail-on severity did not pass.
func (e *env) posture(args []string) int {
	fs := e.flags("posture")
	cfgPath := fs.String("config", "", "configuration `FILE` to audit; without it, the development configuration in --data is audited")
	dataDir := fs.String("data", "./gatehouse-data", "development-mode data `DIR`: the configuration audited without --config, and the demo partner's credentials for --live")
	liveURL := fs.String("live", "", "probe the running gateway at `URL` (https://host:port) instead of auditing a configuration")
	format := fs.String("format", "table", "output `FORMAT`: table, json or sarif")
	failOn := fs.String("fail-on", "medium", "exit 1 when a finding at or above this `SEVERITY` (high, medium or low) did not pass")
	creds := liveCredentialFlags(fs)
	if code, ok := e.parse(fs, postureSynopsis, args); !ok {
		return code
	}
	threshold, err := posture.ParseSeverity(*failOn)
	if err != nil {
		e.errorf("invalid --fail-on %q", *failOn)
		e.hint("use --fail-on high, medium or low")
		return 2
	}
	write, ok := reportWriter(*format, threshold)
	if !ok {
		e.errorf("invalid --format %q", *format)
		e.hint("use --format table, json or sarif")
		return 2
	}
	if *liveURL != "" && *cfgPath != "" {
		e.errorf("--live and --config cannot be combined")
		e.hint("audit the configuration and probe the gateway in two runs")
		return 2
	}
	if !e.checkLiveCredentials(creds, *liveURL != "") {
		return 2
	}

	var report *posture.Report
	if *liveURL != "" {
		report, ok = e.postureLive(*liveURL, *dataDir, creds)
	} else {
		report, ok = e.postureConfig(*cfgPath, *dataDir)
	}
	if !ok {
		return 2
	}
	if err := write(e.stdout, report); err != nil {
		e.errorf("writing the report: %v", err)
		return 2
	}
	if report.FailsAt(threshold) {
		return 1
	}
	return 0
}

// reportWriter returns the writer for format.
func reportWriter(format string, threshold posture.Severity) (func(io.Writer, *posture.Report) error, bool) {
	switch format {
	case "table":
		return func(w io.Writer, r *posture.Report) error { return posture.WriteTable(w, r, threshold) }, true
	case "json":
		return func(w io.Writer, r *posture.Report) error { return posture.WriteJSON(w, r, threshold) }, true
	case "sarif":
		return posture.WriteSARIF, true
	}
	return nil, false
}

// postureConfig audits the configuration file, or the development
// configuration of dataDir when there is none.
func (e *env) postureConfig(cfgPath, dataDir string) (*posture.Report, bool) {
	var (
		cfg     *config.File
		source  []byte
		subject = cfgPath
		err     error
	)
	if cfgPath != "" {
		cfg, source, err = config.LoadWithData(cfgPath)
		if e.printConfigNotFound(err, cfgPath, "run 'gatehouse posture' without --config for the development configuration of --data") {
			return nil, false
		}
		if err != nil {
			e.errorf("%v", err)
			e.hint("%s; 'gatehouse serve' would refuse it too", configFixHint(err, cfgPath))
			return nil, false
		}
		e.warnConfigFiles(cfg, cfgPath)
	} else {
		if _, err := openDevData(dataDir); err != nil {
			e.errorf("%v", err)
			e.hint("pass --config FILE, or start the gateway once with 'gatehouse serve --data %s'", dataDir)
			return nil, false
		}
		// The addresses are serve's development defaults.
		if cfg, _, _, err = app.DevConfig(dataDir, "127.0.0.1:8443", "127.0.0.1:9443"); err != nil {
			e.errorf("%v", err)
			return nil, false
		}
		subject = fmt.Sprintf("the development configuration of %s", dataDir)
		e.warnf("no --config given: auditing %s", subject)
	}
	target, err := posture.NewTarget(cfg, cfgPath, subject, posture.Options{Source: source})
	if err != nil {
		e.errorf("%v", err)
		return nil, false
	}
	return posture.Audit(target), true
}
