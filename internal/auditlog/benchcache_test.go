package auditlog

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"filippo.io/age"
	"golang.org/x/mod/sumdb/note"

	"github.com/gatehouse-health/gatehouse/internal/storage"
	"github.com/gatehouse-health/gatehouse/internal/storage/storagetest"
)

// envVerifyBenchSize overrides the number of entries BenchmarkVerify
// verifies.
const envVerifyBenchSize = "GATEHOUSE_BENCH_VERIFY_ENTRIES"

// defaultVerifyBenchSize is the log size the verification rate is quoted
// for.
const defaultVerifyBenchSize = 1_000_000

func verifyBenchSize(b *testing.B) int {
	s := os.Getenv(envVerifyBenchSize)
	if s == "" {
		return defaultVerifyBenchSize
	}
	n, err := strconv.Atoi(s)
	if err != nil || n <= 0 {
		b.Fatalf("%s=%q: want a positive number of entries", envVerifyBenchSize, s)
	}
	return n
}

// benchCacheVersion names the layout of cached benchmark logs. Change it
// when the entry format, the schema or testEntry changes, so stale logs
// are rebuilt instead of reused. SQLite logs are at v2 because new SQLite
// files get 16 KiB pages. The PostgreSQL layout did not change.
var benchCacheVersion = map[storage.Dialect]string{storage.SQLite: "v2", storage.PostgreSQL: "v1"}

// getCachedBenchLog returns a log of n entries with 4 KiB bodies on be and
// the verifier of its checkpoints. Building a million entries takes
// minutes, so the log outlives the test binary. On SQLite it is a file
// under the temporary directory. On PostgreSQL it is a schema named after
// n in the GATEHOUSE_TEST_POSTGRES database. Its verifier key is stored
// beside it, and a marker file written last records that the log is
// complete.
// Delete the directory (and drop the schema) to rebuild it.
func getCachedBenchLog(b *testing.B, be storagetest.Backend, n int) (*storage.DB, note.Verifier) {
	b.Helper()
	name := fmt.Sprintf("gatehouse_bench_auditlog_%s_%s_%d", benchCacheVersion[be.Dialect], be.Dialect, n)
	dir := filepath.Join(os.TempDir(), name)
	dbURL, err := benchCacheURL(be, dir, name)
	if err != nil {
		b.Fatal(err)
	}
	if vkey, err := os.ReadFile(filepath.Join(dir, "complete")); err == nil {
		verifier, err := note.NewVerifier(strings.TrimSpace(string(vkey)))
		if err != nil {
			b.Fatal(err)
		}
		return storagetest.Open(b, dbURL), verifier
	}

	b.Logf("building a %d-entry log in %s (cached for later runs)", n, dir)
	if err := os.RemoveAll(dir); err != nil {
		b.Fatal(err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		b.Fatal(err)
	}
	if be.Dialect == storage.PostgreSQL {
		if err := resetBenchSchema(name); err != nil {
			b.Fatal(err)
		}
	}
	db := storagetest.Open(b, dbURL)
	vkey := buildBenchLog(b, db, n)
	if err := os.WriteFile(filepath.Join(dir, "complete"), []byte(vkey+"\n"), 0o600); err != nil {
		b.Fatal(err)
	}
	verifier, err := note.NewVerifier(vkey)
	if err != nil {
		b.Fatal(err)
	}
	return db, verifier
}

// benchCacheURL returns the database URL of the cached log named name.
func benchCacheURL(be storagetest.Backend, dir, name string) (string, error) {
	if be.Dialect == storage.SQLite {
		return "sqlite://" + filepath.Join(dir, "audit.db"), nil
	}
	base := os.Getenv(storagetest.EnvPostgres)
	u, err := url.Parse(base)
	if err != nil || base == "" {
		return "", errors.New("benchmark: GATEHOUSE_TEST_POSTGRES is not a URL")
	}
	q := u.Query()
	q.Set("search_path", name)
	u.RawQuery = q.Encode()
	return u.String(), nil
}

// resetBenchSchema drops and recreates the PostgreSQL schema name.
func resetBenchSchema(name string) error {
	ctx := context.Background()
	admin, err := storage.Open(ctx, os.Getenv(storagetest.EnvPostgres))
	if err != nil {
		return err
	}
	defer admin.Close()
	for _, stmt := range []string{"DROP SCHEMA IF EXISTS " + name + " CASCADE", "CREATE SCHEMA " + name} {
		if _, err := admin.ExecContext(ctx, stmt); err != nil {
			return fmt.Errorf("benchmark: %s: %w", stmt, err)
		}
	}
	return nil
}

// buildBenchLog appends n entries with 4 KiB request bodies to a new log
// in db from 64 goroutines and returns the log's verifier key.
func buildBenchLog(b *testing.B, db *storage.DB, n int) string {
	skey, vkey, err := note.GenerateKey(rand.Reader, testOrigin)
	if err != nil {
		b.Fatal(err)
	}
	signer, err := note.NewSigner(skey)
	if err != nil {
		b.Fatal(err)
	}
	identity, err := age.GenerateX25519Identity()
	if err != nil {
		b.Fatal(err)
	}

	ctx := context.Background()
	l, err := Open(ctx, db, Options{Origin: testOrigin, Signer: signer, Recipients: []age.Recipient{identity.Recipient()}})
	if err != nil {
		b.Fatal(err)
	}

	var wg sync.WaitGroup
	var next atomic.Int64
	for range 64 {
		wg.Go(func() {
			for i := next.Add(1); i <= int64(n); i = next.Add(1) {
				if _, err := l.Append(ctx, testEntry(int(i), 4096)); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()

	if err := l.Close(ctx); err != nil {
		b.Fatal(err)
	}
	if b.Failed() {
		b.FailNow()
	}
	return vkey
}
