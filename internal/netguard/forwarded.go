package netguard

import (
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"strings"

	"golang.org/x/net/http/httpguts"
)

// maxForwardedHops caps the number of addresses read from forwarding
// headers, so a request cannot make the parser walk an unbounded list.
const maxForwardedHops = 32

// ClientAddr returns the address of the client that sent r, for the
// allowlists and the exchange record, and checks it against the global
// allowlist.
//
// The direct peer is r.RemoteAddr (already the PROXY protocol client address
// when the connection came through a trusted proxy). The Forwarded and
// X-Forwarded-For headers are ignored, and the peer is the client, checked
// again against the global allowlist, in two cases: the peer is not a
// trusted proxy, or this server terminated TLS for r (r.TLS is set). In the
// second case a proxy in front relayed TCP and could not write into the TLS
// stream, so the headers were written by the TLS client itself.
//
// Otherwise the client is taken from Forwarded if
// the request has one, else from X-Forwarded-For: the addresses are read
// from right to left, skipping trusted proxies, and the first other address
// is the client. If every address is a trusted proxy the leftmost is used,
// and without either header the peer itself is the client.
//
// A header from a trusted proxy that cannot be parsed, or that names a
// client by an obfuscated identifier or "unknown", is refused with a
// *DeniedError of RuleForwarded, because the client cannot then be checked.
// A client outside the global allowlist is refused with RuleGlobal. Both are
// counted and logged.
func (g *Guard) ClientAddr(r *http.Request) (netip.Addr, error) {
	peer, err := ParseRemoteAddr(r.RemoteAddr)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("netguard: %w", err)
	}
	if r.TLS != nil || !g.proxies.Contains(peer) {
		if denied := g.checkGlobal(peer, netip.Addr{}); denied != nil {
			g.deny(denied)
			return netip.Addr{}, denied
		}
		return peer, nil
	}

	hops, err := forwardedHops(r.Header)
	if err != nil {
		denied := &DeniedError{Peer: peer, Rule: RuleForwarded, Reason: err.Error()}
		g.deny(denied)
		return netip.Addr{}, denied
	}
	client := peer
	for i := len(hops) - 1; i >= 0; i-- {
		client = hops[i]
		if !g.proxies.Contains(client) {
			break
		}
	}
	if denied := g.checkGlobal(client, peer); denied != nil {
		g.deny(denied)
		return netip.Addr{}, denied
	}
	return client, nil
}

// ParseRemoteAddr parses an http.Request RemoteAddr ("192.0.2.7:50000",
// "[2001:db8::7]:50000") and returns the address with IPv4-mapped IPv6
// addresses unmapped.
func ParseRemoteAddr(s string) (netip.Addr, error) {
	ap, err := netip.ParseAddrPort(s)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("invalid remote address %q: %w", s, err)
	}
	return ap.Addr().Unmap().WithZone(""), nil
}

// forwardedHops returns the addresses of the Forwarded header, or of
// X-Forwarded-For when there is no Forwarded header, in header order.
func forwardedHops(h http.Header) ([]netip.Addr, error) {
	if values := h.Values("Forwarded"); len(values) > 0 {
		return parseForwarded(strings.Join(values, ","))
	}
	if values := h.Values("X-Forwarded-For"); len(values) > 0 {
		return parseXForwardedFor(strings.Join(values, ","))
	}
	return nil, nil
}

// parseXForwardedFor parses a comma-separated list of addresses, each
// optionally with a port ("192.0.2.7:1234", "[2001:db8::7]:1234").
func parseXForwardedFor(v string) ([]netip.Addr, error) {
	var hops []netip.Addr
	for item := range strings.SplitSeq(v, ",") {
		item = strings.TrimSpace(item)
		addr, err := parseNode(item)
		if err != nil {
			return nil, fmt.Errorf("X-Forwarded-For: %w", err)
		}
		if hops = append(hops, addr); len(hops) > maxForwardedHops {
			return nil, fmt.Errorf("X-Forwarded-For has more than %d addresses", maxForwardedHops)
		}
	}
	return hops, nil
}

