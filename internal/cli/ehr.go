package cli

import (
	"encoding/json"
	"flag"
	"fmt"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/gatehouse-health/gatehouse/internal/app"
	"github.com/gatehouse-health/gatehouse/internal/config"
	"github.com/gatehouse-health/gatehouse/internal/ehrsim"
	"github.com/gatehouse-health/gatehouse/internal/pki"
	"github.com/gatehouse-health/gatehouse/internal/safefile"
)

const ehrSynopsis = `gatehouse ehr --gateway URL --org SYSTEM|VALUE --cert FILE --key FILE --ca FILE --server-cert FILE --server-key FILE --payer-jwks FILE [options]`

// gatewayWait bounds how long the simulator retries its first call while
// the gateway is not reachable yet, so that the gateway may start after
// it (the gateway fetches the EHR's JWKS when it starts).
const gatewayWait = 30 * time.Second

// maxKeyFileBytes caps a JWK or JWK set file.
const maxKeyFileBytes = 64 << 10

// maxEHRFileBytes caps a request Bundle file of --submit or --inquire at
// twice the gateway's default body limit, so that the gateway, not the
// simulator, refuses a body between the two.
const maxEHRFileBytes = 2 * config.DefaultMaxBodyBytes

// ehrFlags are the options of gatehouse ehr.
type ehrFlags struct {
	gateway, clientID, org, scope               string
	certFile, keyFile, caFile, assertionKeyFile string
	serverCertFile, serverKeyFile               string
	payerClientID, payerJWKSFile, payerCAFile   string
	jwksListen, fhirListen                      string
	subscribe, asJSON                           bool
	duration                                    time.Duration
	submit, inquire                             multiFlag
}

// multiFlag collects a repeated option.
type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

// ehr runs the EHR simulator against a running gateway: it serves its
// JWKS and its mutual-TLS rest-hook endpoint, optionally subscribes and
// submits, and prints every notification it receives until --for ends or
// the process is interrupted.
func (e *env) ehr(args []string) int {
	var f ehrFlags
	fs := e.flags("ehr")
	fs.StringVar(&f.gateway, "gateway", "", "the gateway's `URL`, its public_url, which client assertions name as their audience, such as https://localhost:8443 (required)")
	fs.StringVar(&f.clientID, "client-id", app.DevPartner, "the EHR's partner and OAuth client `ID` at the gateway")
	fs.StringVar(&f.org, "org", "", "the EHR's organisation as `SYSTEM|VALUE`, such as http://hl7.org/fhir/sid/us-npi|8189991234 (required)")
	fs.StringVar(&f.scope, "scope", app.DevScopes+" system/Subscription.cruds system/Subscription.$status system/Subscription.$events", "`SCOPES` to request, space separated")
	fs.StringVar(&f.certFile, "cert", "", "the EHR's client certificate `FILE` (PEM) toward the gateway (required)")
	fs.StringVar(&f.keyFile, "key", "", "the key `FILE` (PEM) of --cert (required)")
	fs.StringVar(&f.caFile, "ca", "", "CA bundle `FILE` that verifies the gateway's server certificate (required)")
	fs.StringVar(&f.assertionKeyFile, "assertion-key", "", "private JWK `FILE` that signs client assertions; default a fresh ES384 key, served at the JWKS URL")
	fs.StringVar(&f.serverCertFile, "server-cert", "", "server certificate `FILE` (PEM) of the EHR's own listeners, naming 127.0.0.1 (required)")
	fs.StringVar(&f.serverKeyFile, "server-key", "", "the key `FILE` (PEM) of --server-cert (required)")
	fs.StringVar(&f.payerClientID, "payer-client-id", ehrsim.DevPayerClientID, "the payer's client `ID` at the EHR, named by its certificate's urn:gatehouse:partner: URI SAN")
	fs.StringVar(&f.payerJWKSFile, "payer-jwks", "", "`FILE` with the payer's public JWK set (the gateway's /.well-known/jwks.json) (required)")
	fs.StringVar(&f.payerCAFile, "payer-ca", "", "CA bundle `FILE` that verifies the payer's client certificate; default --ca")
	fs.StringVar(&f.jwksListen, "jwks-listen", "127.0.0.1:0", "loopback `ADDR` of the JWKS listener (server TLS)")
	fs.StringVar(&f.fhirListen, "fhir-listen", "127.0.0.1:0", "loopback `ADDR` of the token and rest-hook listener (mutual TLS)")
	fs.BoolVar(&f.subscribe, "subscribe", false, "create a Subscription to the PAS topic with the EHR's rest-hook endpoint")
	fs.Var(&f.submit, "submit", "PAS request bundle `FILE` to submit; repeat for more")
	fs.Var(&f.inquire, "inquire", "PAS request bundle `FILE` to inquire about, after every --submit: sends the PAS inquiry Bundle built from it; repeat for more")
	// The simulator keeps serving after a failed call or without
	// --subscribe, because the gateway fetches its JWKS and the payer
	// sends it requests on its own schedule; the exit status is 1 either way.
	fs.DurationVar(&f.duration, "for", 0, "stop after this `DURATION`, such as 30s; default: until interrupted. The simulator serves its JWKS, token and FHIR endpoints for the whole time, even without --subscribe or after a failed call")
	fs.BoolVar(&f.asJSON, "json", false, "print one JSON object per line")
	if code, ok := e.parse(fs, ehrSynopsis, args); !ok {
		return code
	}
	if code, ok := e.checkEHRFlags(fs, &f); !ok {
		return code
	}
	opts, err := f.options()
	if err != nil {
		// Every error of options names a file that could not be used.
		e.errorf("%v", err)
		return exitUsage
	}
	return e.runEHR(&f, opts)
}

