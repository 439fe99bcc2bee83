package ehrsim

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/go-jose/go-jose/v4"

	"github.com/gatehouse-health/gatehouse/internal/config"
	"github.com/gatehouse-health/gatehouse/internal/devmode"
	"github.com/gatehouse-health/gatehouse/internal/pki"
	"github.com/gatehouse-health/gatehouse/internal/token"
)

// DevPayerClientID is the payer's client id at the simulator's
// authorization server in a DevKit.
const DevPayerClientID = "dev-payer"

// devEngineName names the payer service's engine certificate in a DevKit.
const devEngineName = "payer-service"

// Interactions and scopes a partner needs beyond the PAS operations to
// subscribe and catch up. PrepareDev also grants the workflow role.
var (
	subscriptionInteractions = []string{"Subscription.create", "Subscription.read",
		"Subscription/[id]/$status", "Subscription/[id]/$events"}
	subscriptionScopes = []string{"system/Subscription.cr", "system/Subscription.$status", "system/Subscription.$events"}
)

// DevKit is the set of credentials a development gateway (app.DevConfig)
// and one simulator need to exchange in both directions, all issued from
// the development CA. It contains the simulator's certificates and key,
// and the payer's outbound certificate, assertion key and notification
// engine certificate.
type DevKit struct {
	// Options starts the simulator. Its PartnerID is the development
	// partner.
	Options Options
	// EngineCertFile and EngineKeyFile are the payer service's engine
	// certificate toward the outbound listener.
	EngineCertFile, EngineKeyFile string

	caFile  string
	partner int // index of the partner in cfg.Partners
}

// PrepareDev issues the kit's certificates and keys into dir and amends
// cfg, a development configuration of the partner devmode.PartnerID: the
// partner may subscribe and catch up, and the gateway gets an outbound
// listener and notification credentials. Attach completes cfg once the
// simulator listens.
func PrepareDev(cfg *config.File, layout *devmode.Layout, dir string) (*DevKit, error) {
	k := &DevKit{caFile: layout.CACertFile, partner: -1}
	for i, p := range cfg.Partners {
		if p.ID == devmode.PartnerID {
			k.partner = i
		}
	}
	if k.partner < 0 {
		return nil, fmt.Errorf("ehrsim: the configuration has no partner %q", devmode.PartnerID)
	}
	ca, err := pki.LoadCA(layout.CACertFile, layout.CAKeyFile)
	if err != nil {
		return nil, fmt.Errorf("ehrsim: %w", err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("ehrsim: %w", err)
	}
	if err := k.issueSimulator(ca); err != nil {
		return nil, err
	}
	payerKeys, err := k.issuePayer(cfg, ca, dir)
	if err != nil {
		return nil, err
	}
	k.Options.PayerClientID, k.Options.PayerKeys = DevPayerClientID, payerKeys

	p := &cfg.Partners[k.partner]
	p.Interactions = appendMissing(p.Interactions, subscriptionInteractions...)
	p.Scopes = appendMissing(p.Scopes, subscriptionScopes...)
	if p.Roles == nil {
		p.Roles = map[string]string{}
	}
	p.Roles["workflow"] = "write"
	k.Options.PartnerID = p.ID
	k.Options.OrganizationSystem, k.Options.OrganizationValue = p.Organization.System, p.Organization.Value
	k.Options.Scope = strings.Join(p.Scopes, " ")
	return k, nil
}

// issueSimulator issues the simulator's client and server certificates.
// The simulator makes its own assertion key when it starts.
func (k *DevKit) issueSimulator(ca *pki.CA) error {
	npi, err := pki.NPIURI(devmode.PartnerNPI)
	if err != nil {
		return fmt.Errorf("ehrsim: %w", err)
	}
	client, err := ca.IssueClient(pki.ClientOptions{PartnerID: devmode.PartnerID, OrganizationURIs: []string{npi}})
	if err != nil {
		return fmt.Errorf("ehrsim: client certificate: %w", err)
	}
	server, err := ca.IssueServer(pki.ServerOptions{DNSNames: []string{"localhost"},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback}})
	if err != nil {
		return fmt.Errorf("ehrsim: server certificate: %w", err)
	}
	if k.Options.ClientCertificate, err = client.TLSCertificate(); err != nil {
		return fmt.Errorf("ehrsim: %w", err)
	}
	if k.Options.ServerCertificate, err = server.TLSCertificate(); err != nil {
		return fmt.Errorf("ehrsim: %w", err)
	}
	k.Options.GatewayRoots, k.Options.PayerRoots = ca.CertPool(), ca.CertPool()
	return nil
}

