package config

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

const validYAML = `
listen: 0.0.0.0:8443
public_url: https://gateway.example.org:8443
payer_id: {system: http://hl7.org/fhir/sid/us-npi, value: "1234567893"}
tls:
  cert_file: server.pem
  key_file: server-key.pem
  client_ca_file: ca.pem
token:
  signing_key_file: signing.pem
  lifetime: 2m
database:
  path: gatehouse.db
network:
  allow_sources: [203.0.113.0/24, "2001:db8::/32"]
egress:
  allow: [engine.payer.internal:443]
audit:
  origin: payer.example/gatehouse-audit
  signing_key_file: audit/checkpoint.key
  recipients_file: audit/recipients.txt
upstream:
  url: https://engine.payer.internal/fhir
  timeout: 20s
partners:
  - id: epic-prod
    jwks_file: partners/epic.jwks.json
    scopes: [system/Claim.rs]
    interactions: ["Claim/$submit", "Claim/$inquire", capabilities]
`

func TestParseValid(t *testing.T) {
	f, err := Parse([]byte(validYAML), "/etc/gatehouse")
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	if f.Token.Lifetime != 2*time.Minute {
		t.Errorf("token.lifetime = %v, want 2m", f.Token.Lifetime)
	}
	if f.Limits.MaxBodyBytes != DefaultMaxBodyBytes {
		t.Errorf("limits.max_body_bytes default = %d", f.Limits.MaxBodyBytes)
	}
	if f.Policy.PageTokenLifetime != DefaultPageTokenLifetime {
		t.Errorf("policy.page_token_lifetime default = %v, want %v", f.Policy.PageTokenLifetime, DefaultPageTokenLifetime)
	}
	if want := DefaultBufferedBodies * f.Limits.MaxBodyBytes; f.Limits.MaxBufferedBodyBytes != want {
		t.Errorf("limits.max_buffered_body_bytes default = %d, want %d", f.Limits.MaxBufferedBodyBytes, want)
	}
	if f.Limits.MaxConnections != DefaultMaxConnections {
		t.Errorf("limits.max_connections default = %d, want %d", f.Limits.MaxConnections, DefaultMaxConnections)
	}
	if f.Limits.MaxConnectionsPerSource != DefaultMaxConnectionsPerSource {
		t.Errorf("limits.max_connections_per_source default = %d, want %d", f.Limits.MaxConnectionsPerSource, DefaultMaxConnectionsPerSource)
	}
	if f.Admin.MaxConnections != DefaultAdminMaxConnections {
		t.Errorf("admin.max_connections default = %d, want %d", f.Admin.MaxConnections, DefaultAdminMaxConnections)
	}
	if f.Admin.MaxConnectionsPerSource != DefaultAdminMaxConnectionsPerSource {
		t.Errorf("admin.max_connections_per_source default = %d, want %d", f.Admin.MaxConnectionsPerSource, DefaultAdminMaxConnectionsPerSource)
	}
	if f.Limits.HTTP2MaxConcurrentStreams != DefaultHTTP2MaxConcurrentStreams {
		t.Errorf("limits.http2_max_concurrent_streams default = %d, want %d", f.Limits.HTTP2MaxConcurrentStreams, DefaultHTTP2MaxConcurrentStreams)
	}
	if got := f.Resolve(f.Partners[0].JWKSFile); got != "/etc/gatehouse/partners/epic.jwks.json" {
		t.Errorf("Resolve = %s", got)
	}
	if got := f.TokenURL(); got != "https://gateway.example.org:8443/oauth/token" {
		t.Errorf("TokenURL = %s", got)
	}
}

