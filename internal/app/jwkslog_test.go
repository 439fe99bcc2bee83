package app

import (
	"bytes"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-health/gatehouse/internal/token"
)

// TestJWKSFetchLogAndCount checks the log level and counter outcome of
// each kind of JWKS fetch, and that an expired set is logged as an error
// that states the partner is rejected.
func TestJWKSFetchLogAndCount(t *testing.T) {
	fail := errors.New("connection refused")
	cases := []struct {
		name, level, outcome string
		ev                   token.JWKSFetch
	}{
		{"fetched", "INFO", "fetched", token.JWKSFetch{ClientID: "ehr", Keys: 1, MaxAge: time.Hour}},
		{"failed with a stale set", "WARN", "failed", token.JWKSFetch{ClientID: "ehr", Err: fail, Stale: true, RetryIn: time.Second}},
		{"failed with an expired set", "ERROR", "expired", token.JWKSFetch{ClientID: "ehr", Err: fail, Expired: true, RetryIn: time.Minute}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var buf bytes.Buffer
			var counted []string
			log := slog.New(slog.NewTextHandler(&buf, nil))
			logJWKSFetch(log, func(partner, outcome string) { counted = append(counted, partner+"/"+outcome) })(c.ev)
			if !strings.Contains(buf.String(), "level="+c.level) {
				t.Errorf("log %q, expected level %s", buf.String(), c.level)
			}
			if len(counted) != 1 || counted[0] != "ehr/"+c.outcome {
				t.Errorf("counted %v, expected ehr/%s", counted, c.outcome)
			}
			if c.ev.Expired && !strings.Contains(buf.String(), "rejected") {
				t.Errorf("expired log line %q does not say the partner is rejected", buf.String())
			}
		})
	}
}
