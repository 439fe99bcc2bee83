package posture

import (
	"bufio"
	"fmt"
	"strings"
	"time"

	"github.com/gatehouse-health/gatehouse/internal/config"
	"github.com/gatehouse-health/gatehouse/internal/safefile"
)

// settings contains the values the network, logging and policy checks
// compare, in one form whether or not config.File has a key for them yet.
// settingsFrom fills each field from the configuration; while a key does
// not exist, its field keeps the value that describes today's product (nil
// for a list) and the check reports the control as not configured. When a
// key is added, one line in settingsFrom copies it and the check becomes a
// real comparison.
type settings struct {
	// sourceAllowlist lists the networks partners may connect from, and the
	// proxies whose forwarded addresses are believed; nil when not
	// configured.
	sourceAllowlist []entry
	// egressAllowlist lists the destinations the gateway may connect to;
	// nil when not configured.
	egressAllowlist []entry
	// logRecipients are the keys recorded bodies are encrypted to; nil
	// when not configured.
	logRecipients []string
	// witnesses are the URLs of the checkpoint witnesses.
	witnesses []string
	// retention is how long recorded bodies stay readable; 0 means
	// forever. retentionSet reports whether the configuration can say.
	retention    time.Duration
	retentionSet bool
	// strictMode lists each key that can switch strict profile validation
	// off, with whether it is on there; nil when strict mode cannot be
	// configured.
	strictMode []strictSwitch
	// killSwitchRules are the alert rules that engage the kill switch.
	killSwitchRules []string
	// alertRules are the volume and anomaly alert rules.
	alertRules []string
	// jwksURLs maps a partner index to its hosted JWKS URL.
	jwksURLs map[int]string
	// searchRestricted reports whether the gateway refuses _has, chained
	// search and _include:iterate unless a partner is granted them.
	searchRestricted bool
	// searchGrants maps a partner index to the search features it is
	// granted explicitly ("_has", "chain", "_include:iterate").
	searchGrants map[int][]string
	// tokenBinding reports whether access tokens are bound to the client
	// certificate.
	tokenBinding bool
	// debugEndpoints reports whether some listener serves debug handlers
	// (profiling, variable dumps).
	debugEndpoints bool
}

func witnessURLs(list []config.Witness) []string {
	out := make([]string, 0, len(list))
	for _, w := range list {
		out = append(out, w.URL)
	}
	return out
}

// entry is one list item with its key path.
type entry struct{ key, value string }

func entries(key string, values []string) []entry {
	out := make([]entry, 0, len(values))
	for i, v := range values {
		out = append(out, entry{fmt.Sprintf("%s[%d]", key, i), v})
	}
	return out
}

// settingsFrom reads the settings from f.
func settingsFrom(f *config.File) settings {
	s := settings{
		// The gateway checks cnf.x5t#S256 on every request and no setting
		// turns that off.
		tokenBinding: true,
		// No listener serves profiling or debug handlers in this version.
		debugEndpoints: false,
		// The policy refuses _has, chained parameters and
		// _include:iterate unless the partner holds the grant.
		searchRestricted: true,
		searchGrants:     searchGrants(f.Partners),

		sourceAllowlist: entries("network.allow_sources", f.Network.AllowSources),
		egressAllowlist: entries("egress.allow", f.Egress.Allow),
		witnesses:       witnessURLs(f.Audit.Witnesses),
		retention:       f.Audit.Retention,
		retentionSet:    true,
	}
	s.sourceAllowlist = append(s.sourceAllowlist, entries("network.trusted_proxies", f.Network.TrustedProxies)...)
	for i, p := range f.Partners {
		s.sourceAllowlist = append(s.sourceAllowlist, entries(fmt.Sprintf("partners[%d].sources", i), p.Sources)...)
	}
	if f.Audit.RecipientsFile != "" {
		s.logRecipients = readRecipients(f.Resolve(f.Audit.RecipientsFile))
	}
	s.strictMode = strictSwitches(f)
	s.alertRules, s.killSwitchRules = alertRules(f.Alerts)
	s.jwksURLs = map[int]string{}
	for i, p := range f.Partners {
		if p.JWKSURL != "" {
			s.jwksURLs[i] = p.JWKSURL
		}
	}
	return s
}

