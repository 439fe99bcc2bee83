// Package egress guards every outbound connection Gatehouse makes: to
// partners' FHIR and token endpoints, to JWKS URLs, and, through the
// optional CONNECT forward proxy, the payer's integration engine's own
// traffic.
//
// A Guard allows a connection only when its target is on the allowlist:
//
//   - A host name must match a name entry ("ehr.example.org", or
//     "*.example.org" for any name below example.org). The Guard resolves
//     the name itself at connect time and checks every resolved address.
//     If any address is forbidden the connection is refused. The Guard
//     then dials the checked addresses, never the name, so a DNS answer
//     that changes between the check and the connect (DNS rebinding) gains
//     nothing.
//   - An IP address given literally must be inside an address or CIDR entry.
//   - Forbidden addresses are refused even for listed names: unspecified,
//     loopback, private (RFC 1918 and IPv6 unique local), carrier-grade NAT,
//     link-local, multicast, reserved and special-purpose ranges, and cloud
//     instance metadata addresses such as 169.254.169.254, fd00:ec2::254 and
//     100.100.100.200. IPv4-mapped, NAT64 (64:ff9b::/96) and 6to4 addresses
//     are checked by the IPv4 address they embed. Local-use NAT64
//     (64:ff9b:1::/48) and IPv4-translated (::ffff:0:0:0/96) addresses are
//     refused whole. A forbidden address is
//     allowed only when an address or CIDR entry inside the forbidden range
//     contains it: "10.1.2.0/24" allows 10.1.2.7, but "0.0.0.0/0" allows no
//     private or loopback address. Likewise, for an address embedded in a
//     NAT64 or 6to4 address, only an entry inside the translated form of
//     its range unlocks it ("64:ff9b::a00:0/104" for 10.0.0.0/8), and
//     "64:ff9b::/96" or "2002::/16" unlocks none.
//   - An entry may end in ":port" to allow only that port.
//
// Every refusal is a *DeniedError, returned before any connection attempt
// and passed to Options.OnDeny. The package never logs.
package egress

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"time"
)

// Rule identifiers carried by DeniedError.
const (
	// RuleHost: the host name matches no name entry.
	RuleHost = "egress.host"
	// RuleAddress: the literal IP address matches no address entry.
	RuleAddress = "egress.address"
	// RuleForbidden: a resolved or literal address is in a forbidden range
	// that no entry allows.
	RuleForbidden = "egress.forbidden-address"
	// RuleNetwork: the network is not TCP.
	RuleNetwork = "egress.network"
	// RuleRedirect: an HTTP redirect was refused.
	RuleRedirect = "egress.redirect"
	// RuleTarget: the target is malformed.
	RuleTarget = "egress.target"
)

// DefaultDialTimeout bounds one TCP connect when Options.Dial is nil.
const DefaultDialTimeout = 10 * time.Second

// Resolver resolves host names. *net.Resolver implements it; tests inject a
// stub.
type Resolver interface {
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}

// DialFunc opens a network connection, with the signature of
// net.Dialer.DialContext.
type DialFunc func(ctx context.Context, network, address string) (net.Conn, error)

// Options configures New.
type Options struct {
	// Allow lists the permitted targets: host names ("ehr.example.org"),
	// wildcards ("*.example.org"), IP addresses ("192.0.2.7",
	// "2001:db8::7") and CIDR networks ("192.0.2.0/24"). A name or address
	// may end in ":port" ("ehr.example.org:443", "[2001:db8::7]:443") to
	// allow that port only. An empty list allows nothing.
	Allow []string
	// Resolver resolves host names. Nil means net.DefaultResolver.
	Resolver Resolver
	// Dial connects to a checked IP address and port. Nil means a
	// net.Dialer with DefaultDialTimeout.
	Dial DialFunc
	// OnDeny, if not nil, is called with every refusal before it is
	// returned, for logging and the exchange record. It must not block.
	OnDeny func(*DeniedError)
}

// Guard checks and dials outbound connections. Its methods are safe for
// concurrent use.
type Guard struct {
	rules    rules
	resolver Resolver
	dial     DialFunc
	onDeny   func(*DeniedError)
}

// New compiles opts into a Guard. Entry errors name the entry's index, as
// an *EntryError.
func New(opts Options) (*Guard, error) {
	r, err := parseRules(opts.Allow)
	if err != nil {
		return nil, err
	}
	g := &Guard{rules: r, resolver: opts.Resolver, dial: opts.Dial, onDeny: opts.OnDeny}
	if g.resolver == nil {
		g.resolver = net.DefaultResolver
	}
	if g.dial == nil {
		g.dial = (&net.Dialer{Timeout: DefaultDialTimeout}).DialContext
	}
	return g, nil
}

// DeniedError reports a refused outbound connection or redirect.
type DeniedError struct {
	// Host is the requested host: a name or an IP address.
	Host string
	// Port is the requested port, zero when unknown.
	Port uint16
	// Address is the refused IP address: the literal one, or the resolved
	// address that was forbidden. The zero Addr for RuleHost and the rules
	// that do not concern an address.
	Address netip.Addr
	// Rule is one of the Rule constants.
	Rule string
	// Detail names the forbidden range ("loopback", "cloud-metadata") or
	// gives the reason for RuleRedirect, RuleNetwork and RuleTarget.
	Detail string
}

func (e *DeniedError) Error() string {
	target := e.Host
	if e.Port != 0 {
		target = net.JoinHostPort(e.Host, fmt.Sprint(e.Port))
	}
	switch e.Rule {
	case RuleHost:
		return fmt.Sprintf("egress: connection to %q denied: the host is not on the egress allowlist", target)
	case RuleAddress:
		return fmt.Sprintf("egress: connection to %q denied: the address is not on the egress allowlist", target)
	case RuleForbidden:
		return fmt.Sprintf("egress: connection to %q denied: address %s is %s and not explicitly allowed", target, e.Address, e.Detail)
	}
	return fmt.Sprintf("egress: connection to %q denied: %s", target, e.Detail)
}

// deny reports err to the hook and returns it.
func (g *Guard) deny(err *DeniedError) *DeniedError {
	if g.onDeny != nil {
		g.onDeny(err)
	}
	return err
}