// issuePayer writes the payer's outbound client certificate, its
// assertion key and the engine certificate into dir, points cfg at them,
// and returns the payer's public keys for the simulator.
func (k *DevKit) issuePayer(cfg *config.File, ca *pki.CA, dir string) (jose.JSONWebKeySet, error) {
	var none jose.JSONWebKeySet
	key, err := token.GenerateKey("ES384")
	if err != nil {
		return none, fmt.Errorf("ehrsim: %w", err)
	}
	keyJSON, err := json.Marshal(key)
	if err != nil {
		return none, fmt.Errorf("ehrsim: %w", err)
	}
	keyFile := filepath.Join(dir, "payer-assertion.jwk")
	if err := os.WriteFile(keyFile, keyJSON, 0o600); err != nil {
		return none, fmt.Errorf("ehrsim: %w", err)
	}

	payer, err := ca.IssueClient(pki.ClientOptions{PartnerID: DevPayerClientID})
	if err != nil {
		return none, fmt.Errorf("ehrsim: payer certificate: %w", err)
	}
	certFile, certKeyFile := filepath.Join(dir, "payer.pem"), filepath.Join(dir, "payer-key.pem")
	if err := payer.WriteFiles(certFile, certKeyFile); err != nil {
		return none, fmt.Errorf("ehrsim: %w", err)
	}

	engine, err := ca.IssueEngine(pki.AdminOptions{Name: devEngineName})
	if err != nil {
		return none, fmt.Errorf("ehrsim: engine certificate: %w", err)
	}
	k.EngineCertFile, k.EngineKeyFile = filepath.Join(dir, "engine.pem"), filepath.Join(dir, "engine-key.pem")
	if err := engine.WriteFiles(k.EngineCertFile, k.EngineKeyFile); err != nil {
		return none, fmt.Errorf("ehrsim: %w", err)
	}

	cfg.Outbound = config.Outbound{Listen: "127.0.0.1:0", ClientCAFile: k.caFile,
		CertFile: certFile, KeyFile: certKeyFile, AssertionKeyFile: keyFile}
	cfg.Payer.Notifications = config.Notifications{CertFile: k.EngineCertFile, KeyFile: k.EngineKeyFile}
	return jose.JSONWebKeySet{Keys: []jose.JSONWebKey{key.Public()}}, nil
}

// Attach completes cfg for a started simulator's endpoints. The partner's
// keys come from its JWKS URL, the payer's route to it is its FHIR base and token
// endpoint, and the egress guard lets the gateway reach both listeners.
// It validates cfg.
func (k *DevKit) Attach(cfg *config.File, sim Endpoints) error {
	p := &cfg.Partners[k.partner]
	p.JWKSFile, p.JWKS = "", ""
	p.JWKSURL, p.JWKSCAFile = sim.JWKSURL, k.caFile
	p.Outbound = &config.PartnerOutbound{
		FHIRBase: sim.FHIRBase, TokenURL: sim.TokenURL, ClientID: DevPayerClientID,
		Scopes: sim.PayerScopes, CAFile: k.caFile, Interactions: []string{HookPath},
	}
	cfg.Egress.Allow = appendMissing(cfg.Egress.Allow, sim.Addrs...)
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("ehrsim: round-trip configuration: %w", err)
	}
	return nil
}

func appendMissing(list []string, items ...string) []string {
	for _, it := range items {
		if !slices.Contains(list, it) {
			list = append(list, it)
		}
	}
	return list
}
