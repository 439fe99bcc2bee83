package posture

import (
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"strings"

	"github.com/gatehouse-health/gatehouse/internal/storage"
)

// postgresTLS is the hosts and the TLS mode of a PostgreSQL URL.
type postgresTLS struct {
	// hosts are the host names, IP addresses or Unix socket directories,
	// in order. An empty one means the driver's default.
	hosts []string
	// sslMode is the mode the driver applies, with an unset sslmode as "".
	sslMode string
}

// parsePostgresTLS reads the hosts and the TLS mode of a PostgreSQL URL the
// way pgx v5.13 (jackc/pgx/v5/pgconn, parse_url.go and configTLS) does,
// which follows libpq:
//   - The authority may list several hosts separated by commas.
//   - A query parameter overrides the authority, and of a repeated
//     parameter the last one counts.
//   - ssl=true means sslmode=require when it comes after the last sslmode.
//   - sslnegotiation=direct raises an unset or prefer mode to require.
//   - sslrootcert=system raises any mode to verify-full.
//   - require with an sslrootcert file verifies like verify-ca.
//
// NOTE: settings the driver takes from the gateway's environment
// (PGSSLMODE, PGSSLROOTCERT) or from a service file (service=) are not
// visible here, so an unset sslmode is judged as the default, prefer.
func parsePostgresTLS(raw string) (postgresTLS, error) {
	u, err := url.Parse(raw)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // url.Error quotes the URL, which may hold a password
		}
		return postgresTLS{}, err
	}
	params, err := postgresParams(u.RawQuery)
	if err != nil {
		return postgresTLS{}, err
	}

	var c postgresTLS
	hostList, ok := params["host"]
	if !ok {
		hostList = u.Host
	}
	for _, h := range strings.Split(hostList, ",") {
		if ok {
			c.hosts = append(c.hosts, h)
			continue
		}
		// Hostname drops the port and the brackets of an IPv6 address.
		c.hosts = append(c.hosts, (&url.URL{Host: h}).Hostname())
	}

	c.sslMode = params["sslmode"]
	if params["sslnegotiation"] == "direct" && (c.sslMode == "" || c.sslMode == "prefer") {
		c.sslMode = "require"
	}
	switch root := params["sslrootcert"]; {
	case root == "system":
		c.sslMode = "verify-full"
	case root != "" && c.sslMode == "require":
		c.sslMode = "verify-ca"
	}
	return c, nil
}

// postgresParams decodes a URL query as libpq does: pairs separated by &,
// percent-decoding without + as a space, the last of a repeated key kept,
// and the ssl=true alias resolved into sslmode.
func postgresParams(rawQuery string) (map[string]string, error) {
	params := map[string]string{}
	sslWasLast := false
	for _, pair := range strings.Split(rawQuery, "&") {
		if pair == "" {
			continue
		}
		rawKey, rawValue, found := strings.Cut(pair, "=")
		if !found {
			return nil, fmt.Errorf("query parameter %q has no value", rawKey)
		}
		key, err := url.PathUnescape(rawKey)
		if err != nil {
			return nil, fmt.Errorf("query parameter %q: %w", rawKey, err)
		}
		value, err := url.PathUnescape(rawValue)
		if err != nil {
			// The value may be a password, so the error names the key only.
			return nil, fmt.Errorf("query parameter %q has an invalid percent-encoding", key)
		}
		switch key {
		case "ssl":
			sslWasLast = true
		case "sslmode":
			sslWasLast = false
		}
		params[key] = value
	}
	if params["ssl"] == "true" && sslWasLast {
		params["sslmode"] = "require"
	}
	return params, nil
}

// isLocalDatabaseHost reports whether host is reached without a network:
// a Unix socket directory, the driver's default host (a socket directory
// or localhost), localhost, or a loopback address.
func isLocalDatabaseHost(host string) bool {
	if host == "" || strings.HasPrefix(host, "/") || strings.EqualFold(host, "localhost") {
		return true
	}
	addr, err := netip.ParseAddr(host)
	return err == nil && addr.IsLoopback()
}

func checkDatabaseTLS(t *Target) []result {
	key := "database.url"
	if t.Config.Database.URL == "" {
		key = "database.path"
	}
	dialect, target, err := storage.ParseURL(t.Config.DatabaseURL())
	if err != nil {
		return []result{errorResult(key, "cannot parse the database URL: %v", err)}
	}
	if dialect != storage.PostgreSQL {
		return []result{pass(key, "the record database is a SQLite file, which no network carries")}
	}
	conn, err := parsePostgresTLS(target)
	if err != nil {
		return []result{fail(key, "cannot read the PostgreSQL URL: %v", err)}
	}

	var remote []string
	for _, h := range conn.hosts {
		if !isLocalDatabaseHost(h) {
			remote = append(remote, h)
		}
	}
	if len(remote) == 0 {
		return []result{pass(key, "the record database is PostgreSQL on a Unix socket or loopback address, which no network carries")}
	}
	hosts := strings.Join(remote, ", ")
	switch conn.sslMode {
	case "verify-full":
		return []result{pass(key, "the connection to PostgreSQL on %s uses sslmode=verify-full", hosts)}
	case "verify-ca":
		return []result{failAt(Medium, key, "the connection to PostgreSQL on %s verifies the server's certificate chain but not its host name (sslmode=verify-ca, or require with sslrootcert). Set sslmode=verify-full", hosts)}
	case "require":
		return []result{failAt(Medium, key, "the connection to PostgreSQL on %s is encrypted but accepts any server certificate (sslmode=require). Set sslmode=verify-full and sslrootcert", hosts)}
	case "":
		return []result{fail(key, "the URL sets no sslmode, so the connection to PostgreSQL on %s uses PGSSLMODE from the gateway's environment or else prefer, which falls back to plain text and accepts any server certificate. Set sslmode=verify-full", hosts)}
	case "disable", "allow", "prefer":
		return []result{fail(key, "sslmode=%s lets the connection to PostgreSQL on %s carry PHI in plain text or to an unverified server. Set sslmode=verify-full", conn.sslMode, hosts)}
	}
	return []result{fail(key, "sslmode=%q is not a mode the PostgreSQL driver accepts, so the gateway cannot connect to %s. Set sslmode=verify-full", conn.sslMode, hosts)}
}