// parseForwarded parses an RFC 7239 Forwarded header value and returns the
// "for" address of each element. Every element must have exactly one "for"
// parameter.
func parseForwarded(v string) ([]netip.Addr, error) {
	elements, err := splitForwarded(v)
	if err != nil {
		return nil, fmt.Errorf("Forwarded: %w", err)
	}
	if len(elements) > maxForwardedHops {
		return nil, fmt.Errorf("Forwarded has more than %d elements", maxForwardedHops)
	}
	hops := make([]netip.Addr, 0, len(elements))
	for i, params := range elements {
		node, ok := params["for"]
		if !ok {
			return nil, fmt.Errorf("Forwarded element %d has no \"for\" parameter", i+1)
		}
		addr, err := parseNode(node)
		if err != nil {
			return nil, fmt.Errorf("Forwarded element %d: %w", i+1, err)
		}
		hops = append(hops, addr)
	}
	return hops, nil
}

// parseNode parses a node: an IPv4 address or a bracketed IPv6 address,
// either optionally followed by ":port", or a bare IPv6 address.
func parseNode(s string) (netip.Addr, error) {
	if s == "" {
		return netip.Addr{}, errors.New("empty address")
	}
	if s == "unknown" || strings.HasPrefix(s, "_") {
		return netip.Addr{}, fmt.Errorf("node %q does not name an address", s)
	}
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap.Addr().Unmap(), nil
	}
	if inner, ok := strings.CutPrefix(s, "["); ok {
		s, ok = strings.CutSuffix(inner, "]")
		if !ok {
			return netip.Addr{}, fmt.Errorf("invalid address %q", s)
		}
	}
	addr, err := netip.ParseAddr(s)
	if err != nil || addr.Zone() != "" {
		return netip.Addr{}, fmt.Errorf("invalid address %q", s)
	}
	return addr.Unmap(), nil
}

// splitForwarded splits a Forwarded value into elements of parameters.
// Parameter names are case-insensitive; a name may appear once per element.
func splitForwarded(v string) ([]map[string]string, error) {
	var elements []map[string]string
	params := map[string]string{}
	for i := 0; ; {
		i = skipSpace(v, i)
		name, value, next, err := readPair(v, i)
		if err != nil {
			return nil, err
		}
		if _, dup := params[name]; dup {
			return nil, fmt.Errorf("parameter %q repeated in one element", name)
		}
		params[name] = value
		i = skipSpace(v, next)
		if i == len(v) {
			return append(elements, params), nil
		}
		switch v[i] {
		case ';':
		case ',':
			elements = append(elements, params)
			params = map[string]string{}
		default:
			return nil, fmt.Errorf("unexpected %q at offset %d", v[i], i)
		}
		i++
	}
}

// readPair reads name=value at v[i:], where value is a token or a quoted
// string, and returns the offset after it.
func readPair(v string, i int) (name, value string, next int, err error) {
	eq := strings.IndexByte(v[i:], '=')
	if eq <= 0 {
		return "", "", 0, fmt.Errorf("expected name=value at offset %d", i)
	}
	name = strings.ToLower(v[i : i+eq])
	if !isToken(name) {
		return "", "", 0, fmt.Errorf("invalid parameter name %q", name)
	}
	i += eq + 1
	if i < len(v) && v[i] == '"' {
		return readQuoted(v, i, name)
	}
	end := i
	for end < len(v) && isTokenChar(v[end]) {
		end++
	}
	if end == i {
		return "", "", 0, fmt.Errorf("parameter %q has an empty value", name)
	}
	return name, v[i:end], end, nil
}

// readQuoted reads a quoted string starting at the quote v[i].
func readQuoted(v string, i int, name string) (string, string, int, error) {
	var b strings.Builder
	for j := i + 1; j < len(v); j++ {
		switch c := v[j]; {
		case c == '"':
			return name, b.String(), j + 1, nil
		case c == '\\' && j+1 < len(v):
			j++
			b.WriteByte(v[j])
		case c < 0x20 || c == 0x7f:
			return "", "", 0, fmt.Errorf("control character in parameter %q", name)
		default:
			b.WriteByte(c)
		}
	}
	return "", "", 0, fmt.Errorf("unterminated quoted value of parameter %q", name)
}

func skipSpace(v string, i int) int {
	for i < len(v) && (v[i] == ' ' || v[i] == '\t') {
		i++
	}
	return i
}

// isToken reports whether s is an RFC 9110 token: one or more tchars,
// which is what httpguts checks for a header field name.
func isToken(s string) bool { return httpguts.ValidHeaderFieldName(s) }

// isTokenChar reports whether c is an RFC 9110 tchar.
func isTokenChar(c byte) bool { return httpguts.IsTokenRune(rune(c)) }
