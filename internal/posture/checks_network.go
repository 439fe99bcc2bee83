package posture

import (
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strings"

	"github.com/gatehouse-health/gatehouse/internal/config"
	"github.com/gatehouse-health/gatehouse/internal/egress"
)

// Prefix lengths below which an allowlist network counts as wide.
const (
	wideIPv4Bits = 16
	wideIPv6Bits = 32
)

var networkChecks = []Check{
	{
		ID: "GH-NET-001", Control: "C5", Severity: High, Mode: ModeConfig,
		Title:       "Inbound connections only from allowlisted partner networks",
		Rationale:   "A source allowlist, checked before the TLS handshake, makes stolen certificates and tokens useless from anywhere but the partner's own network; trusting every proxy lets any client forge its source address.",
		Remediation: "List the partners' networks in network.allow_sources (and per partner in partners[].sources) as CIDR prefixes, never 0.0.0.0/0 or ::/0; list only your load balancers in network.trusted_proxies, with network.proxy_protocol on so that they pass on the client address.",
		config:      checkSourceAllowlist,
	},
	{
		ID: "GH-NET-002", Control: "C5", Severity: High, Mode: ModeConfig,
		Title:       "Outbound connections only to an explicit, narrow allowlist",
		Rationale:   "A compromised payer engine will try to send PHI or beacon out; an egress allowlist of partner endpoints, checked after DNS resolution, leaves it nowhere to go.",
		Remediation: "List in egress.allow only the partner host names (or narrow networks) the gateway may reach; never a /0 network, a top-level wildcard, the link-local range 169.254.0.0/16 or a cloud metadata address (100.100.100.200, 192.0.0.192, fd00:ec2::254), directly or in a NAT64, 6to4 or IPv4-translated form.",
		config:      checkEgressAllowlist,
	},
	{
		ID: "GH-NET-003", Control: "C6", Severity: High, Mode: ModeConfig,
		Title:       "The upstream uses https unless it is on this host",
		Rationale:   "Plain http across a network exposes every forwarded PHI payload and the identity headers the upstream trusts.",
		Remediation: "Use an https upstream.url with upstream.ca_file, or run the engine on the gateway host and address it by a loopback address.",
		config:      checkUpstreamScheme,
	},
	{
		ID: "GH-NET-004", Control: "C6", Severity: Low, Mode: ModeConfig,
		Title:       "An https upstream is verified against a pinned CA bundle",
		Rationale:   "Verifying the upstream against the system roots trusts every public CA to vouch for the payer's internal engine.",
		Remediation: "Set upstream.ca_file to the CA bundle that issued the engine's certificate.",
		config:      checkUpstreamCA,
	},
	{
		ID: "GH-NET-005", Control: "C5", Severity: High, Mode: ModeConfig,
		Title:       "The built-in payer service listens on loopback only",
		Rationale:   "The built-in payer service trusts the identity headers the gateway sets; reachable from the network, anyone could claim to be any partner.",
		Remediation: "Set payer.listen to a loopback address such as 127.0.0.1:0, or leave it unset.",
		config:      checkPayerLoopback,
	},
	{
		ID: "GH-NET-006", Control: "C5", Severity: High, Mode: ModeConfig,
		Title:       "The outbound listener is bound to one internal address, apart from the partner port",
		Rationale:   "The outbound listener is the engine's way to partners; reachable from the partner side, it would let outsiders send requests with the payer's credentials.",
		Remediation: "Set outbound.listen to an address on the payer's internal network, on a port other than the one in listen.",
		config:      checkOutboundExposure,
	},
	{
		ID: "GH-NET-007", Control: "C5", Severity: Medium, Mode: ModeConfig,
		Title:       "Partner outbound URLs are https, normalised and allowed by egress.allow",
		Rationale:   "The engine's requests to a partner go to partners[].outbound.fhir_base and token_url. A plain-http URL exposes the payer's token, a \"..\" segment names another path than it shows, and a host outside egress.allow makes every outbound request fail at run time. Loading a configuration file rejects these; this check covers configurations built in code.",
		Remediation: "Write each partner's fhir_base and token_url as the https URL the path resolves to, without user name, query or fragment, and add its host and port to egress.allow.",
		config:      checkOutboundPartnerURLs,
	},
}

