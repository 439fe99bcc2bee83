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
