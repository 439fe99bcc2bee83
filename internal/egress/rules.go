package egress

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
)

// EntryError reports an invalid allowlist entry. Index is the entry's
// position in Options.Allow, so configuration errors can name the key
// (egress.allow[3]).
type EntryError struct {
	Index int
	Entry string
	Err   error
}

func (e *EntryError) Error() string {
	return fmt.Sprintf("egress: entry %d %q: %v", e.Index, e.Entry, e.Err)
}

func (e *EntryError) Unwrap() error { return e.Err }

// nameRule allows a host name, or with wildcard every name below suffix.
// Port zero allows every port.
type nameRule struct {
	name     string
	wildcard bool
	port     uint16
}

// addrRule allows the addresses of a network. Port zero allows every port.
type addrRule struct {
	prefix netip.Prefix
	port   uint16
}

type rules struct {
	names []nameRule
	addrs []addrRule
}

func parseRules(entries []string) (rules, error) {
	var r rules
	for i, entry := range entries {
		if err := r.add(entry); err != nil {
			return rules{}, &EntryError{Index: i, Entry: entry, Err: err}
		}
	}
	return r, nil
}

func (r *rules) add(entry string) error {
	if entry == "" || strings.TrimSpace(entry) != entry {
		return errors.New("must be a host name, IP address or CIDR network without spaces")
	}
	if strings.Contains(entry, "/") {
		p, err := netip.ParsePrefix(entry)
		if err != nil {
			return fmt.Errorf("invalid CIDR network: %w", err)
		}
		if p.Masked() != p {
			return fmt.Errorf("host bits are set after the prefix length; use %s", p.Masked())
		}
		return r.addAddr(p.Addr(), p.Bits(), 0)
	}
	if a, err := netip.ParseAddr(entry); err == nil {
		return r.addAddr(a, a.BitLen(), 0)
	}
	if ap, err := netip.ParseAddrPort(entry); err == nil {
		if ap.Port() == 0 {
			return errors.New("port 0 is not a valid port")
		}
		return r.addAddr(ap.Addr(), ap.Addr().BitLen(), ap.Port())
	}
	return r.addName(entry)
}

func (r *rules) addAddr(a netip.Addr, bits int, port uint16) error {
	if a.Zone() != "" {
		return errors.New("IPv6 zones are not allowed")
	}
	if a.Is4In6() {
		return errors.New("IPv4-mapped IPv6 addresses are not allowed; write the IPv4 address")
	}
	r.addrs = append(r.addrs, addrRule{prefix: netip.PrefixFrom(a, bits), port: port})
	return nil
}

func (r *rules) addName(entry string) error {
	host, port := entry, uint16(0)
	if strings.Contains(entry, ":") {
		h, p, err := net.SplitHostPort(entry)
		if err != nil {
			return fmt.Errorf("invalid host:port: %w", err)
		}
		if port, err = parsePort(p); err != nil {
			return err
		}
		host = h
	}
	host = strings.ToLower(host)
	rule := nameRule{name: host, port: port}
	if rest, ok := strings.CutPrefix(host, "*."); ok {
		rule = nameRule{name: rest, wildcard: true, port: port}
	}
	if err := validateHostName(rule.name); err != nil {
		return err
	}
	r.names = append(r.names, rule)
	return nil
}

// parsePort parses a decimal port from 1 to 65535.
func parsePort(s string) (uint16, error) {
	n, err := strconv.ParseUint(s, 10, 16)
	if err != nil || n == 0 || strconv.FormatUint(n, 10) != s {
		return 0, fmt.Errorf("invalid port %q: use a number from 1 to 65535", s)
	}
	return uint16(n), nil
}

// validateHostName accepts names of letters, digits and hyphens in labels
// of 1 to 63 characters, at most 253 characters in all.
func validateHostName(name string) error {
	if name == "" || len(name) > 253 {
		return fmt.Errorf("invalid host name %q", name)
	}
	for label := range strings.SplitSeq(name, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return fmt.Errorf("invalid host name %q: each label must be 1 to 63 characters and not start or end with '-'", name)
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-') {
				return fmt.Errorf("invalid host name %q: %q is not allowed (use a-z, 0-9, '-')", name, c)
			}
		}
	}
	return nil
}

// allowsName reports whether a name entry matches host, which must be lower
// case without a trailing dot, and port.
func (r *rules) allowsName(host string, port uint16) bool {
	for _, n := range r.names {
		if n.port != 0 && n.port != port {
			continue
		}
		if n.wildcard && strings.HasSuffix(host, "."+n.name) || !n.wildcard && host == n.name {
			return true
		}
	}
	return false
}

// allowsAddr reports whether an address entry contains a and port.
func (r *rules) allowsAddr(a netip.Addr, port uint16) bool {
	for _, e := range r.addrs {
		if (e.port == 0 || e.port == port) && e.prefix.Contains(a) {
			return true
		}
	}
	return false
}

// unlocks reports whether an address entry that lies inside the forbidden
// range contains a and port, which makes a allowed despite the range.
func (r *rules) unlocks(a netip.Addr, port uint16, forbidden netip.Prefix) bool {
	for _, e := range r.addrs {
		inside := e.prefix.Bits() >= forbidden.Bits() && forbidden.Contains(e.prefix.Addr())
		if inside && (e.port == 0 || e.port == port) && e.prefix.Contains(a) {
			return true
		}
	}
	return false
}