func checkOutboundPartnerURLs(t *Target) []result {
	var out []result
	for i, p := range t.Config.Partners {
		if p.Outbound == nil {
			continue
		}
		for _, ep := range []struct{ key, value string }{
			{fmt.Sprintf("partners[%d].outbound.fhir_base", i), p.Outbound.FHIRBase},
			{fmt.Sprintf("partners[%d].outbound.token_url", i), p.Outbound.TokenURL},
		} {
			if err := t.Config.CheckOutboundEndpoint(ep.value); err != nil {
				out = append(out, fail(ep.key, "partner %q: %v", p.ID, err))
			}
		}
	}
	if len(out) == 0 {
		out = append(out, pass("partners", "every partner outbound URL is https and allowed by egress.allow"))
	}
	return out
}

// networkProblem returns a failure for one allowlist network that is open
// to everyone or wide, or nil.
func networkProblem(key, entry string) *result {
	prefix, err := netip.ParsePrefix(entry)
	if err != nil {
		addr, aerr := netip.ParseAddr(entry)
		if aerr != nil {
			return nil
		}
		prefix = netip.PrefixFrom(addr, addr.BitLen())
	}
	wide := wideIPv4Bits
	if prefix.Addr().Is6() {
		wide = wideIPv6Bits
	}
	switch {
	case prefix.Bits() == 0:
		r := fail(key, "%s admits every address", entry)
		return &r
	case prefix.Bits() < wide:
		r := failAt(Medium, key, "%s is wider than /%d", entry, wide)
		return &r
	}
	return nil
}

func checkSourceAllowlist(t *Target) []result {
	list := t.settings.sourceAllowlist
	if list == nil {
		return []result{notConfigured("no inbound source allowlist: this version accepts TLS connections from every address, so enforce partner networks in the firewall")}
	}
	var out []result
	for _, e := range list {
		if r := networkProblem(e.key, e.value); r != nil {
			out = append(out, *r)
		}
	}
	if n := t.Config.Network; len(n.TrustedProxies) > 0 && !n.ProxyProtocol {
		out = append(out, failAt(Medium, "network.proxy_protocol",
			"network.trusted_proxies is set without proxy_protocol: the gateway terminates TLS, so forwarded-address headers are ignored and every connection through the load balancer has its address, which partners[].sources cannot tell apart"))
	}
	if len(out) == 0 {
		out = append(out, pass("network.allow_sources", "connections and forwarded addresses are accepted from %d listed network(s)", len(list)))
	}
	return out
}

func checkEgressAllowlist(t *Target) []result {
	list := t.settings.egressAllowlist
	if list == nil {
		return []result{notConfigured("no egress allowlist: this version has no key for the destinations the gateway may reach")}
	}
	if len(list) == 0 {
		return []result{pass("egress", "the egress allowlist is empty, so the gateway reaches no partner")}
	}
	var out []result
	for _, e := range list {
		if r := egressProblem(e.key, e.value); r != nil {
			out = append(out, *r)
		}
	}
	if len(out) == 0 {
		out = append(out, pass("egress.allow", "the gateway may reach %d listed destination(s)", len(list)))
	}
	return out
}

var metadataRange = netip.MustParsePrefix("169.254.0.0/16")

// metadataAddresses are the cloud instance metadata addresses the egress
// guard rejects that lie outside 169.254.0.0/16, which is checked whole.
var metadataAddresses = func() []netip.Addr {
	var out []netip.Addr
	for _, a := range egress.MetadataAddresses() {
		if !metadataRange.Contains(a) {
			out = append(out, a)
		}
	}
	return out
}()

// localUseNAT64 is the local-use NAT64 prefix (RFC 8215). The egress guard
// rejects it whole, because the operator's translator decides where the
// IPv4 address sits, so an entry inside it admits IPv4 addresses that the
// audit cannot determine.
var localUseNAT64 = netip.MustParsePrefix("64:ff9b:1::/48")

