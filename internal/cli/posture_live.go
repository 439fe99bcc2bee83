package cli

import (
	"context"
	"flag"
	"fmt"
	"time"

	"github.com/gatehouse-health/gatehouse/internal/app"
	"github.com/gatehouse-health/gatehouse/internal/devmode"
	"github.com/gatehouse-health/gatehouse/internal/ehrclient"
	"github.com/gatehouse-health/gatehouse/internal/pki"
	"github.com/gatehouse-health/gatehouse/internal/posture"
)

// liveProbeBudget bounds a whole live probe run.
const liveProbeBudget = 2 * time.Minute

// partnerFiles are the options that name a registered partner's
// credential files: its client certificate and key, the CA that verifies
// the gateway, and the private JWK that signs its client assertions.
// 'posture --live' and 'token' share them.
type partnerFiles struct {
	certFile, keyFile, caFile, assertionKeyFile *string
}

func partnerFileFlags(fs *flag.FlagSet) partnerFiles {
	return partnerFiles{
		certFile:         fs.String("cert", "", "a registered partner's client certificate `FILE` (PEM); default the demo partner's in --data"),
		keyFile:          fs.String("key", "", "the key `FILE` (PEM) of --cert"),
		caFile:           fs.String("ca", "", "CA bundle `FILE` that verifies the gateway's server certificate, with --cert"),
		assertionKeyFile: fs.String("assertion-key", "", "private JWK `FILE` that signs the partner's client assertions, with --cert"),
	}
}

// given reports whether the command line, whose option names set
// contains, names any of the partner's files.
func (f partnerFiles) given(set map[string]bool) bool {
	return set["cert"] || set["key"] || set["ca"] || set["assertion-key"]
}

// named returns the options in the order the hints list them.
func (f partnerFiles) named() []struct{ name, value string } {
	return []struct{ name, value string }{
		{"cert", *f.certFile}, {"key", *f.keyFile}, {"ca", *f.caFile},
		{"assertion-key", *f.assertionKeyFile},
	}
}

// clientOptions loads the files the options name, for the partner whose
// OAuth client id is clientID at the gateway of url.
func (f partnerFiles) clientOptions(url, clientID, scope string) (ehrclient.Options, error) {
	cert, err := pki.LoadTLSCertificate(*f.certFile, *f.keyFile)
	if err != nil {
		return ehrclient.Options{}, unusableInput(fmt.Errorf("--cert/--key: %w", err))
	}
	roots, err := pki.LoadCertPool(*f.caFile)
	if err != nil {
		return ehrclient.Options{}, unusableInput(fmt.Errorf("--ca: %w", err))
	}
	key, err := loadPrivateKey(*f.assertionKeyFile)
	if err != nil {
		return ehrclient.Options{}, unusableInput(fmt.Errorf("--assertion-key: %w", err))
	}
	return ehrclient.Options{PublicURL: url, ClientID: clientID, AssertionKey: key,
		Certificate: cert, Roots: roots, Scope: scope}, nil
}

// liveCredentials are the options that name a registered partner's
// credentials for probing a production gateway. When all are empty, the
// demo partner of the --data directory probes.
type liveCredentials struct {
	files    partnerFiles
	clientID *string
	scope    *scopeList
}

func liveCredentialFlags(fs *flag.FlagSet) liveCredentials {
	return liveCredentials{
		files:    partnerFileFlags(fs),
		clientID: fs.String("client-id", "", "the partner's OAuth client `ID` at the gateway, with --cert"),
		scope:    scopeFlag(fs, app.DevScopes),
	}
}

// named returns the credential options in the order the hint lists them.
func (c liveCredentials) named() []struct{ name, value string } {
	named := c.files.named()
	return append(named[:3:3], struct{ name, value string }{"client-id", *c.clientID}, named[3])
}

// given reports whether some credential option is set.
func (c liveCredentials) given() bool {
	for _, o := range c.named() {
		if o.value != "" {
			return true
		}
	}
	return false
}

// checkLiveCredentials requires the credential options all together, and
// only with --live.
func (e *env) checkLiveCredentials(c liveCredentials, live bool) bool {
	if !c.given() {
		return true
	}
	if !live {
		e.errorf("--cert, --key, --ca, --client-id and --assertion-key are options of --live")
		e.hint("usage: %s", postureSynopsis)
		return false
	}
	for _, o := range c.named() {
		if o.value == "" {
			e.errorf("missing --%s: probing with a partner's credentials needs --cert, --key, --ca, --client-id and --assertion-key", o.name)
			e.hint("usage: %s", postureSynopsis)
			return false
		}
	}
	return true
}

// postureLive probes the gateway at url with the partner credentials the
// options name, or with the demo partner's from dataDir.
func (e *env) postureLive(url, dataDir string, c liveCredentials) (*posture.Report, bool) {
	if !c.given() {
		opts, err := devClientOptions(url, dataDir, c.scope.String())
		if err != nil {
			e.errorf("%v", err)
			e.hint("live probes use the demo partner's certificate and key from a development data directory: pass --data DIR, or a partner's credentials with --cert, --key, --ca, --client-id and --assertion-key")
			return nil, false
		}
		return e.probe(url, opts)
	}
	opts, err := c.files.clientOptions(url, *c.clientID, c.scope.String())
	if err != nil {
		e.errorf("%v", err)
		return nil, false
	}
	return e.probe(url, opts)
}

// probe runs the live probes against url as the partner of opts.
func (e *env) probe(url string, opts ehrclient.Options) (*posture.Report, bool) {
	client, err := ehrclient.New(opts)
	if err != nil {
		e.errorf("%v", err)
		return nil, false
	}
	defer client.CloseIdle()

	ctx, cancel := context.WithTimeout(e.ctx, liveProbeBudget)
	defer cancel()
	// A development gateway's public URL names localhost, so its token
	// endpoint rejects an assertion whose audience is the probed
	// https://127.0.0.1:PORT. A failed read leaves the audience unchanged,
	// and the probes then report the token error themselves.
	client.AdoptLoopbackAudience(ctx)
	report, err := posture.Probe(ctx, posture.LiveOptions{
		URL: url, Roots: opts.Roots, Certificate: opts.Certificate,
		Token: func(ctx context.Context) (string, error) {
			resp, err := client.Token(ctx)
			if err != nil {
				return "", err
			}
			return resp.AccessToken, nil
		},
	})
	if err != nil {
		e.errorf("%v", err)
		e.hint("usage: %s", postureSynopsis)
		return nil, false
	}
	return report, true
}

// devClientOptions returns the demo partner's credentials from a
// development data directory.
func devClientOptions(url, dataDir, scope string) (ehrclient.Options, error) {
	layout, err := openDevData(dataDir)
	if err != nil {
		return ehrclient.Options{}, err
	}
	return layoutClientOptions(layout, url, scope)
}

// layoutClientOptions returns the demo partner's credentials from an open
// development data directory.
func layoutClientOptions(layout *devmode.Layout, url, scope string) (ehrclient.Options, error) {
	key, err := layout.PartnerAssertionKey()
	if err != nil {
		return ehrclient.Options{}, unusableInput(err)
	}
	cert, err := layout.PartnerClientCertificate()
	if err != nil {
		return ehrclient.Options{}, unusableInput(err)
	}
	roots, err := layout.CAPool()
	if err != nil {
		return ehrclient.Options{}, unusableInput(err)
	}
	return ehrclient.Options{PublicURL: url, ClientID: app.DevPartner, AssertionKey: key,
		Certificate: cert, Roots: roots, Scope: scope}, nil
}
