package netguard

import (
	"errors"
	"net/netip"
	"testing"
)

func TestParseAllowlistRejects(t *testing.T) {
	tests := []struct{ name, entry string }{
		{"host bits set", "10.0.0.1/8"},
		{"prefix too long", "10.0.0.0/33"},
		{"zone", "fe80::1%eth0"},
		{"IPv4-mapped network", "::ffff:10.0.0.0/104"},
		{"IPv4-mapped address", "::ffff:10.0.0.1"},
		{"host name", "partner.example"},
		{"empty", ""},
		{"spaces", " 10.0.0.0/8"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseAllowlist([]string{"192.0.2.0/24", tt.entry})
			var entryErr *EntryError
			if !errors.As(err, &entryErr) {
				t.Fatalf("error = %v, want *EntryError", err)
			}
			if entryErr.Index != 1 || entryErr.Entry != tt.entry {
				t.Errorf("EntryError index %d entry %q, want 1 %q", entryErr.Index, entryErr.Entry, tt.entry)
			}
		})
	}
}

func TestAllowlistContains(t *testing.T) {
	a := MustParseAllowlist("10.20.0.0/16", "192.0.2.7", "2001:db8:1::/48", "::1")
	tests := []struct {
		addr string
		want bool
	}{
		{"10.20.255.1", true},
		{"10.21.0.1", false},
		{"192.0.2.7", true},
		{"192.0.2.8", false},
		{"::ffff:10.20.0.5", true},
		{"::ffff:192.0.2.8", false},
		{"2001:db8:1:ffff::1", true},
		{"2001:db8:2::1", false},
		{"::1", true},
		{"fe80::1%lo", false},
		{"127.0.0.1", false},
	}
	for _, tt := range tests {
		t.Run(tt.addr, func(t *testing.T) {
			if got := a.Contains(netip.MustParseAddr(tt.addr)); got != tt.want {
				t.Errorf("Contains(%s) = %v, want %v", tt.addr, got, tt.want)
			}
		})
	}
	if (*Allowlist)(nil).Contains(netip.MustParseAddr("10.20.0.1")) {
		t.Error("nil Allowlist contains an address")
	}
	if a.Contains(netip.Addr{}) {
		t.Error("Allowlist contains the zero Addr")
	}
	if got, want := a.String(), "10.20.0.0/16,192.0.2.7/32,2001:db8:1::/48,::1/128"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
}

func TestCheckPartner(t *testing.T) {
	g := mustGuard(t, Options{
		Allow:    MustParseAllowlist("0.0.0.0/0", "::/0"),
		Partners: map[string]*Allowlist{"acme-ehr": MustParseAllowlist("198.51.100.0/24")},
	})
	tests := []struct {
		partner, source string
		ok              bool
	}{
		{"acme-ehr", "198.51.100.20", true},
		{"acme-ehr", "::ffff:198.51.100.20", true},
		{"acme-ehr", "203.0.113.5", false},
		{"other-ehr", "203.0.113.5", true}, // no partner list: the global list alone applies
	}
	for _, tt := range tests {
		t.Run(tt.partner+" from "+tt.source, func(t *testing.T) {
			err := g.CheckPartner(tt.partner, netip.MustParseAddr(tt.source))
			if tt.ok && err != nil {
				t.Errorf("CheckPartner: %v", err)
			}
			var denied *DeniedError
			if !tt.ok && (!errors.As(err, &denied) || denied.Rule != RulePartner || denied.Partner != tt.partner) {
				t.Errorf("CheckPartner error = %v, want a partner DeniedError", err)
			}
		})
	}
	if n := g.Stats().RefusedPartner; n != 1 {
		t.Errorf("RefusedPartner = %d, want 1", n)
	}
}
