package cli

import (
	"github.com/gatehouse-health/gatehouse/internal/app"
	"github.com/gatehouse-health/gatehouse/internal/ehrclient"
)

// partnerUse names, for the messages of registeredPartnerOptions, what a
// command does with a registered partner's files.
type partnerUse struct {
	purpose  string // such as "a token for a registered partner"
	urlFlag  string // the option that takes the gateway's public_url
	synopsis string
}

var tokenPartnerUse = partnerUse{purpose: "a token for a registered partner", urlFlag: "url", synopsis: tokenSynopsis}

// registeredPartnerOptions checks the options that name a registered
// partner's files and loads them. set contains the names of the options
// given on the command line. A non-zero code is the exit code to return.
func (e *env) registeredPartnerOptions(use partnerUse, files partnerFiles, set map[string]bool, url, partner, scope string) (ehrclient.Options, int) {
	for _, o := range files.named() {
		if o.value == "" {
			e.errorf("missing --%s: %s needs --%s, --partner, --cert, --key, --ca and --assertion-key", o.name, use.purpose, use.urlFlag)
			e.hint("usage: %s", use.synopsis)
			return ehrclient.Options{}, 2
		}
	}
	switch {
	case set["data"]:
		e.errorf("--data cannot be combined with --cert: the partner's files come from the options")
		e.hint("drop --data, or drop --cert, --key, --ca and --assertion-key to use the demo partner of DIR")
		return ehrclient.Options{}, 2
	case url == "":
		e.errorf("missing --%s: %s needs the gateway's public_url", use.urlFlag, use.purpose)
		e.hint("pass --%s https://HOST:PORT, the public_url of the gateway's configuration", use.urlFlag)
		return ehrclient.Options{}, 2
	case !set["partner"]:
		// The default is the development partner, which a configured
		// gateway rarely registers, so the id must be named.
		e.errorf("missing --partner: %s needs its id", use.purpose)
		e.hint("pass --partner ID, the partners[].id the gateway registers for this certificate")
		return ehrclient.Options{}, 2
	}
	opts, err := files.clientOptions(url, partner, scope)
	if err != nil {
		e.errorf("%v", err)
		e.hint("pass the partner's client certificate and key (PEM), the CA that signed the gateway's certificate (PEM) and the private JWK from 'gatehouse token keygen'")
		return ehrclient.Options{}, 1
	}
	return opts, 0
}

// checkDevPartner rejects a --partner other than the one partner that
// development mode creates, before the data directory or the network is
// touched. A non-zero code is the exit code to return.
func (e *env) checkDevPartner(partner string) int {
	if partner == app.DevPartner {
		return 0
	}
	e.errorf("unknown partner %q: development mode has only the partner demo-ehr", partner)
	e.hint("omit --partner, or pass --partner demo-ehr; for a registered partner of a configured gateway, pass its files with --cert, --key, --ca and --assertion-key")
	return 2
}
