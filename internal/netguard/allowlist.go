package netguard

import (
	"fmt"
	"net/netip"
	"strings"
)

// Allowlist is a compiled list of IPv4 and IPv6 networks. The zero value and
// nil contain no address.
//
// Networks are grouped by prefix length, so Contains costs one map lookup
// per distinct prefix length in the address's family, however many
// networks share that length.
type Allowlist struct {
	v4, v6 []prefixGroup
	source []string
}

// prefixGroup is the set of networks of one prefix length, keyed by their
// masked address.
type prefixGroup struct {
	bits     int
	networks map[netip.Addr]struct{}
}

// EntryError reports an invalid allowlist entry. Index is the entry's
// position in the list given to ParseAllowlist, so that configuration errors
// can name the key (network.allow_sources[2]).
type EntryError struct {
	Index int
	Entry string
	Err   error
}

func (e *EntryError) Error() string {
	return fmt.Sprintf("netguard: entry %d %q: %v", e.Index, e.Entry, e.Err)
}

func (e *EntryError) Unwrap() error { return e.Err }

// ParseAllowlist compiles entries, each a CIDR network ("10.20.0.0/16",
// "2001:db8::/32") or a single address ("192.0.2.7", "::1"). Entries must be
// canonical: no host bits set after the prefix length, no IPv6 zone, and
// IPv4 networks written in IPv4 form rather than as IPv4-mapped IPv6.
func ParseAllowlist(entries []string) (*Allowlist, error) {
	a := &Allowlist{}
	for i, entry := range entries {
		p, err := parseEntry(entry)
		if err != nil {
			return nil, &EntryError{Index: i, Entry: entry, Err: err}
		}
		if p.Addr().Is4() {
			a.v4 = addToGroup(a.v4, p)
		} else {
			a.v6 = addToGroup(a.v6, p)
		}
		a.source = append(a.source, p.String())
	}
	return a, nil
}

// MustParseAllowlist is ParseAllowlist for fixed lists in code and tests. It
// panics on an invalid entry.
func MustParseAllowlist(entries ...string) *Allowlist {
	a, err := ParseAllowlist(entries)
	if err != nil {
		panic(err)
	}
	return a
}

func addToGroup(groups []prefixGroup, p netip.Prefix) []prefixGroup {
	for _, g := range groups {
		if g.bits == p.Bits() {
			g.networks[p.Addr()] = struct{}{}
			return groups
		}
	}
	return append(groups, prefixGroup{bits: p.Bits(), networks: map[netip.Addr]struct{}{p.Addr(): {}}})
}

func parseEntry(entry string) (netip.Prefix, error) {
	if strings.TrimSpace(entry) != entry || entry == "" {
		return netip.Prefix{}, fmt.Errorf("must be a CIDR network or an IP address without spaces")
	}
	var p netip.Prefix
	if strings.Contains(entry, "/") {
		var err error
		if p, err = netip.ParsePrefix(entry); err != nil {
			return netip.Prefix{}, fmt.Errorf("invalid CIDR network: %w", err)
		}
		if p.Masked() != p {
			return netip.Prefix{}, fmt.Errorf("host bits are set after the prefix length; use %s", p.Masked())
		}
	} else {
		addr, err := netip.ParseAddr(entry)
		if err != nil {
			return netip.Prefix{}, fmt.Errorf("invalid IP address: %w", err)
		}
		if addr.Zone() != "" {
			return netip.Prefix{}, fmt.Errorf("IPv6 zones are not allowed")
		}
		p = netip.PrefixFrom(addr, addr.BitLen())
	}
	if p.Addr().Is4In6() {
		return netip.Prefix{}, fmt.Errorf("IPv4-mapped IPv6 networks never match; write the IPv4 network instead")
	}
	return p, nil
}

// Contains reports whether addr is inside one of the networks. IPv4-mapped
// IPv6 addresses (::ffff:192.0.2.7, as a dual-stack socket reports IPv4
// peers) are compared as IPv4, and an IPv6 zone is ignored.
func (a *Allowlist) Contains(addr netip.Addr) bool {
	if a == nil || !addr.IsValid() {
		return false
	}
	addr = addr.Unmap().WithZone("")
	groups := a.v6
	if addr.Is4() {
		groups = a.v4
	}
	for _, g := range groups {
		// Prefix cannot fail: bits is within the family's range.
		p, _ := addr.Prefix(g.bits)
		if _, ok := g.networks[p.Addr()]; ok {
			return true
		}
	}
	return false
}

// Len returns the number of networks.
func (a *Allowlist) Len() int {
	if a == nil {
		return 0
	}
	return len(a.source)
}

// String returns the networks in canonical form, comma separated.
func (a *Allowlist) String() string {
	if a == nil {
		return ""
	}
	return strings.Join(a.source, ",")
}
