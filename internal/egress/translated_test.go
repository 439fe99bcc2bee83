package egress

import (
	"context"
	"errors"
	"testing"
)

// TestDialDeniesTranslationPrefixes resolves an allowlisted name to IPv6
// addresses that a translator on the path turns into IPv4 ones: the
// local-use NAT64 prefix and the SIIT IPv4-translated form. Both can
// carry the metadata or a loopback address and must be refused before
// any connection.
func TestDialDeniesTranslationPrefixes(t *testing.T) {
	resolver := newStubResolver(map[string][]string{
		"local64.partner.test": {"64:ff9b:1:a9fe:a9:fe00::"},
		"siit.partner.test":    {"::ffff:0:a9fe:a9fe"},
		"siit-lo.partner.test": {"::ffff:0:7f00:1"},
	})
	for _, target := range []string{"local64.partner.test:443", "siit.partner.test:443", "siit-lo.partner.test:443"} {
		t.Run(target, func(t *testing.T) {
			dialer := &dialRecorder{}
			g, err := New(Options{Allow: []string{"*.partner.test", "::/0"}, Resolver: resolver, Dial: dialer.dial})
			if err != nil {
				t.Fatal(err)
			}
			_, err = g.DialContext(context.Background(), "tcp", target)
			var denied *DeniedError
			if !errors.As(err, &denied) || denied.Rule != RuleForbidden {
				t.Fatalf("DialContext error = %v, want a %s denial", err, RuleForbidden)
			}
			if calls := dialer.calls(); len(calls) != 0 {
				t.Errorf("dialer was called with %v, want no call", calls)
			}
		})
	}
}

// TestTranslationPrefixEntryUnlocksNothing allows a whole NAT64 or 6to4
// prefix. Such an entry is the translated form of "0.0.0.0/0", so, like
// that entry, it must not unlock the metadata, loopback or private
// addresses embedded in it. An entry inside the translated form of a
// forbidden range unlocks that range, as the IPv4 entry would.
func TestTranslationPrefixEntryUnlocksNothing(t *testing.T) {
	resolver := newStubResolver(map[string][]string{"dns64.partner.test": {"64:ff9b::a9fe:a9fe"}})
	tests := []struct {
		name   string
		allow  []string
		target string
		ok     bool
	}{
		{"NAT64 prefix, metadata", []string{"64:ff9b::/96"}, "[64:ff9b::a9fe:a9fe]:80", false},
		{"NAT64 prefix, loopback", []string{"64:ff9b::/96"}, "[64:ff9b::7f00:1]:443", false},
		{"NAT64 prefix, private", []string{"64:ff9b::/96"}, "[64:ff9b::a01:203]:443", false},
		{"NAT64 prefix, name resolved to metadata", []string{"*.partner.test", "64:ff9b::/96"}, "dns64.partner.test:80", false},
		{"NAT64 prefix, public address", []string{"64:ff9b::/96"}, "[64:ff9b::c633:6407]:443", true},
		{"6to4 prefix, metadata", []string{"2002::/16"}, "[2002:a9fe:a9fe::1]:80", false},
		{"6to4 prefix, loopback", []string{"2002::/16"}, "[2002:7f00:1::1]:443", false},
		{"6to4 prefix, public address", []string{"2002::/16"}, "[2002:c633:6407::1]:443", true},
		{"translated private network", []string{"64:ff9b::a00:0/104"}, "[64:ff9b::a01:203]:443", true},
		{"translated private network, metadata", []string{"64:ff9b::a00:0/104", "64:ff9b::/96"}, "[64:ff9b::a9fe:a9fe]:80", false},
		{"translated 6to4 private network", []string{"2002:a00::/24"}, "[2002:a01:203::1]:443", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dialer := &dialRecorder{}
			g, err := New(Options{Allow: tt.allow, Resolver: resolver, Dial: dialer.dial})
			if err != nil {
				t.Fatal(err)
			}
			_, err = g.DialContext(context.Background(), "tcp", tt.target)
			if tt.ok {
				if err != nil {
					t.Errorf("DialContext error = %v, want allowed", err)
				}
				return
			}
			var denied *DeniedError
			if !errors.As(err, &denied) || denied.Rule != RuleForbidden {
				t.Errorf("DialContext error = %v, want a %s denial", err, RuleForbidden)
			}
			if calls := dialer.calls(); len(calls) != 0 {
				t.Errorf("dialer was called with %v, want no call", calls)
			}
		})
	}
}
