// Package netguard enforces inbound source allowlists for Gatehouse's
// listeners.
//
// Three checks use the same compiled Guard:
//
//   - At accept time, before any TLS byte is read or written, the connection's
//     source address must be in the global allowlist. A refused connection is
//     closed at once, counted and logged (rate-limited).
//   - After the TLS handshake, CheckPartner checks the source address against
//     the allowlist of the partner named by the verified client certificate,
//     so a partner certificate used from outside that partner's networks is
//     refused.
//   - Behind a trusted proxy, the source address comes from the proxy: a
//     PROXY protocol version 2 header read at the start of the connection
//     (Options.ProxyProtocol), or the Forwarded and X-Forwarded-For request
//     headers (ClientAddr). Both are honoured only when the direct peer is in
//     Options.TrustedProxies. From any other peer they are ignored, so a
//     client cannot choose its own source address. The headers are also
//     ignored on a request whose TLS this server terminated, because a
//     proxy that only relays TCP cannot have written them.
//
// The package never logs except through Options.Logger.
package netguard

import (
	"fmt"
	"log/slog"
	"net/netip"
	"sync/atomic"
	"time"
)

// Rule identifiers carried by DeniedError and in log lines.
const (
	RuleGlobal        = "source.global"
	RulePartner       = "source.partner"
	RuleProxyHeader   = "source.proxy-header"
	RuleForwarded     = "source.forwarded-header"
	RuleUnknownSource = "source.unknown"
)

// DefaultProxyHeaderTimeout bounds the read of a PROXY protocol header.
const DefaultProxyHeaderTimeout = 5 * time.Second

// Options configures New.
type Options struct {
	// Allow is the global allowlist every connection's source address must
	// be in. Required: to accept any source, list 0.0.0.0/0 and ::/0
	// explicitly.
	Allow *Allowlist
	// Partners maps a partner id to the networks that partner may connect
	// from. A partner without an entry is limited by Allow alone.
	Partners map[string]*Allowlist
	// TrustedProxies are the direct peers whose PROXY protocol headers and
	// Forwarded or X-Forwarded-For headers state the client's address. Nil
	// trusts no proxy.
	TrustedProxies *Allowlist
	// ProxyProtocol requires a PROXY protocol version 2 header from every
	// connection whose direct peer is in TrustedProxies. Connections from
	// other peers are never parsed for one.
	ProxyProtocol bool
	// ProxyHeaderTimeout bounds the read of a PROXY protocol header. Zero
	// means DefaultProxyHeaderTimeout.
	ProxyHeaderTimeout time.Duration
	// Logger receives one line per refusal, at most one per LogInterval for
	// each rule, with the number of lines suppressed since the last one. Nil
	// discards them.
	Logger *slog.Logger
	// LogInterval is the minimum time between two refusal lines of the same
	// rule. Zero means one second.
	LogInterval time.Duration
	// Now returns the current time. Nil means time.Now.
	Now func() time.Time
}

// Guard is a compiled set of source allowlists. Its methods are safe for
// concurrent use.
type Guard struct {
	allow         *Allowlist
	partners      map[string]*Allowlist
	proxies       *Allowlist
	proxyProtocol bool
	headerTimeout time.Duration
	now           func() time.Time
	logs          map[string]*rateLog

	accepted, refusedGlobal, refusedPartner, refusedProxyHeader, refusedForwarded atomic.Uint64
}

// New compiles opts into a Guard.
func New(opts Options) (*Guard, error) {
	if opts.Allow == nil {
		return nil, fmt.Errorf("netguard: the global allowlist is required; list 0.0.0.0/0 and ::/0 to accept any source")
	}
	if opts.ProxyProtocol && opts.TrustedProxies.Len() == 0 {
		return nil, fmt.Errorf("netguard: ProxyProtocol needs at least one trusted proxy")
	}
	if opts.ProxyHeaderTimeout < 0 {
		return nil, fmt.Errorf("netguard: ProxyHeaderTimeout %s is negative", opts.ProxyHeaderTimeout)
	}
	g := &Guard{
		allow:         opts.Allow,
		partners:      opts.Partners,
		proxies:       opts.TrustedProxies,
		proxyProtocol: opts.ProxyProtocol,
		headerTimeout: opts.ProxyHeaderTimeout,
		now:           opts.Now,
	}
	if g.headerTimeout == 0 {
		g.headerTimeout = DefaultProxyHeaderTimeout
	}
	if g.now == nil {
		g.now = time.Now
	}
	g.logs = newRateLogs(opts.Logger, opts.LogInterval, g.now,
		RuleGlobal, RulePartner, RuleProxyHeader, RuleForwarded, RuleUnknownSource)
	return g, nil
}

