package storage

import (
	"context"
	"strings"
	"testing"
)

// TestPostgresErrorsHideQueryPassword opens PostgreSQL URLs that carry the
// password as a query parameter, as libpq and pgx allow, where nothing
// listens, has no host, or cannot be parsed. The errors, which reach
// logs and the terminal, must not contain the password.
func TestPostgresErrorsHideQueryPassword(t *testing.T) {
	const secret = "Sw0rdfish-s3cret"
	for _, raw := range []string{
		"postgres://gh@127.0.0.1:1/gatehouse?password=" + secret + "&connect_timeout=2",
		"postgres://gh@127.0.0.1:1/gatehouse?sslmode=disable&sslpassword=" + secret + "&connect_timeout=2",
		"postgres:///gatehouse?password=" + secret,
		"postgres://gh@127.0.0.1:1/gatehouse?password=" + secret + "&sslmode=bogus",
		"postgres://gh@127.0.0.1:1/gatehouse?sslpassword=" + secret + "&sslmode=bogus",
		"postgres://gh:" + secret + "@127.0.0.1:1/gatehouse?connect_timeout=2",
	} {
		_, err := Open(context.Background(), raw)
		if err == nil {
			t.Fatalf("Open succeeded on a port where nothing listens")
		}
		if strings.Contains(err.Error(), secret) {
			t.Errorf("error shows the password: %v", err)
		}
		if got := Redacted(raw); strings.Contains(got, secret) {
			t.Errorf("Redacted shows the password: %s", got)
		}
	}
}
