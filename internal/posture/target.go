package posture

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/gatehouse-health/gatehouse/internal/config"
	"github.com/gatehouse-health/gatehouse/internal/safefile"
	"github.com/gatehouse-health/gatehouse/internal/tlspolicy"
)

// Target is the input of a configuration audit: the configuration, the TLS
// settings the binary applies to it, and the time and trust store it is
// judged against.
type Target struct {
	Config *config.File
	// Subject names the configuration in reports.
	Subject string
	// File is the configuration file, for line numbers and SARIF
	// locations; empty for a configuration built in code.
	File string
	// Now is the time certificate expiry is judged at.
	Now time.Time
	// PublicRoots are the publicly trusted roots. A partner CA that chains
	// to one of them is not private.
	PublicRoots *x509.CertPool
	// Listeners are the TLS listeners the configuration opens.
	Listeners []Listener
	// Outbound is the TLS configuration of connections the gateway opens.
	Outbound *tls.Config

	settings settings
	lines    map[string]int
}

// Listener is one TLS listener and the configuration it serves with.
type Listener struct {
	Name string // "inbound", "admin" or "outbound"
	Key  string // its address key, such as admin.listen
	Addr string
	TLS  *tls.Config
}

// Options adjusts NewTarget.
type Options struct {
	// Now is the time of the audit; zero means time.Now.
	Now time.Time
	// PublicRoots replaces the system roots, for tests.
	PublicRoots *x509.CertPool
	// Source is the content of the configuration file, as
	// config.LoadWithData returned it. Nil makes NewTarget read the file
	// again, which finds a pipe such as a shell's <(...) already drained.
	Source []byte
}

// NewTarget prepares cfg for Audit. file is the configuration file cfg was
// loaded from, or empty for a configuration built in code (development
// mode); subject names it in reports.
func NewTarget(cfg *config.File, file, subject string, opts Options) (*Target, error) {
	t := &Target{Config: cfg, Subject: subject, File: file, Now: opts.Now, PublicRoots: opts.PublicRoots}
	if t.Now.IsZero() {
		t.Now = time.Now()
	}
	if t.PublicRoots == nil {
		// A missing system pool leaves PublicRoots nil; the private CA
		// check then reports that it could not run.
		t.PublicRoots, _ = x509.SystemCertPool()
	}
	if err := t.buildListeners(); err != nil {
		return nil, err
	}
	t.Outbound = tlspolicy.Client(nil, nil)
	t.settings = settingsFrom(cfg)
	if file != "" {
		data := opts.Source
		var err error
		if data == nil {
			if data, err = safefile.ReadCapped(file, config.MaxFileBytes); err != nil {
				return nil, fmt.Errorf("posture: %w", err)
			}
		}
		if t.lines, err = keyLines(data); err != nil {
			return nil, fmt.Errorf("posture: %s: %w", file, err)
		}
	}
	return t, nil
}

// buildListeners lists the listeners cfg opens with the TLS configuration
// the binary gives each. Every Gatehouse listener uses tlspolicy.Server; the
// certificate and pool here are placeholders, because the checks read only
// the policy fields.
func (t *Target) buildListeners() error {
	cfg := t.Config
	policy, err := tlspolicy.Server(tls.Certificate{}, x509.NewCertPool())
	if err != nil {
		return fmt.Errorf("posture: %w", err)
	}
	t.Listeners = []Listener{{Name: "inbound", Key: "listen", Addr: cfg.Listen, TLS: policy}}
	if cfg.Admin.Listen != "" {
		t.Listeners = append(t.Listeners, Listener{Name: "admin", Key: "admin.listen", Addr: cfg.Admin.Listen, TLS: policy.Clone()})
	}
	if cfg.Outbound.Listen != "" {
		t.Listeners = append(t.Listeners, Listener{Name: "outbound", Key: "outbound.listen", Addr: cfg.Outbound.Listen, TLS: policy.Clone()})
	}
	return nil
}

// line returns the line of key in the configuration file, or of its
// nearest parent that is there; 0 when none is.
func (t *Target) line(key string) int {
	for k := key; k != ""; k = parentKey(k) {
		if n, ok := t.lines[k]; ok {
			return n
		}
	}
	return 0
}

// Audit runs every configuration check of the catalogue on t.
func Audit(t *Target) *Report {
	r := &Report{Subject: t.Subject, Mode: ModeConfig, ConfigFile: t.File}
	for _, c := range Catalogue() {
		if c.Mode != ModeConfig {
			continue
		}
		r.Checks = append(r.Checks, c)
		r.Findings = append(r.Findings, complete(c, c.config(t), t.line)...)
	}
	sortFindings(r.Findings)
	return r
}

// Catalogue returns every check, in ID order.
func Catalogue() []Check {
	var all []Check
	for _, group := range [][]Check{tlsChecks, certificateChecks, devChecks, tokenChecks, policyChecks, identityChecks, networkChecks, adminChecks, logChecks, liveChecks} {
		all = append(all, group...)
	}
	slices.SortFunc(all, func(a, b Check) int { return strings.Compare(a.ID, b.ID) })
	return all
}