func egressProblem(key, entry string) *result {
	host, _, err := net.SplitHostPort(entry)
	if err != nil {
		host = entry
	}
	if suffix, ok := strings.CutPrefix(host, "*."); ok && !strings.Contains(suffix, ".") {
		r := fail(key, "%s admits every name under a top-level domain", entry)
		return &r
	}
	prefix, ok := entryPrefix(host)
	if !ok {
		return nil
	}
	if r := metadataProblem(key, entry, prefix, ""); r != nil {
		return r
	}
	for _, tr := range ipv4Translations {
		if embedded, ok := embeddedNetwork(prefix, tr.prefix, tr.offset); ok {
			if r := metadataProblem(key, entry, embedded, fmt.Sprintf(" through the %s prefix %s", tr.name, tr.prefix)); r != nil {
				return r
			}
		}
	}
	if prefix.Addr().Is6() && prefix.Overlaps(localUseNAT64) && prefix.Bits() > 0 {
		r := failAt(Medium, key, "%s admits local-use NAT64 addresses (%s), which a translator maps to IPv4 addresses this audit cannot determine, the metadata service's included", entry, localUseNAT64)
		return &r
	}
	if r := translatedProblem(key, entry, host); r != nil {
		return r
	}
	return networkProblem(key, host)
}

// entryPrefix parses an allowlist entry's host as a CIDR prefix or a single
// address; ok is false for a host name.
func entryPrefix(host string) (netip.Prefix, bool) {
	if prefix, err := netip.ParsePrefix(host); err == nil {
		return prefix, true
	}
	addr, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Prefix{}, false
	}
	return netip.PrefixFrom(addr, addr.BitLen()), true
}

// metadataProblem reports an entry (or the IPv4 network it embeds, named by
// via) that reaches a cloud metadata service: one that overlaps the
// link-local range, or one that is a metadata address outside it. A /0
// entry is left to networkProblem, because the guard never lets it unlock
// a forbidden address.
func metadataProblem(key, entry string, prefix netip.Prefix, via string) *result {
	if prefix.Bits() == 0 {
		return nil
	}
	if prefix.Overlaps(metadataRange) {
		r := fail(key, "%s reaches the link-local range 169.254.0.0/16%s, where cloud metadata services respond", entry, via)
		return &r
	}
	for _, a := range metadataAddresses {
		if prefix.Bits() == a.BitLen() && prefix.Addr() == a {
			r := fail(key, "%s is the cloud metadata address %s%s", entry, a, via)
			return &r
		}
	}
	return nil
}

// embeddedNetwork returns the IPv4 network that the addresses of prefix
// embed at bit offset of translation, when prefix lies inside translation
// and is longer than offset.
func embeddedNetwork(prefix, translation netip.Prefix, offset int) (netip.Prefix, bool) {
	if !prefix.Addr().Is6() || prefix.Bits() <= offset || !translation.Contains(prefix.Addr()) {
		return netip.Prefix{}, false
	}
	b := prefix.Addr().As16()
	embedded := netip.AddrFrom4([4]byte(b[offset/8 : offset/8+4]))
	return netip.PrefixFrom(embedded, min(prefix.Bits()-offset, 32)).Masked(), true
}

// ipv4Translations are the IPv6 prefixes whose addresses embed an IPv4
// address: NAT64 (RFC 6052) and IPv4-translated (RFC 2765) addresses in
// the last 32 bits, 6to4 (RFC 3056) in bits 16 to 47. The egress guard
// checks NAT64 and 6to4 addresses by the address they embed and rejects
// IPv4-translated ones whole, but a translator on the path maps each to
// the embedded IPv4 address. An entry that covers such addresses admits
// the IPv4 network they embed, so "64:ff9b::/96", a /96 by its own length,
// reaches every public IPv4 address through a NAT64 gateway.
var ipv4Translations = []struct {
	name   string
	prefix netip.Prefix
	offset int // bit position of the embedded IPv4 address
}{
	{"NAT64", netip.MustParsePrefix("64:ff9b::/96"), 96},
	{"6to4", netip.MustParsePrefix("2002::/16"), 16},
	{"IPv4-translated", netip.MustParsePrefix("::ffff:0:0:0/96"), 96},
}

