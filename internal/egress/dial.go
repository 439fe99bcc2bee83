package egress

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
)

// DialContext connects to address ("host:port") over TCP if the allowlist
// permits it, with the signature of net.Dialer.DialContext so that it can
// serve as http.Transport.DialContext. A name is resolved here and every
// resolved address checked before the first connection attempt; the
// addresses are then tried in the resolver's order. Refusals are
// *DeniedError; resolution and connection failures are returned wrapped.
func (g *Guard) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	addrs, port, err := g.Resolve(ctx, network, address)
	if err != nil {
		return nil, err
	}
	var errs []error
	for _, a := range addrs {
		c, err := g.dial(ctx, network, netip.AddrPortFrom(a, port).String())
		if err == nil {
			return c, nil
		}
		errs = append(errs, err)
		if ctx.Err() != nil {
			break
		}
	}
	return nil, fmt.Errorf("egress: connecting to %q: %w", address, errors.Join(errs...))
}

// Resolve checks address ("host:port") against the allowlist and returns
// the IP addresses a connection may use, as DialContext does before
// connecting. It is exported for callers that connect by other means.
func (g *Guard) Resolve(ctx context.Context, network, address string) ([]netip.Addr, uint16, error) {
	if network != "tcp" && network != "tcp4" && network != "tcp6" {
		return nil, 0, g.deny(&DeniedError{Host: address, Rule: RuleNetwork, Detail: fmt.Sprintf("network %q is not TCP", network)})
	}
	host, port, err := splitTarget(address)
	if err != nil {
		return nil, 0, g.deny(&DeniedError{Host: address, Rule: RuleTarget, Detail: err.Error()})
	}
	if a, err := netip.ParseAddr(host); err == nil {
		if err := g.checkLiteral(host, a, port); err != nil {
			return nil, 0, err
		}
		return []netip.Addr{a.Unmap()}, port, nil
	}
	addrs, err := g.resolveName(ctx, network, host, port)
	return addrs, port, err
}

// CheckHost reports whether a connection to host and port could be
// allowed, without resolving or connecting: a name must match a name entry,
// an IP address must pass the address checks. HTTP redirects are checked
// with it before the request is made.
func (g *Guard) CheckHost(host string, port uint16) error {
	if a, err := netip.ParseAddr(host); err == nil {
		return g.checkLiteral(host, a, port)
	}
	name := normalizeName(host)
	if !g.rules.allowsName(name, port) {
		return g.deny(&DeniedError{Host: host, Port: port, Rule: RuleHost})
	}
	return nil
}

func (g *Guard) checkLiteral(host string, a netip.Addr, port uint16) error {
	if a.Zone() != "" {
		return g.deny(&DeniedError{Host: host, Port: port, Rule: RuleTarget, Detail: "IPv6 zones are not allowed"})
	}
	a = a.Unmap()
	if !g.rules.allowsAddr(a, port) {
		return g.deny(&DeniedError{Host: host, Port: port, Address: a, Rule: RuleAddress})
	}
	return g.checkForbidden(host, a, port)
}

func (g *Guard) checkForbidden(host string, a netip.Addr, port uint16) error {
	r, bad := forbidden(a)
	if bad && !g.rules.unlocks(a, port, r.prefix) {
		return g.deny(&DeniedError{Host: host, Port: port, Address: a, Rule: RuleForbidden, Detail: r.name})
	}
	return nil
}

func (g *Guard) resolveName(ctx context.Context, network, host string, port uint16) ([]netip.Addr, error) {
	name := normalizeName(host)
	if !g.rules.allowsName(name, port) {
		return nil, g.deny(&DeniedError{Host: host, Port: port, Rule: RuleHost})
	}
	ipNetwork := "ip"
	switch network {
	case "tcp4":
		ipNetwork = "ip4"
	case "tcp6":
		ipNetwork = "ip6"
	}
	addrs, err := g.resolver.LookupNetIP(ctx, ipNetwork, name)
	if err != nil {
		return nil, fmt.Errorf("egress: resolving %q: %w", host, err)
	}
	if len(addrs) == 0 {
		return nil, fmt.Errorf("egress: resolving %q: no addresses", host)
	}
	// Every address must pass, not only the one that will be dialled: a
	// mixed answer is how a rebinding attack starts.
	out := make([]netip.Addr, 0, len(addrs))
	for _, a := range addrs {
		a = a.Unmap().WithZone("")
		if err := g.checkForbidden(host, a, port); err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	return out, nil
}

// splitTarget splits "host:port" and parses the port.
func splitTarget(address string) (string, uint16, error) {
	host, portText, err := net.SplitHostPort(address)
	if err != nil {
		return "", 0, fmt.Errorf("invalid host:port: %w", err)
	}
	if host == "" {
		return "", 0, errors.New("empty host")
	}
	port, err := parsePort(portText)
	if err != nil {
		return "", 0, err
	}
	return host, port, nil
}

// normalizeName lower-cases a host name and removes one trailing dot.
func normalizeName(host string) string {
	return strings.TrimSuffix(strings.ToLower(host), ".")
}
