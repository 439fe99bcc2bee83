package cli

import (
	"errors"
	"flag"
	"fmt"
	"slices"
	"strings"

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
		return ehrclient.Options{}, exitCode(err)
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

// scopeList is the value of a --scope option: space-separated scopes,
// given once or repeated, checked against the scope-token syntax of RFC
// 6749 section 3.3 so that a typing error fails before any request. The
// default applies when the option is not given at all.
type scopeList struct {
	scopes []string
	given  bool
}

// scopeFlag defines --scope on fs with the default scopes def.
func scopeFlag(fs *flag.FlagSet, def string) *scopeList {
	s := &scopeList{scopes: strings.Fields(def)}
	// flag appends "(default ...)" itself, because the value's String
	// differs from that of a zero scopeList.
	fs.Var(s, "scope", "space-separated `SCOPES` to request, such as \"system/Claim.rs system/Claim.$submit\"; may be repeated")
	return s
}

// String returns the scope parameter of the token request.
func (s *scopeList) String() string { return strings.Join(s.scopes, " ") }

// Set adds the scopes of one --scope value. The first value replaces
// the default.
func (s *scopeList) Set(value string) error {
	tokens := strings.Fields(value)
	if len(tokens) == 0 {
		return errors.New("missing scope: pass one or more space-separated scopes")
	}
	for _, tok := range tokens {
		if !validScopeToken(tok) {
			return fmt.Errorf("invalid scope %q: a scope contains no quotes, backslashes or control characters", tok)
		}
	}
	if !s.given {
		s.scopes, s.given = nil, true
	}
	for _, tok := range tokens {
		if !slices.Contains(s.scopes, tok) {
			s.scopes = append(s.scopes, tok)
		}
	}
	return nil
}

// validScopeToken reports whether tok is a scope token of RFC 6749
// section 3.3: printable ASCII without space, '"' and '\'.
func validScopeToken(tok string) bool {
	for i := 0; i < len(tok); i++ {
		if c := tok[i]; c < 0x21 || c > 0x7e || c == '"' || c == '\\' {
			return false
		}
	}
	return tok != ""
}