func TestParseErrorsNameKeyPath(t *testing.T) {
	tests := []struct {
		name    string
		edit    func(string) string
		wantErr []string
	}{
		{"unknown top-level key", func(s string) string { return s + "debug: true\n" },
			[]string{`debug (line 30)`, `unknown key "debug"`}},
		{"unknown nested key", func(s string) string {
			return strings.Replace(s, "  lifetime: 2m", "  lifetime: 2m\n  lifetme: 3m", 1)
		}, []string{`token.lifetme (line 12)`, `unknown key "lifetme"`}},
		{"unknown key in partner", func(s string) string {
			return strings.Replace(s, "    scopes:", "    scope: x\n    scopes:", 1)
		}, []string{`partners[0].scope`, `unknown key "scope"`}},
		{"bad duration", func(s string) string { return strings.Replace(s, "lifetime: 2m", "lifetime: soon", 1) },
			[]string{`token.lifetime (line 11)`, `invalid value "soon"`, "duration"}},
		{"bad interaction", func(s string) string { return strings.Replace(s, `"Claim/$inquire"`, `"Claim/*"`, 1) },
			[]string{`partners[0].interactions[1]`, `"Claim/*"`}},
		{"http public url", func(s string) string {
			return strings.Replace(s, "https://gateway.example.org:8443", "http://gateway.example.org", 1)
		}, []string{`public_url`, `"http://gateway.example.org"`}},
		{"missing tls key", func(s string) string { return strings.Replace(s, "  key_file: server-key.pem\n", "", 1) },
			[]string{`tls.key_file: missing`}},
		{"bad partner id", func(s string) string { return strings.Replace(s, "id: epic-prod", "id: Epic Prod", 1) },
			[]string{`partners[0].id`, `"Epic Prod"`}},
		{"duplicate partner", func(s string) string {
			return s + "  - id: epic-prod\n    jwks_file: x.json\n"
		}, []string{`partners[1].id`, `already used by partners[0]`}},
		{"token lifetime too long", func(s string) string { return strings.Replace(s, "lifetime: 2m", "lifetime: 2h", 1) },
			[]string{`token.lifetime`, "out of range"}},
		{"page token lifetime too short", func(s string) string { return s + "policy:\n  page_token_lifetime: 30s\n" },
			[]string{`policy.page_token_lifetime`, "out of range", "between 1m0s and 24h0m0s"}},
		{"page token lifetime too long", func(s string) string { return s + "policy:\n  page_token_lifetime: 25h\n" },
			[]string{`policy.page_token_lifetime`, "out of range"}},
		{"page token lifetime negative", func(s string) string { return s + "policy:\n  page_token_lifetime: -5m\n" },
			[]string{`policy.page_token_lifetime`, "out of range"}},
		{"jwks max key age too short", func(s string) string {
			return strings.Replace(s, "lifetime: 2m", "lifetime: 2m\n  jwks_max_key_age: 30s", 1)
		}, []string{`token.jwks_max_key_age`, "out of range"}},
		{"verified cache too long", func(s string) string {
			return strings.Replace(s, "lifetime: 2m", "lifetime: 2m\n  verified_cache_ttl: 10m", 1)
		}, []string{`token.verified_cache_ttl`, "out of range"}},
		{"buffered body bound below the body cap", func(s string) string {
			return s + "limits:\n  max_body_bytes: 4096\n  max_buffered_body_bytes: 4096\n"
		}, []string{`limits.max_buffered_body_bytes`, "4096 is too small"}},
		{"negative connection limit", func(s string) string {
			return s + "limits:\n  max_connections: -1\n"
		}, []string{`limits.max_connections`, "-1 is out of range"}},
		{"per-source limit above the total", func(s string) string {
			return s + "limits:\n  max_connections: 10\n  max_connections_per_source: 11\n"
		}, []string{`limits.max_connections_per_source`, "11 is out of range", "(10)"}},
		{"negative admin connection limit", func(s string) string {
			return s + "admin:\n  max_connections: -1\n"
		}, []string{`admin.max_connections`, "-1 is out of range"}},
		{"admin per-source limit above the total", func(s string) string {
			return s + "admin:\n  max_connections: 4\n  max_connections_per_source: 5\n"
		}, []string{`admin.max_connections_per_source`, "5 is out of range", "admin.max_connections (4)"}},
		{"too many HTTP/2 streams", func(s string) string {
			return s + "limits:\n  http2_max_concurrent_streams: 5000\n"
		}, []string{`limits.http2_max_concurrent_streams`, "5000 is out of range"}},
		{"listen port out of range", func(s string) string { return strings.Replace(s, "listen: 0.0.0.0:8443", "listen: 0.0.0.0:99999", 1) },
			[]string{`listen: invalid port "99999" in "0.0.0.0:99999"`, "0 to 65535"}},
		{"listen port not a number", func(s string) string { return strings.Replace(s, "listen: 0.0.0.0:8443", "listen: 0.0.0.0:https", 1) },
			[]string{`listen: invalid port "https"`}},
		{"negative reload interval", func(s string) string {
			return strings.Replace(s, "  client_ca_file: ca.pem", "  client_ca_file: ca.pem\n  reload_interval: -1s", 1)
		}, []string{`tls.reload_interval: -1s is negative`}},
		{"strict skip outside interactions", func(s string) string { return s + "    strict_skip: [Claim.read]\n" },
			[]string{`partners[0].strict_skip[0]`, `"Claim.read" is not in partners[0].interactions`, "remove the entry"}},
		{"quoted strict no", func(s string) string { return s + "    strict: \"no\"\n" },
			[]string{`partners[0].strict (line 30)`, `invalid value "no": expected true or false`}},
		{"strict off word", func(s string) string { return s + "    strict: off\n" },
			[]string{`partners[0].strict`, `invalid value "off"`}},
		{"strict unknown profiles", func(s string) string { return s + "strict:\n  unknown_profiles: allow\n" },
			[]string{`strict.unknown_profiles`, `invalid value "allow": use reject or warn`}},
		{"subscription retention too short", func(s string) string { return s + "payer:\n  subscription_retention: 23h\n" },
			[]string{`payer.subscription_retention`, "23h0m0s is out of range", "at least 24h0m0s", "leave it out for 720h0m0s"}},
		{"subscription retention negative", func(s string) string { return s + "payer:\n  subscription_retention: -48h\n" },
			[]string{`payer.subscription_retention`, "-48h0m0s is out of range"}},
		{"partner strict unknown profiles", func(s string) string { return s + "    strict_unknown_profiles: allow\n" },
			[]string{`partners[0].strict_unknown_profiles: invalid value`, `invalid value "allow": use reject or warn`}},
		{"quoted kill switch", func(s string) string { return s + "alerts:\n  kill_switch: \"yes\"\n" },
			[]string{`alerts.kill_switch`, `invalid value "yes"`}},
		{"upstream with query", func(s string) string {
			return strings.Replace(s, "https://engine.payer.internal/fhir", "https://engine/fhir?x=1", 1)
		}, []string{`upstream.url`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.edit(validYAML)), "/etc/gatehouse")
			if err == nil {
				t.Fatal("Parse accepted the configuration")
			}
			for _, want := range tt.wantErr {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not contain %q", err, want)
				}
			}
		})
	}
}

