// Package storagetest gives tests an empty database on each storage
// backend, so one test body runs against SQLite and PostgreSQL alike.
//
// SQLite always runs, on a file in the test's temporary directory.
// PostgreSQL runs when the environment variable GATEHOUSE_TEST_POSTGRES
// holds the URL of a database the tests may create schemas in. Each test
// then gets a fresh schema, dropped when it ends. Without the variable the
// PostgreSQL variants skip with a message saying how to enable them. CI
// sets it with .ci/postgres.sh.
package storagetest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"testing"

	"github.com/gatehouse-health/gatehouse/internal/storage"
)

// EnvPostgres names the environment variable with the PostgreSQL URL.
const EnvPostgres = "GATEHOUSE_TEST_POSTGRES"

// maxTestConns caps each test database's PostgreSQL pool, so parallel
// test binaries stay under the server's max_connections.
const maxTestConns = 8

// Backend is one storage backend under test.
type Backend struct {
	Dialect storage.Dialect
}

// Backends returns SQLite and PostgreSQL, in that order.
func Backends() []Backend {
	return []Backend{{storage.SQLite}, {storage.PostgreSQL}}
}

// Name returns the subtest name of b: "sqlite" or "postgres".
func (b Backend) Name() string { return string(b.Dialect) }

// Run runs fn once per backend as the subtests "sqlite" and "postgres".
func Run(t *testing.T, fn func(t *testing.T, b Backend)) {
	t.Helper()
	for _, b := range Backends() {
		t.Run(b.Name(), func(t *testing.T) {
			if b.Dialect == storage.PostgreSQL {
				SkipWithoutPostgres(t)
			}
			fn(t, b)
		})
	}
}

// SkipWithoutPostgres skips t when GATEHOUSE_TEST_POSTGRES is unset.
func SkipWithoutPostgres(t testing.TB) {
	t.Helper()
	if os.Getenv(EnvPostgres) == "" {
		t.Skip(EnvPostgres + " is not set, so the PostgreSQL variant is skipped; " +
			`run eval "$(bash .ci/postgres.sh)" to start a local server and set it`)
	}
}

// New returns an empty database on b, closed when t ends.
func (b Backend) New(t testing.TB) *storage.DB {
	t.Helper()
	return Open(t, b.NewURL(t))
}

// NewURL creates an empty database on b and returns its URL, for tests
// that open it more than once, as replicas do. On PostgreSQL the schema is
// dropped when t ends.
func (b Backend) NewURL(t testing.TB) string {
	t.Helper()
	if b.Dialect == storage.SQLite {
		return "sqlite://" + filepath.Join(t.TempDir(), "gatehouse.db")
	}
	SkipWithoutPostgres(t)
	u, drop, err := CreateSchema(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := drop(); err != nil {
			t.Errorf("storagetest: %v", err)
		}
	})
	return u
}

// CreateSchema creates a schema with a random name in the database at
// GATEHOUSE_TEST_POSTGRES and returns a URL whose search_path selects it,
// and a function that drops it with everything in it. It is for fixtures
// that outlive one test. Tests use Backend.NewURL instead.
func CreateSchema(ctx context.Context) (string, func() error, error) {
	base := os.Getenv(EnvPostgres)
	if base == "" {
		return "", nil, fmt.Errorf("storagetest: %s is not set", EnvPostgres)
	}
	admin, err := storage.Open(ctx, base)
	if err != nil {
		return "", nil, err
	}
	name := "gh_test_" + randomHex(8)
	if _, err := admin.ExecContext(ctx, "CREATE SCHEMA "+name); err != nil {
		admin.Close()
		return "", nil, fmt.Errorf("storagetest: create schema %s: %w", name, err)
	}
	u, err := url.Parse(base)
	if err != nil {
		admin.Close()
		return "", nil, fmt.Errorf("storagetest: %s: %w", EnvPostgres, err)
	}
	q := u.Query()
	q.Set("search_path", name)
	u.RawQuery = q.Encode()
	drop := func() error {
		defer admin.Close()
		if _, err := admin.ExecContext(context.Background(), "DROP SCHEMA "+name+" CASCADE"); err != nil {
			return fmt.Errorf("drop schema %s: %w", name, err)
		}
		return nil
	}
	return u.String(), drop, nil
}

// Open opens rawURL for t and closes it when t ends.
func Open(t testing.TB, rawURL string) *storage.DB {
	t.Helper()
	db, err := storage.Open(context.Background(), rawURL)
	if err != nil {
		t.Fatal(err)
	}
	if db.Dialect == storage.PostgreSQL {
		db.SetMaxOpenConns(maxTestConns)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}