// checkEHRFlags reports missing or invalid options with exit code 2.
func (e *env) checkEHRFlags(fs *flag.FlagSet, f *ehrFlags) (int, bool) {
	for _, name := range []string{"gateway", "org", "cert", "key", "ca", "server-cert", "server-key", "payer-jwks"} {
		if fs.Lookup(name).Value.String() == "" {
			e.errorf("missing --%s", name)
			e.hint("usage: %s", ehrSynopsis)
			return 2, false
		}
	}
	if !strings.HasPrefix(f.gateway, "https://") {
		e.errorf("invalid --gateway %q: use the gateway's https public URL", f.gateway)
		return 2, false
	}
	if f.duration < 0 {
		e.errorf("invalid --for %s: use a positive duration, or leave it out to run until interrupted", f.duration)
		return 2, false
	}
	return 0, true
}

// options loads the files the flags name.
func (f *ehrFlags) options() (ehrsim.Options, error) {
	var opts ehrsim.Options
	system, value, found := strings.Cut(f.org, "|")
	if !found {
		system, value = "", f.org
	}

	client, err := pki.LoadTLSCertificate(f.certFile, f.keyFile)
	if err != nil {
		return opts, fmt.Errorf("--cert/--key: %w", err)
	}
	server, err := pki.LoadTLSCertificate(f.serverCertFile, f.serverKeyFile)
	if err != nil {
		return opts, fmt.Errorf("--server-cert/--server-key: %w", err)
	}
	roots, err := pki.LoadCertPool(f.caFile)
	if err != nil {
		return opts, fmt.Errorf("--ca: %w", err)
	}

	payerRoots := roots
	if f.payerCAFile != "" {
		if payerRoots, err = pki.LoadCertPool(f.payerCAFile); err != nil {
			return opts, fmt.Errorf("--payer-ca: %w", err)
		}
	}
	payerKeys, err := loadPublicKeys(f.payerJWKSFile)
	if err != nil {
		return opts, fmt.Errorf("--payer-jwks: %w", err)
	}

	var assertion *jose.JSONWebKey
	if f.assertionKeyFile != "" {
		if assertion, err = loadPrivateKey(f.assertionKeyFile); err != nil {
			return opts, fmt.Errorf("--assertion-key: %w", err)
		}
	}

	return ehrsim.Options{
		PartnerID: f.clientID, OrganizationSystem: system, OrganizationValue: value,
		ClientCertificate: client, AssertionKey: assertion, Scope: f.scope, GatewayRoots: roots,
		ServerCertificate: server, PayerRoots: payerRoots, PayerClientID: f.payerClientID, PayerKeys: payerKeys,
		JWKSAddr: f.jwksListen, FHIRAddr: f.fhirListen,
	}, nil
}

// loadPublicKeys reads a JWK set, or a single JWK, and keeps the public
// halves only.
func loadPublicKeys(path string) (jose.JSONWebKeySet, error) {
	var set jose.JSONWebKeySet
	data, err := safefile.ReadCapped(path, maxKeyFileBytes)
	if err != nil {
		return set, err
	}
	if err := json.Unmarshal(data, &set); err != nil || len(set.Keys) == 0 {
		var key jose.JSONWebKey
		if err := key.UnmarshalJSON(data); err != nil {
			return set, fmt.Errorf("%s is not a JWK set or a JWK: save the gateway's /.well-known/jwks.json there (served when outbound.assertion_key_file is set), or any public JWK set to test only the inbound direction", path)
		}
		set.Keys = []jose.JSONWebKey{key}
	}
	for i, k := range set.Keys {
		set.Keys[i] = k.Public()
		if !set.Keys[i].Valid() {
			return set, fmt.Errorf("%s: key %d has no valid public half", path, i)
		}
	}
	return set, nil
}

func loadPrivateKey(path string) (*jose.JSONWebKey, error) {
	data, err := safefile.ReadCapped(path, maxKeyFileBytes)
	if err != nil {
		return nil, err
	}
	var k jose.JSONWebKey
	if err := k.UnmarshalJSON(data); err != nil || k.IsPublic() {
		return nil, fmt.Errorf("%s is not a private JWK", path)
	}
	return &k, nil
}
