package egress

import (
	"context"
	"errors"
	"net"
	"slices"
	"testing"
)

func TestDialDenied(t *testing.T) {
	resolver := newStubResolver(map[string][]string{
		"ehr.partner.test":    {"192.0.2.10"},
		"rebind.partner.test": {"192.0.2.10", "127.0.0.1"},
		"meta.partner.test":   {"169.254.169.254"},
		"meta6.partner.test":  {"fd00:ec2::254"},
		"lan.partner.test":    {"10.1.2.3"},
		"cgnat.partner.test":  {"100.64.0.9"},
		"mapped.partner.test": {"::ffff:127.0.0.1"},
		"nat64.partner.test":  {"64:ff9b::a9fe:a9fe"},
		"evil.test":           {"192.0.2.66"},
	})
	allow := []string{"*.partner.test", "0.0.0.0/0", "::/0"}
	tests := []struct {
		target string
		rule   string
		detail string
	}{
		{"evil.test:443", RuleHost, ""},
		{"rebind.partner.test:443", RuleForbidden, "loopback"},
		{"meta.partner.test:80", RuleForbidden, "cloud-metadata"},
		{"meta6.partner.test:80", RuleForbidden, "cloud-metadata"},
		{"lan.partner.test:443", RuleForbidden, "private"},
		{"cgnat.partner.test:443", RuleForbidden, "carrier-grade NAT"},
		{"mapped.partner.test:443", RuleForbidden, "loopback"},
		{"nat64.partner.test:443", RuleForbidden, "cloud-metadata (embedded in 64:ff9b::/96)"},
		{"169.254.169.254:80", RuleForbidden, "cloud-metadata"},
		{"[fd00:ec2::254]:80", RuleForbidden, "cloud-metadata"},
		{"127.0.0.1:443", RuleForbidden, "loopback"},
		{"[::1]:443", RuleForbidden, "loopback"},
		{"224.0.0.1:443", RuleForbidden, "multicast"},
		{"0.0.0.0:443", RuleForbidden, "unspecified"},
		{"[::]:443", RuleForbidden, "unspecified"},
		{"[fe80::1]:443", RuleForbidden, "link-local"},
		{"[2002:a9fe:a9fe::1]:443", RuleForbidden, "cloud-metadata (embedded in 2002::/16)"},
		{"notaport:https", RuleTarget, ""},
		// Spellings of 127.0.0.1 that inet_aton and some URL parsers
		// accept are not IP addresses to netip, so they must match a
		// name entry, and none does.
		{"2130706433:443", RuleHost, ""},
		{"0177.0.0.1:443", RuleHost, ""},
		{"0x7f.0.0.1:443", RuleHost, ""},
		{"127.1:443", RuleHost, ""},
		{"localhost:443", RuleHost, ""},
		{"[::ffff:7f00:1]:443", RuleForbidden, "loopback"},
		{"[::127.0.0.1]:443", RuleForbidden, "IPv4-compatible"},
		{"[::ffff:0:127.0.0.1]:443", RuleForbidden, "IPv4-translated"},
		{"[fe80::1%25eth0]:443", RuleTarget, ""},
	}
	for _, tt := range tests {
		t.Run(tt.target, func(t *testing.T) {
			dialer := &dialRecorder{}
			var hook denials
			g, err := New(Options{Allow: allow, Resolver: resolver, Dial: dialer.dial, OnDeny: hook.add})
			if err != nil {
				t.Fatal(err)
			}
			_, err = g.DialContext(context.Background(), "tcp", tt.target)
			var denied *DeniedError
			if !errors.As(err, &denied) {
				t.Fatalf("DialContext error = %v, want *DeniedError", err)
			}
			if denied.Rule != tt.rule || tt.detail != "" && denied.Detail != tt.detail {
				t.Errorf("denied with rule %s detail %q, want %s %q", denied.Rule, denied.Detail, tt.rule, tt.detail)
			}
			if calls := dialer.calls(); len(calls) != 0 {
				t.Errorf("dialer was called with %v, want no call", calls)
			}
			if reported := hook.all(); len(reported) != 1 || reported[0] != denied {
				t.Errorf("OnDeny got %v, want exactly the returned error", reported)
			}
		})
	}
}

func TestDialPortEntries(t *testing.T) {
	dialer := &dialRecorder{}
	g, err := New(Options{Allow: []string{"198.51.100.7:8443", "api.partner.test:443"},
		Resolver: newStubResolver(map[string][]string{"api.partner.test": {"192.0.2.10"}}), Dial: dialer.dial})
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		target string
		ok     bool
	}{
		{"198.51.100.7:8443", true},
		{"198.51.100.7:443", false},
		{"api.partner.test:443", true},
		{"api.partner.test:8443", false},
	} {
		_, err := g.DialContext(context.Background(), "tcp", tt.target)
		if (err == nil) != tt.ok {
			t.Errorf("DialContext(%s) error = %v, want allowed %v", tt.target, err, tt.ok)
		}
	}
}