// DeniedError reports a source address that an allowlist refused.
type DeniedError struct {
	// Source is the refused address. It is the zero Addr when the address
	// could not be determined (RuleProxyHeader, RuleUnknownSource).
	Source netip.Addr
	// Peer is the direct peer when it differs from Source: the proxy that
	// stated Source.
	Peer netip.Addr
	// Partner is the partner id for RulePartner.
	Partner string
	// Rule is one of the Rule constants.
	Rule string
	// Reason adds detail for header errors, such as the parse error.
	Reason string
}

func (e *DeniedError) Error() string {
	switch e.Rule {
	case RulePartner:
		return fmt.Sprintf("netguard: source %s is not in the allowlist of partner %q", e.Source, e.Partner)
	case RuleProxyHeader, RuleForwarded, RuleUnknownSource:
		return fmt.Sprintf("netguard: source from peer %s rejected (%s): %s", e.Peer, e.Rule, e.Reason)
	}
	if e.Peer.IsValid() {
		return fmt.Sprintf("netguard: source %s (via proxy %s) is not in the global allowlist", e.Source, e.Peer)
	}
	return fmt.Sprintf("netguard: source %s is not in the global allowlist", e.Source)
}

// Stats are the counters of a Guard since New, for metrics.
type Stats struct {
	// Accepted counts connections that passed the accept-time check.
	Accepted uint64
	// RefusedGlobal counts connections and requests whose source was not in
	// the global allowlist.
	RefusedGlobal uint64
	// RefusedPartner counts CheckPartner refusals.
	RefusedPartner uint64
	// RefusedProxyHeader counts connections from trusted proxies whose PROXY
	// protocol header was missing, malformed or late.
	RefusedProxyHeader uint64
	// RefusedForwarded counts requests from trusted proxies whose Forwarded
	// or X-Forwarded-For header could not be parsed.
	RefusedForwarded uint64
}

// Stats returns a snapshot of the counters.
func (g *Guard) Stats() Stats {
	return Stats{
		Accepted:           g.accepted.Load(),
		RefusedGlobal:      g.refusedGlobal.Load(),
		RefusedPartner:     g.refusedPartner.Load(),
		RefusedProxyHeader: g.refusedProxyHeader.Load(),
		RefusedForwarded:   g.refusedForwarded.Load(),
	}
}

// CheckPartner returns a *DeniedError, counted and logged, unless source is
// in the allowlist configured for partnerID. A partner without its own
// allowlist passes, because the global allowlist already applied at accept
// time. The gateway calls it after the handshake with the partner id from
// the verified certificate chain and the client address of the connection
// (ClientAddr when trusted proxies are configured).
func (g *Guard) CheckPartner(partnerID string, source netip.Addr) error {
	list, ok := g.partners[partnerID]
	if !ok || list.Contains(source) {
		return nil
	}
	err := &DeniedError{Source: source.Unmap(), Partner: partnerID, Rule: RulePartner}
	g.deny(err)
	return err
}

// checkGlobal returns a *DeniedError unless source is in the global
// allowlist. It neither counts nor logs.
func (g *Guard) checkGlobal(source, peer netip.Addr) *DeniedError {
	if g.allow.Contains(source) {
		return nil
	}
	err := &DeniedError{Source: source.Unmap(), Rule: RuleGlobal}
	if peer.IsValid() && peer != source {
		err.Peer = peer.Unmap()
	}
	return err
}

// deny counts and logs err.
func (g *Guard) deny(err *DeniedError) {
	switch err.Rule {
	case RuleGlobal:
		g.refusedGlobal.Add(1)
	case RulePartner:
		g.refusedPartner.Add(1)
	case RuleProxyHeader, RuleUnknownSource:
		g.refusedProxyHeader.Add(1)
	case RuleForwarded:
		g.refusedForwarded.Add(1)
	}
	g.logs[err.Rule].log(err)
}

// SendsProxyHeader reports whether a connection from peer must start with
// a PROXY protocol header. The client of such a connection is known only
// after the header has been read.
func (g *Guard) SendsProxyHeader(peer netip.Addr) bool {
	return g.proxyProtocol && g.proxies.Contains(peer)
}