func TestStrictSkipOfInteraction(t *testing.T) {
	f, err := Parse([]byte(validYAML+"    strict_skip: [\"Claim/$inquire\"]\n"), "/etc/gatehouse")
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	if got := f.Partners[0].StrictSkip; len(got) != 1 {
		t.Errorf("strict_skip = %q, want one entry", got)
	}
}

func TestParseBooleans(t *testing.T) {
	f, err := Parse([]byte(validYAML+"    strict: false\n"), "/etc/gatehouse")
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	if p := f.Partners[0].Strict; p == nil || *p {
		t.Errorf("partners[0].strict = %v, want false", p)
	}
}

func TestParseRejectsTwoDocuments(t *testing.T) {
	if _, err := Parse([]byte(validYAML+"---\nlisten: x\n"), "/"); err == nil {
		t.Fatal("Parse accepted two YAML documents")
	}
}

func TestParseRejectsEmpty(t *testing.T) {
	if _, err := Parse(nil, "/"); err == nil {
		t.Fatal("Parse accepted an empty file")
	}
}

// TestExampleConfig keeps the shipped example configuration valid.
func TestExampleConfig(t *testing.T) {
	f, err := Load("../../examples/gatehouse.yaml")
	if err != nil {
		t.Fatalf("examples/gatehouse.yaml: %v", err)
	}
	if len(f.Partners) != 1 || f.Partners[0].RateLimit.Burst != 100 {
		t.Errorf("partners = %+v", f.Partners)
	}
}