// searchGrants maps a partner index to the search features it holds a
// grant for, named as the search parameters they open.
func searchGrants(partners []config.Partner) map[int][]string {
	names := map[string]string{"has": "_has", "chain": "chain", "include-iterate": "_include:iterate"}
	out := map[int][]string{}
	for i, p := range partners {
		for _, g := range p.Grants {
			if name, ok := names[g.Feature]; ok {
				out[i] = append(out[i], name)
			}
		}
	}
	return out
}

// strictSwitch is one key that can turn strict mode off: strict.mode, a
// strict.skip entry, or a partner's strict or strict_skip entry.
type strictSwitch struct {
	// key is the configuration key path, such as partners[0].strict.
	key string
	// where is the scope of the key as a finding names it, such as
	// `partner "acme-ehr"` or `Claim/$inquire for every partner`.
	where string
	on    bool
}

// strictSwitches lists each key that turns strict mode off, for every
// partner or for some partners or interactions, with whether strict mode
// stays on there. An exempted interaction counts as off.
func strictSwitches(f *config.File) []strictSwitch {
	out := []strictSwitch{{key: "strict.mode", where: "every partner and direction", on: f.Strict.Mode != "off"}}
	for i, pattern := range f.Strict.Skip {
		out = append(out, strictSwitch{key: fmt.Sprintf("strict.skip[%d]", i), where: pattern + " for every partner"})
	}
	for i, p := range f.Partners {
		at := fmt.Sprintf("partners[%d]", i)
		if p.Strict != nil {
			out = append(out, strictSwitch{key: at + ".strict", where: fmt.Sprintf("partner %q", p.ID), on: *p.Strict})
		}
		for j, pattern := range p.StrictSkip {
			out = append(out, strictSwitch{key: fmt.Sprintf("%s.strict_skip[%d]", at, j), where: fmt.Sprintf("%s of partner %q", pattern, p.ID)})
		}
	}
	return out
}

// alertRules lists the alert rules the alerts section defines, and those
// of them that engage the kill switch: the high-severity ones (thresholds
// and canaries) when alerts.kill_switch is on, otherwise none (nil).
func alertRules(a config.Alerts) (all, cutting []string) {
	all = []string{}
	var high []string
	th := map[string]int64{"requests": a.Thresholds.Requests, "patients": a.Thresholds.Patients, "bytes_out": a.Thresholds.BytesOut,
		"denials": a.Thresholds.Denials, "validation_failures": a.Thresholds.ValidationFailures}
	for _, m := range []string{"requests", "patients", "bytes_out", "denials", "validation_failures"} {
		if a.Baselines.On() {
			all = append(all, "baseline."+m)
		}
		if th[m] > 0 {
			high = append(high, "threshold."+m)
		}
	}
	if len(a.CanaryMembers) > 0 {
		high = append(high, "canary")
	}
	all = append(all, high...)
	if a.KillSwitch && len(high) > 0 {
		cutting = high
	}
	return all, cutting
}

// readRecipients returns the non-empty, non-comment lines of an age
// recipients file; an unreadable file gives an empty, non-nil list.
func readRecipients(path string) []string {
	out := []string{}
	// OpenRead does not block on a FIFO without a writer, and the
	// scanner stops at its first line longer than 64 KiB, so a device
	// such as /dev/zero ends the read too.
	fh, err := safefile.OpenRead(path)
	if err != nil {
		return out
	}
	defer fh.Close()
	sc := bufio.NewScanner(fh)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line != "" && !strings.HasPrefix(line, "#") {
			out = append(out, line)
		}
	}
	return out
}