// TestDialRebinding resolves a listed name twice: the first answer is a
// public address and is dialled, the second is loopback and is refused
// before any connection attempt.
func TestDialRebinding(t *testing.T) {
	resolver := newStubResolver(map[string][]string{"ehr.partner.test": {"192.0.2.10"}}).
		then("ehr.partner.test", "127.0.0.1")
	dialer := &dialRecorder{}
	g, err := New(Options{Allow: []string{"ehr.partner.test"}, Resolver: resolver, Dial: dialer.dial})
	if err != nil {
		t.Fatal(err)
	}
	c, err := g.DialContext(context.Background(), "tcp", "ehr.partner.test:443")
	if err != nil {
		t.Fatalf("first dial: %v", err)
	}
	c.Close()
	_, err = g.DialContext(context.Background(), "tcp", "ehr.partner.test:443")
	var denied *DeniedError
	if !errors.As(err, &denied) || denied.Address.String() != "127.0.0.1" {
		t.Fatalf("second dial error = %v, want loopback refused", err)
	}
	if calls := dialer.calls(); !slices.Equal(calls, []string{"192.0.2.10:443"}) {
		t.Errorf("dialled %v, want only the first, public address", calls)
	}
}

func TestDialMixedAnswerRefused(t *testing.T) {
	resolver := newStubResolver(map[string][]string{"ehr.partner.test": {"192.0.2.10", "10.0.0.5"}})
	dialer := &dialRecorder{}
	g, _ := New(Options{Allow: []string{"ehr.partner.test"}, Resolver: resolver, Dial: dialer.dial})
	if _, err := g.DialContext(context.Background(), "tcp", "ehr.partner.test:443"); err == nil {
		t.Fatal("dial succeeded with a private address in the answer")
	}
	if calls := dialer.calls(); len(calls) != 0 {
		t.Errorf("dialled %v before refusing", calls)
	}
}

func TestExplicitEntryUnlocksForbiddenRange(t *testing.T) {
	resolver := newStubResolver(map[string][]string{"engine.payer.internal": {"10.1.2.7"}})
	tests := []struct {
		name   string
		allow  []string
		target string
		ok     bool
	}{
		{"CIDR inside the private range", []string{"10.1.2.0/24"}, "10.1.2.7:443", true},
		{"name plus CIDR", []string{"engine.payer.internal", "10.1.2.0/24"}, "engine.payer.internal:443", true},
		{"name alone", []string{"engine.payer.internal"}, "engine.payer.internal:443", false},
		{"catch-all does not unlock", []string{"0.0.0.0/0"}, "10.1.2.7:443", false},
		{"catch-all does not unlock metadata", []string{"0.0.0.0/0", "169.254.0.0/16"}, "169.254.169.254:80", false},
		{"metadata named exactly", []string{"169.254.169.254/32"}, "169.254.169.254:80", true},
		{"loopback with port", []string{"127.0.0.1:8080"}, "127.0.0.1:8080", true},
		{"loopback other port", []string{"127.0.0.1:8080"}, "127.0.0.1:8081", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dialer := &dialRecorder{}
			g, err := New(Options{Allow: tt.allow, Resolver: resolver, Dial: dialer.dial})
			if err != nil {
				t.Fatal(err)
			}
			_, err = g.DialContext(context.Background(), "tcp", tt.target)
			if (err == nil) != tt.ok {
				t.Errorf("DialContext error = %v, want allowed %v", err, tt.ok)
			}
			if !tt.ok && len(dialer.calls()) != 0 {
				t.Errorf("dialled %v for a refused target", dialer.calls())
			}
		})
	}
}

func TestDialNonTCPRefused(t *testing.T) {
	g, _ := New(Options{Allow: []string{"0.0.0.0/0"}, Dial: (&dialRecorder{}).dial})
	_, err := g.DialContext(context.Background(), "udp", "192.0.2.1:53")
	var denied *DeniedError
	if !errors.As(err, &denied) || denied.Rule != RuleNetwork {
		t.Errorf("udp dial error = %v, want RuleNetwork", err)
	}
}

func TestDialResolveFailure(t *testing.T) {
	g, _ := New(Options{Allow: []string{"gone.partner.test"}, Resolver: newStubResolver(nil), Dial: (&dialRecorder{}).dial})
	_, err := g.DialContext(context.Background(), "tcp", "gone.partner.test:443")
	var dnsErr *net.DNSError
	if !errors.As(err, &dnsErr) {
		t.Errorf("error = %v, want the resolver's *net.DNSError wrapped", err)
	}
}

func TestParseRulesRejects(t *testing.T) {
	for _, entry := range []string{"", "10.0.0.1/8", "Bad_Name.test", "*.", "a..b", "-a.test", "host:0", "host:http", "[fe80::1%eth0]:443", "::ffff:10.0.0.1", "host.test:65536", "*.*.test"} {
		t.Run(entry, func(t *testing.T) {
			_, err := New(Options{Allow: []string{"ok.test", entry}})
			var entryErr *EntryError
			if !errors.As(err, &entryErr) || entryErr.Index != 1 {
				t.Errorf("New error = %v, want *EntryError for index 1", err)
			}
		})
	}
}