func TestNetworkErrorsNameEntry(t *testing.T) {
	bad := strings.Replace(validYAML, `allow_sources: [203.0.113.0/24, "2001:db8::/32"]`, `allow_sources: [203.0.113.0/24, "10.0.0.300/8"]`, 1)
	_, err := Parse([]byte(bad), "/etc/gatehouse")
	if err == nil || !strings.Contains(err.Error(), "network.allow_sources[1]") {
		t.Errorf("error = %v, want it to name network.allow_sources[1]", err)
	}
	bad = strings.Replace(validYAML, `allow: [engine.payer.internal:443]`, `allow: [engine.payer.internal:443, "http://x"]`, 1)
	_, err = Parse([]byte(bad), "/etc/gatehouse")
	if err == nil || !strings.Contains(err.Error(), "egress.allow[1]") {
		t.Errorf("error = %v, want it to name egress.allow[1]", err)
	}
	bad = strings.Replace(validYAML, "network:\n  allow_sources: [203.0.113.0/24, \"2001:db8::/32\"]\n", "", 1)
	if _, err = Parse([]byte(bad), "/etc/gatehouse"); err == nil || !strings.Contains(err.Error(), "network.allow_sources: missing") {
		t.Errorf("error = %v, want network.allow_sources missing", err)
	}
}

func TestPartnerJWKSURL(t *testing.T) {
	withURL := func(url string) func(string) string {
		return func(s string) string {
			return strings.Replace(s, "    jwks_file: partners/epic.jwks.json\n", "    jwks_url: "+url+"\n", 1)
		}
	}
	allowJWKSHost := func(s string) string {
		return strings.Replace(s, "allow: [engine.payer.internal:443]", "allow: [engine.payer.internal:443, fhir.epic.example:443]", 1)
	}

	f, err := Parse([]byte(allowJWKSHost(withURL("https://fhir.epic.example/jwks.json")(validYAML))), "/etc/gatehouse")
	if err != nil {
		t.Fatalf("Parse with jwks_url: %v", err)
	}
	if got := f.Partners[0].JWKSURL; got != "https://fhir.epic.example/jwks.json" {
		t.Errorf("jwks_url = %q", got)
	}

	tests := []struct {
		name    string
		edit    func(string) string
		wantErr []string
	}{
		{"neither file nor URL", func(s string) string {
			return strings.Replace(s, "    jwks_file: partners/epic.jwks.json\n", "", 1)
		}, []string{`partners[0].jwks_file: missing`, "jwks_url"}},
		{"file and URL", func(s string) string {
			return allowJWKSHost(strings.Replace(s, "    jwks_file: partners/epic.jwks.json\n",
				"    jwks_file: partners/epic.jwks.json\n    jwks_url: https://fhir.epic.example/jwks.json\n", 1))
		}, []string{`partners[0].jwks_url`, "only one of"}},
		{"http URL", func(s string) string { return allowJWKSHost(withURL("http://fhir.epic.example/jwks.json")(s)) },
			[]string{`partners[0].jwks_url`, `"http://fhir.epic.example/jwks.json"`}},
		{"URL with user information", func(s string) string {
			return allowJWKSHost(withURL("https://user:secret@fhir.epic.example/jwks.json")(s))
		}, []string{`partners[0].jwks_url`, "user information"}},
		{"URL with fragment", func(s string) string { return allowJWKSHost(withURL("https://fhir.epic.example/jwks.json#k1")(s)) },
			[]string{`partners[0].jwks_url`, "fragment"}},
		{"URL with port 0", func(s string) string { return allowJWKSHost(withURL("https://fhir.epic.example:0/jwks.json")(s)) },
			[]string{`partners[0].jwks_url`}},
		{"host not on egress.allow", withURL("https://fhir.epic.example/jwks.json"),
			[]string{`partners[0].jwks_url`, "add it to egress.allow"}},
		{"port not on egress.allow", func(s string) string { return allowJWKSHost(withURL("https://fhir.epic.example:8443/jwks.json")(s)) },
			[]string{`partners[0].jwks_url`, "fhir.epic.example:8443"}},
		{"CA file without URL", func(s string) string {
			return strings.Replace(s, "    jwks_file: partners/epic.jwks.json\n",
				"    jwks_file: partners/epic.jwks.json\n    jwks_ca_file: partners/epic-ca.pem\n", 1)
		}, []string{`partners[0].jwks_ca_file`, "only used with jwks_url"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.edit(validYAML)), "/etc/gatehouse")
			if err == nil {
				t.Fatal("Parse accepted the configuration")
			}
			for _, want := range tt.wantErr {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not contain %q", err, want)
				}
			}
		})
	}
}

