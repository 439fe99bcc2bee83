package auditlog

import (
	"context"
	"crypto/rand"
	"fmt"
	"testing"
	"time"

	"filippo.io/age"
	"golang.org/x/mod/sumdb/note"

	"github.com/gatehouse-health/gatehouse/internal/record"
	"github.com/gatehouse-health/gatehouse/internal/storage"
	"github.com/gatehouse-health/gatehouse/internal/storage/storagetest"
)

const testOrigin = "test.gatehouse.example/audit"

// testKeys are one log's signing key and one body recipient.
type testKeys struct {
	signer   note.Signer
	verifier note.Verifier
	identity *age.X25519Identity
}

func newTestKeys(t testing.TB) *testKeys {
	t.Helper()
	skey, vkey, err := note.GenerateKey(rand.Reader, testOrigin)
	if err != nil {
		t.Fatal(err)
	}
	k := &testKeys{}
	if k.signer, err = note.NewSigner(skey); err != nil {
		t.Fatal(err)
	}
	if k.verifier, err = note.NewVerifier(vkey); err != nil {
		t.Fatal(err)
	}
	if k.identity, err = age.GenerateX25519Identity(); err != nil {
		t.Fatal(err)
	}
	return k
}

func (k *testKeys) options() Options {
	return Options{Origin: testOrigin, Signer: k.signer, Recipients: []age.Recipient{k.identity.Recipient()}}
}

// openTestDB opens the database at url (a SQLite path is enough) for t.
func openTestDB(t testing.TB, url string) *storage.DB {
	t.Helper()
	return storagetest.Open(t, url)
}

// sqliteBackend is the backend of tests that run on SQLite only.
var sqliteBackend = storagetest.Backend{Dialect: storage.SQLite}

// newTestLog opens a log in a new SQLite database, and edit adjusts the
// options.
func newTestLog(t testing.TB, edit func(*Options)) (*Log, *storage.DB, *testKeys) {
	t.Helper()
	return newTestLogOn(t, sqliteBackend, edit)
}

// newTestLogOn opens a log in a new database on b.
func newTestLogOn(t testing.TB, b storagetest.Backend, edit func(*Options)) (*Log, *storage.DB, *testKeys) {
	t.Helper()
	keys := newTestKeys(t)
	db := b.New(t)
	opts := keys.options()
	if edit != nil {
		edit(&opts)
	}
	l, err := Open(context.Background(), db, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close(context.Background()) })
	return l, db, keys
}

// nextYear is a verification clock a year ahead, for logs whose entries
// were shredded after a retention period that has not passed yet.
func nextYear() time.Time { return time.Now().AddDate(1, 0, 0) }

// testEntry returns a plausible refusal or request entry numbered n.
func testEntry(n int, bodySize int) *record.Entry {
	body := make([]byte, bodySize)
	for i := range body {
		body[i] = byte('a' + (i+n)%26)
	}
	e := &record.Entry{
		ExchangeID:      fmt.Sprintf("ex-%06d", n),
		Phase:           record.PhaseRequest,
		Direction:       "inbound",
		Partner:         []string{"demo-ehr", "other-ehr"}[n%2],
		CertFingerprint: "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
		TokenID:         fmt.Sprintf("jti-%d", n),
		Source:          "127.0.0.1:40000",
		Method:          "POST",
		Target:          "/fhir/Claim/$submit",
		Interaction:     "Claim/$submit",
		Decision:        record.Allow,
		Rule:            "partner.demo-ehr",
		Status:          200,
		RequestType:     "application/fhir+json",
		RequestBody:     body,
		ResponseBody:    []byte(`{"resourceType":"ClaimResponse"}`),
		Received:        time.Unix(1700000000, int64(n)),
		UpstreamTime:    3 * time.Millisecond,
		TotalTime:       5 * time.Millisecond,
		UpstreamState:   200,
	}
	if n%5 == 0 {
		e.Phase, e.Decision, e.Status, e.UpstreamState, e.ResponseBody = record.PhaseRefusal, record.Deny, 403, 0, nil
	}
	return e
}

// appendN appends n entries sequentially and returns their receipts.
func appendN(t testing.TB, l *Log, n int) []Appended {
	t.Helper()
	out := make([]Appended, n)
	for i := range n {
		a, err := l.AppendEntry(context.Background(), testEntry(i, 64))
		if err != nil {
			t.Fatalf("append %d: %v", i, err)
		}
		out[i] = a
	}
	return out
}

// openBodies decrypts the bodies of row with the keys' identity.
func openBodies(t testing.TB, l *Log, keys *testKeys, row *Row) (*Bodies, error) {
	t.Helper()
	d, err := l.NewDecrypter(context.Background(), []age.Identity{keys.identity})
	if err != nil {
		t.Fatal(err)
	}
	return d.Open(context.Background(), row)
}

// closeAndVerify closes l, which signs a final checkpoint, and returns the
// report of a full Verify of db with the keys' verifier key.
func closeAndVerify(t testing.TB, l *Log, db *storage.DB, keys *testKeys) *Report {
	t.Helper()
	if err := l.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	rep, err := Verify(context.Background(), db, VerifyOptions{LogKey: keys.verifier})
	if err != nil {
		t.Fatal(err)
	}
	return rep
}
