package egress

import "net/netip"

// forbiddenRange is an address range that no connection may reach unless an
// entry inside the range allows it.
type forbiddenRange struct {
	prefix netip.Prefix
	name   string
}

// forbiddenRanges are checked in order, so the specific metadata addresses
// come before the ranges that contain them. Sources: RFC 6890 and the IANA
// special-purpose address registries, and the cloud providers' published
// instance metadata addresses (AWS, GCP and Azure 169.254.169.254, AWS
// fd00:ec2::254, Alibaba 100.100.100.200, Oracle 192.0.0.192).
var forbiddenRanges = mustRanges(
	"169.254.169.254/32", "cloud-metadata",
	"100.100.100.200/32", "cloud-metadata",
	"192.0.0.192/32", "cloud-metadata",
	"fd00:ec2::254/128", "cloud-metadata",

	"0.0.0.0/8", "unspecified",
	"10.0.0.0/8", "private",
	"100.64.0.0/10", "carrier-grade NAT",
	"127.0.0.0/8", "loopback",
	"169.254.0.0/16", "link-local",
	"172.16.0.0/12", "private",
	"192.0.0.0/24", "special-purpose",
	"192.168.0.0/16", "private",
	"198.18.0.0/15", "benchmarking",
	"224.0.0.0/4", "multicast",
	"240.0.0.0/4", "reserved",

	"::/128", "unspecified",
	"::1/128", "loopback",
	"::/96", "IPv4-compatible",
	// A translator on the path maps these to IPv4 addresses, and for the
	// local-use NAT64 prefix the IPv4 bits sit where the operator's prefix
	// length puts them, so both are refused whole.
	"::ffff:0:0:0/96", "IPv4-translated",
	"64:ff9b:1::/48", "local-use NAT64",
	"100::/64", "discard-only",
	"2001::/32", "Teredo",
	"fc00::/7", "private",
	"fe80::/10", "link-local",
	"fec0::/10", "site-local",
	"ff00::/8", "multicast",
)

// Translation prefixes whose addresses embed an IPv4 address: NAT64
// (RFC 6052) in the last 32 bits, 6to4 (RFC 3056) in bits 16 to 47.
var (
	nat64Prefix = netip.MustParsePrefix("64:ff9b::/96")
	sixToFour   = netip.MustParsePrefix("2002::/16")
)

func mustRanges(pairs ...string) []forbiddenRange {
	var out []forbiddenRange
	for i := 0; i < len(pairs); i += 2 {
		out = append(out, forbiddenRange{prefix: netip.MustParsePrefix(pairs[i]), name: pairs[i+1]})
	}
	return out
}

// forbidden returns the forbidden range containing a, which must be
// unmapped. For an address that embeds an IPv4 address, the range returned
// is the embedded address's range translated into the translation prefix,
// so that only an entry inside that translated range unlocks it. An entry
// for the whole translation prefix is the translated "0.0.0.0/0" and
// unlocks nothing.
func forbidden(a netip.Addr) (forbiddenRange, bool) {
	if embedded, prefix, ok := embeddedIPv4(a); ok {
		if r, bad := forbidden(embedded); bad {
			return forbiddenRange{prefix: translate(prefix, r.prefix), name: r.name + " (embedded in " + prefix.String() + ")"}, true
		}
		return forbiddenRange{}, false
	}
	for _, r := range forbiddenRanges {
		if r.prefix.Contains(a) {
			return r, true
		}
	}
	return forbiddenRange{}, false
}

func embeddedIPv4(a netip.Addr) (netip.Addr, netip.Prefix, bool) {
	if !a.Is6() {
		return netip.Addr{}, netip.Prefix{}, false
	}
	b := a.As16()
	switch {
	case nat64Prefix.Contains(a):
		return netip.AddrFrom4([4]byte(b[12:16])), nat64Prefix, true
	case sixToFour.Contains(a):
		return netip.AddrFrom4([4]byte(b[2:6])), sixToFour, true
	}
	return netip.Addr{}, netip.Prefix{}, false
}

// translate returns the IPv6 addresses of prefix whose embedded IPv4
// address lies in v4. The embedded address starts at the first byte after
// prefix, which holds for both NAT64's /96 and 6to4's /16.
func translate(prefix, v4 netip.Prefix) netip.Prefix {
	offset := prefix.Bits() / 8
	b := prefix.Addr().As16()
	embedded := v4.Addr().As4()
	copy(b[offset:], embedded[:])
	return netip.PrefixFrom(netip.AddrFrom16(b), prefix.Bits()+v4.Bits()).Masked()
}

// MetadataAddresses returns the cloud instance metadata addresses that the
// guard rejects unless an allow entry names the address itself.
func MetadataAddresses() []netip.Addr {
	var out []netip.Addr
	for _, r := range forbiddenRanges {
		if r.name == "cloud-metadata" {
			out = append(out, r.prefix.Addr())
		}
	}
	return out
}
