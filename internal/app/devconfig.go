package app

import (
	"fmt"
	"net"
	"path/filepath"
	"strings"
	"time"

	"github.com/gatehouse-health/gatehouse/internal/auditlog"
	"github.com/gatehouse-health/gatehouse/internal/config"
	"github.com/gatehouse-health/gatehouse/internal/devmode"
)

// DevPartner is the partner development mode registers.
const DevPartner = devmode.PartnerID

// DevAuditOrigin names the development audit log.
const DevAuditOrigin = "gatehouse.localhost/dev-audit"

// DevCanaryMember is the canary member identifier of development mode, in
// token form.
const DevCanaryMember = "urn:gatehouse:dev:member|CANARY-0001"

// DevScopes are the scopes registered for DevPartner, space separated as a
// token request carries them.
const DevScopes = "system/Claim.rs system/ClaimResponse.rs system/Claim.$submit system/Claim.$inquire"

// DevConfig returns the development-mode configuration for the data
// directory dir, creating the directory's keys and certificates on first
// use. listen is the inbound listener address (host:port, port 0 for an
// ephemeral one); the public URL is filled in once the listener is bound.
// adminListen is the admin listener address; empty disables it.
func DevConfig(dir, listen, adminListen string) (*config.File, *devmode.Layout, bool, error) {
	layout, created, err := devmode.Ensure(dir, devmode.Options{})
	if err != nil {
		return nil, nil, false, err
	}
	if err := ensureDevAdmin(layout); err != nil {
		return nil, nil, false, err
	}
	auditKeys, err := auditlog.EnsureDevKeys(layout.Dir, DevAuditOrigin)
	if err != nil {
		return nil, nil, false, err
	}
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return nil, nil, false, fmt.Errorf("invalid listen address %q: use host:port", listen)
	}
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "localhost"
	}
	f := &config.File{
		Listen:    listen,
		PublicURL: "https://" + net.JoinHostPort(publicHost(host), port),
		PayerID:   config.Identifier{System: "http://hl7.org/fhir/sid/us-npi", Value: "1234567893"},
		// The PAS 2.0.1 examples name the insurer by the number 789312, not
		// a valid NPI; the demo replays them unchanged.
		PayerIDAliases: []config.Identifier{{System: "http://hl7.org/fhir/sid/us-npi", Value: "789312"}},
		TLS: config.TLS{
			CertFile:     layout.ServerCertFile,
			KeyFile:      layout.ServerKeyFile,
			ClientCAFile: layout.CACertFile,
		},
		Admin: config.Admin{Listen: adminListen},
		// Development mode serves this machine only.
		Network:  config.Network{AllowSources: []string{"127.0.0.0/8", "::1/128"}},
		Token:    config.Token{SigningKeyFile: layout.TokenKeyFile},
		Database: config.Database{Path: filepath.Join(layout.Dir, "gatehouse.db")},
		Audit: config.Audit{
			Origin:         DevAuditOrigin,
			SigningKeyFile: auditKeys.SigningKeyFile,
			RecipientsFile: auditKeys.RecipientsFile,
			CheckpointFile: auditKeys.CheckpointFile,
			// Short, so a development receipt is available within seconds.
			CheckpointInterval: 2 * time.Second,
		},
		// A canary member no demo bundle names, so that any request for it
		// shows an alert on the console.
		Alerts: config.Alerts{CanaryMembers: []string{DevCanaryMember}},
		Partners: []config.Partner{{
			ID:           DevPartner,
			Organization: config.Identifier{System: "http://hl7.org/fhir/sid/us-npi", Value: devmode.PartnerNPI},
			JWKSFile:     layout.JWKSFile,
			Scopes:       strings.Fields(DevScopes),
			// $submit and $inquire return ClaimResponses, which needs a claims read role.
			Roles:        map[string]string{"claims": "read"},
			Interactions: []string{"capabilities", "Claim/$submit", "Claim/$inquire"},
		}},
	}
	config.ApplyDefaults(f)
	if err := f.Validate(); err != nil {
		return nil, nil, false, fmt.Errorf("development configuration: %w", err)
	}
	return f, layout, created, nil
}

// publicHost maps a loopback bind address to "localhost", the name the
// development server certificate carries.
func publicHost(host string) string {
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		return "localhost"
	}
	return host
}