func TestDatabaseURL(t *testing.T) {
	tests := []struct {
		name     string
		database string // the database section, replacing "  path: gatehouse.db"
		want     string // DatabaseURL, or the error's key and text
		wantErr  bool
	}{
		{"path", "  path: gatehouse.db", "sqlite:///etc/gatehouse/gatehouse.db", false},
		{"sqlite url, relative", "  url: sqlite://data/g.db", "sqlite:///etc/gatehouse/data/g.db", false},
		{"plain path url", "  url: /var/lib/gatehouse/g.db", "sqlite:///var/lib/gatehouse/g.db", false},
		{"postgres url", "  url: postgres://gh@db.internal/gatehouse?sslmode=verify-full",
			"postgres://gh@db.internal/gatehouse?sslmode=verify-full", false},
		{"both", "  path: g.db\n  url: postgres://db/g", "database.url: set database.url or database.path, not both", true},
		{"neither", "  url: \"\"", "database.url: missing", true},
		{"other scheme", "  url: mysql://db/g", `database.url: storage: unsupported database URL scheme "mysql"`, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			yaml := strings.Replace(validYAML, "  path: gatehouse.db", tt.database, 1)
			f, err := Parse([]byte(yaml), "/etc/gatehouse")
			if tt.wantErr {
				if err == nil || !strings.Contains(err.Error(), tt.want) {
					t.Errorf("err = %v, want one containing %q", err, tt.want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := f.DatabaseURL(); got != tt.want {
				t.Errorf("DatabaseURL = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestInlineJWKS(t *testing.T) {
	pub := `{"keys":[{"kty":"EC","crv":"P-256","kid":"k1","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}]}`
	priv := `{"keys":[{"kty":"EC","crv":"P-256","kid":"k1","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0","d":"jpsQnnGQmL-YBIffH1136cspYG6-0iY7X1fCE9-E9LI"}]}`
	inline := func(jwks string) string {
		return strings.Replace(validYAML, "    jwks_file: partners/epic.jwks.json\n", "    jwks: '"+jwks+"'\n", 1)
	}
	f, err := Parse([]byte(inline(pub)), "/etc/gatehouse")
	if err != nil || f.Partners[0].JWKS == "" {
		t.Fatalf("inline public JWK set: %v", err)
	}
	_, err = Parse([]byte(inline(priv)), "/etc/gatehouse")
	if err == nil || !strings.Contains(err.Error(), "partners[0].jwks") || !strings.Contains(err.Error(), "private key") {
		t.Errorf("inline private key: %v", err)
	}
	if strings.Contains(fmt.Sprint(err), "jpsQnnGQ") {
		t.Error("the error quotes key material")
	}
	both := strings.Replace(validYAML, "    jwks_file: partners/epic.jwks.json\n", "    jwks_file: partners/epic.jwks.json\n    jwks: '"+pub+"'\n", 1)
	if _, err := Parse([]byte(both), "/etc/gatehouse"); err == nil || !strings.Contains(err.Error(), "only one of") {
		t.Errorf("file and inline together: %v", err)
	}
}

func TestVerifiedCacheOption(t *testing.T) {
	tests := []struct {
		yaml string
		want time.Duration
	}{
		{"", 0},
		{"\n  verified_cache_ttl: 0s", -1},
		{"\n  verified_cache_ttl: 1m", time.Minute},
	}
	for _, tt := range tests {
		f, err := Parse([]byte(strings.Replace(validYAML, "lifetime: 2m", "lifetime: 2m"+tt.yaml, 1)), "/etc/gatehouse")
		if err != nil {
			t.Fatalf("%q: %v", tt.yaml, err)
		}
		if got := f.Token.VerifiedCacheOption(); got != tt.want {
			t.Errorf("%q: VerifiedCacheOption() = %v, want %v", tt.yaml, got, tt.want)
		}
	}
}

func TestParseSyntaxErrorWrapsErrSyntax(t *testing.T) {
	_, err := Parse([]byte("listen: [\n"), "/")
	if !errors.Is(err, ErrSyntax) {
		t.Errorf("Parse of broken YAML = %v, want it to wrap ErrSyntax", err)
	}
	_, err = Parse([]byte(validYAML+"debug: true\n"), "/")
	if errors.Is(err, ErrSyntax) {
		t.Errorf("Parse of an unknown key = %v, which wraps ErrSyntax", err)
	}
}

func TestPolicySubscriptionTopics(t *testing.T) {
	const topics = "policy:\n  subscription_topics:\n    - http://example.org/SubscriptionTopic/admission\n    - http://example.org/SubscriptionTopic/discharge|1.1.0\n" +
		"  shadow:\n    subscription_topics: [\"urn:uuid:9a1b8c2d-4e5f-4a6b-8c7d-0e1f2a3b4c5d\"]\n"
	f, err := Parse([]byte(validYAML+topics), "/etc/gatehouse")
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	want := []string{"http://example.org/SubscriptionTopic/admission", "http://example.org/SubscriptionTopic/discharge|1.1.0"}
	if got := f.Policy.SubscriptionTopics; len(got) != 2 || got[0] != want[0] || got[1] != want[1] {
		t.Errorf("policy.subscription_topics = %q, want %q", got, want)
	}
	if got := f.Policy.Shadow.SubscriptionTopics; len(got) != 1 {
		t.Errorf("policy.shadow.subscription_topics = %q, want one entry", got)
	}
}

func TestPolicySubscriptionTopicErrors(t *testing.T) {
	tests := []struct {
		name, policy, wantPath string
	}{
		{"relative", "  subscription_topics: [SubscriptionTopic/admission]\n", "policy.subscription_topics[0]"},
		{"search", "  subscription_topics: [\"Encounter?status=finished\"]\n", "policy.subscription_topics[0]"},
		{"query", "  subscription_topics: [\"http://example.org/t?x=1\"]\n", "policy.subscription_topics[0]"},
		{"fragment", "  subscription_topics: [\"http://example.org/t#x\"]\n", "policy.subscription_topics[0]"},
		{"space", "  subscription_topics: [\"http://example.org/t x\"]\n", "policy.subscription_topics[0]"},
		{"no host", "  subscription_topics: [\"http:/SubscriptionTopic/x\"]\n", "policy.subscription_topics[0]"},
		{"empty version", "  subscription_topics: [\"http://example.org/ok\", \"http://example.org/t|\"]\n", "policy.subscription_topics[1]"},
		{"in shadow", "  shadow:\n    subscription_topics: [\"\"]\n", "policy.shadow.subscription_topics[0]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(validYAML+"policy:\n"+tt.policy), "/etc/gatehouse")
			if err == nil {
				t.Fatal("Parse accepted the configuration")
			}
			if !strings.Contains(err.Error(), tt.wantPath+": invalid value") {
				t.Errorf("error %q does not name %s", err, tt.wantPath)
			}
			if !strings.Contains(err.Error(), "canonical URL") && !strings.Contains(err.Error(), "version") {
				t.Errorf("error %q does not say what a valid value is", err)
			}
		})
	}
}

func TestPageTokenLifetimeSet(t *testing.T) {
	f, err := Parse([]byte(validYAML+"policy:\n  page_token_lifetime: 2h\n"), "/etc/gatehouse")
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	if f.Policy.PageTokenLifetime != 2*time.Hour {
		t.Errorf("policy.page_token_lifetime = %v, want 2h", f.Policy.PageTokenLifetime)
	}
}

func TestSubscriptionRetentionSet(t *testing.T) {
	f, err := Parse([]byte(validYAML+"payer:\n  subscription_retention: 72h\n"), "/etc/gatehouse")
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	if f.Payer.SubscriptionRetention != 72*time.Hour {
		t.Errorf("payer.subscription_retention = %v, want 72h", f.Payer.SubscriptionRetention)
	}
}

func TestWarnUnknownProfilesPerPartner(t *testing.T) {
	tests := []struct {
		name, global, partner string
		want                  bool
	}{
		{"defaults", "", "", false},
		{"global warn", "strict:\n  unknown_profiles: warn\n", "", true},
		{"partner warn", "", "    strict_unknown_profiles: warn\n", true},
		{"partner reject under global warn", "strict:\n  unknown_profiles: warn\n", "    strict_unknown_profiles: reject\n", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := Parse([]byte(validYAML+tt.partner+tt.global), "/etc/gatehouse")
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if got := f.WarnUnknownProfiles(f.Partners[0]); got != tt.want {
				t.Errorf("WarnUnknownProfiles = %v, want %v", got, tt.want)
			}
		})
	}
}