// translatedProblem judges an IPv6 entry that overlaps a translation
// prefix by the width of the IPv4 network it admits, or returns nil.
func translatedProblem(key, entry, host string) *result {
	prefix, ok := entryPrefix(host)
	if !ok || !prefix.Addr().Is6() {
		return nil
	}
	for _, tr := range ipv4Translations {
		if !prefix.Overlaps(tr.prefix) {
			continue
		}
		bits := min(max(prefix.Bits()-tr.offset, 0), 32)
		switch {
		case bits == 0:
			r := fail(key, "%s admits every IPv4 address through the %s prefix %s", entry, tr.name, tr.prefix)
			return &r
		case bits < wideIPv4Bits:
			r := failAt(Medium, key, "%s admits an IPv4 /%d network through the %s prefix %s, wider than /%d", entry, bits, tr.name, tr.prefix, wideIPv4Bits)
			return &r
		}
	}
	return nil
}

// isLoopbackHost reports whether host is localhost or a loopback address.
func isLoopbackHost(host string) bool {
	ip := net.ParseIP(host)
	return host == "localhost" || (ip != nil && ip.IsLoopback())
}

func checkUpstreamScheme(t *Target) []result {
	up := t.Config.Upstream.URL
	if up == config.Builtin {
		return []result{pass("upstream.url", "the upstream is the built-in payer service on loopback")}
	}
	u, err := url.Parse(up)
	if err != nil {
		return []result{fail("upstream.url", "upstream.url %q does not parse", up)}
	}
	if u.Scheme == "http" && !isLoopbackHost(u.Hostname()) {
		return []result{fail("upstream.url", "the upstream %s is plain http to %q, which is not this host", up, u.Hostname())}
	}
	return []result{pass("upstream.url", "the upstream is %s", up)}
}

func checkUpstreamCA(t *Target) []result {
	up := t.Config.Upstream
	if up.URL == config.Builtin {
		return []result{pass("upstream.url", "the upstream is the built-in payer service on loopback, which no network carries, so no CA applies")}
	}
	if !strings.HasPrefix(up.URL, "https://") {
		return []result{pass("upstream.url", "the upstream does not use https, so no CA applies")}
	}
	if up.CAFile == "" {
		return []result{fail("upstream.url", "the upstream %s is verified against the system roots", up.URL)}
	}
	return []result{pass("upstream.ca_file", "the upstream is verified against %s", up.CAFile)}
}

func checkPayerLoopback(t *Target) []result {
	if t.Config.Upstream.URL != config.Builtin {
		return []result{pass("upstream.url", "the built-in payer service does not run")}
	}
	host, _, err := net.SplitHostPort(t.Config.Payer.Listen)
	if err != nil || !isLoopbackHost(host) {
		return []result{fail("payer.listen", "the built-in payer service listens on %q, which is not a loopback address", t.Config.Payer.Listen)}
	}
	return []result{pass("payer.listen", "the built-in payer service listens on %s", t.Config.Payer.Listen)}
}

// exposureProblem checks an internal listener's address against the
// partner-facing one: a wildcard host or the partner port is a failure,
// the partner's interface a medium one.
func exposureProblem(key, name, addr, inbound string) *result {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		r := fail(key, "the %s listener address %q is not host:port", name, addr)
		return &r
	}
	inHost, inPort, _ := net.SplitHostPort(inbound)
	ip := net.ParseIP(host)
	switch {
	case host == "" || (ip != nil && ip.IsUnspecified()):
		r := fail(key, "the %s listener %q listens on every interface, the partner-facing ones included", name, addr)
		return &r
	case port == inPort:
		r := fail(key, "the %s listener %q uses the partner port %s", name, addr, inPort)
		return &r
	case host == inHost && !isLoopbackHost(host):
		r := failAt(Medium, key, "the %s listener %q shares the partner-facing address %s", name, addr, host)
		return &r
	}
	return nil
}

func checkOutboundExposure(t *Target) []result {
	c := t.Config
	if c.Outbound.Listen == "" {
		return []result{pass("outbound.listen", "the outbound listener is disabled")}
	}
	if r := exposureProblem("outbound.listen", "outbound", c.Outbound.Listen, c.Listen); r != nil {
		return []result{*r}
	}
	return []result{pass("outbound.listen", "the outbound listener is bound to %s", c.Outbound.Listen)}
}
