package auditlog

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/gatehouse-health/gatehouse/internal/record"
	"github.com/gatehouse-health/gatehouse/internal/storage"
	"github.com/gatehouse-health/gatehouse/internal/storage/storagetest"
)

// searchTarget is a FHIR search whose query string holds a patient's
// family name, birth date and identifier.
const searchTarget = "/fhir/Patient?family=WATSON&birthdate=1961-04-12&identifier=1122334455"

var searchPHI = []string{"WATSON", "1961-04-12", "1122334455"}

// searchEntry returns a refused search for searchTarget.
func searchEntry() *record.Entry {
	e := testEntry(5, 0)
	e.Method, e.Target, e.Interaction = "GET", searchTarget, "Patient/search-type"
	return e
}

// readRow returns the stored row at index.
func readRow(t *testing.T, l *Log, index int64) *Row {
	t.Helper()
	var found *Row
	err := l.Scan(context.Background(), Query{FromIndex: index, Limit: 1}, func(row *Row) error {
		copied := *row
		found = &copied
		return nil
	})
	if err != nil || found == nil {
		t.Fatalf("read entry %d: %v", index, err)
	}
	return found
}

// storedBytes returns every value of every audit table, as stored.
func storedBytes(t *testing.T, db *storage.DB) []byte {
	t.Helper()
	var all bytes.Buffer
	for _, table := range []string{"audit_entries", "audit_hashes", "audit_checkpoints", "audit_keks", "audit_meta"} {
		rows, err := db.QueryContext(context.Background(), "SELECT * FROM "+table)
		if err != nil {
			t.Fatal(err)
		}
		columns, err := rows.Columns()
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			values := make([]sql.RawBytes, len(columns))
			dest := make([]any, len(columns))
			for i := range values {
				dest[i] = &values[i]
			}
			if err := rows.Scan(dest...); err != nil {
				t.Fatal(err)
			}
			for _, v := range values {
				all.Write(v)
				all.WriteByte(0)
			}
		}
		if err := rows.Close(); err != nil {
			t.Fatal(err)
		}
	}
	return all.Bytes()
}

// TestQueryStoredEncrypted checks that the query string of a search is
// stored in no audit table in clear text, that the leaf keeps the path,
// and that the security team's identity gets the query back.
func TestQueryStoredEncrypted(t *testing.T) {
	storagetest.Run(t, func(t *testing.T, b storagetest.Backend) {
		l, db, keys := newTestLogOn(t, b, nil)
		a, err := l.AppendEntry(context.Background(), searchEntry())
		if err != nil {
			t.Fatal(err)
		}

		stored := storedBytes(t, db)
		for _, value := range searchPHI {
			if bytes.Contains(stored, []byte(value)) {
				t.Errorf("the audit tables hold %q from the query string in clear text", value)
			}
		}
		if !bytes.Contains(stored, []byte("/fhir/Patient")) {
			t.Error("the audit tables lack the path /fhir/Patient, which stays in clear text")
		}

		row := readRow(t, l, a.Index)
		if row.Leaf.Version != 4 {
			t.Errorf("entry version %d, want 4", row.Leaf.Version)
		}
		if row.Leaf.Entry.Target != "/fhir/Patient" {
			t.Errorf("leaf target %q, want the path /fhir/Patient", row.Leaf.Entry.Target)
		}
		if len(row.Leaf.QueryCiphertext) == 0 {
			t.Error("the leaf has no query ciphertext")
		}
		bodies, err := openBodies(t, l, keys, row)
		if err != nil {
			t.Fatal(err)
		}
		if bodies.Target != searchTarget {
			t.Errorf("decrypted target %q, want %q", bodies.Target, searchTarget)
		}

		rep := closeAndVerify(t, l, db, keys)
		if !rep.Intact() {
			t.Errorf("verify: %+v, want intact", rep.Problems)
		}
	})
}

// TestQueryNotInSQLiteFile checks the database file and its write-ahead
// log byte for byte, which also holds pages of replaced rows.
func TestQueryNotInSQLiteFile(t *testing.T) {
	l, db, _ := newTestLog(t, nil)
	if _, err := l.AppendEntry(context.Background(), searchEntry()); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{db.Target, db.Target + "-wal"} {
		data, err := os.ReadFile(path)
		if os.IsNotExist(err) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		for _, value := range searchPHI {
			if bytes.Contains(data, []byte(value)) {
				t.Errorf("%s holds %q from the query string in clear text", path, value)
			}
		}
	}
}

// TestExportWithholdsQuery checks that an export without decrypted bodies
// carries no query string, for a version 3 entry and for a version 2
// entry that stores it in clear text, and gives the reason it is missing.
func TestExportWithholdsQuery(t *testing.T) {
	l, _, keys := newTestLog(t, nil)
	a, err := l.AppendEntry(context.Background(), searchEntry())
	if err != nil {
		t.Fatal(err)
	}
	v3 := readRow(t, l, a.Index)

	v2Leaf := Leaf{Version: 2, Index: 7, Entry: *searchEntry()}
	v2Leaf.Entry.RequestBody, v2Leaf.Entry.ResponseBody = nil, nil
	v2Encoded, err := EncodeEntry(&v2Leaf)
	if err != nil {
		t.Fatal(err)
	}
	v2 := &Row{Leaf: v2Leaf, Encoded: v2Encoded, WrappedKey: []byte("not shredded")}

	for name, row := range map[string]*Row{"version 3": v3, "version 2": v2} {
		t.Run(name, func(t *testing.T) {
			x := Export(row, nil)
			if x.Target != "/fhir/Patient" {
				t.Errorf("exported target %q, want /fhir/Patient", x.Target)
			}
			if x.QueryWithheld != QueryNotDecrypted {
				t.Errorf("query_withheld %q, want %q", x.QueryWithheld, QueryNotDecrypted)
			}
			out, err := json.Marshal(x)
			if err != nil {
				t.Fatal(err)
			}
			for _, value := range searchPHI {
				if bytes.Contains(out, []byte(value)) {
					t.Errorf("NDJSON export holds %q: %s", value, out)
				}
			}
		})
	}

	bodies, err := openBodies(t, l, keys, v3)
	if err != nil {
		t.Fatal(err)
	}
	decrypted := Export(v3, bodies)
	if decrypted.Target != searchTarget {
		t.Errorf("decrypted export: target %q, want %q", decrypted.Target, searchTarget)
	}
	if decrypted.QueryWithheld != "" {
		t.Errorf("decrypted export: query_withheld %q, want none", decrypted.QueryWithheld)
	}

	shreddedV2 := &Row{Leaf: v2Leaf, Encoded: v2Encoded, Shredded: time.Unix(1, 0)}
	x := Export(shreddedV2, nil)
	if x.Target != "/fhir/Patient" {
		t.Errorf("shredded version 2 export: target %q, want /fhir/Patient", x.Target)
	}
	if x.QueryWithheld != QueryKeyDestroyed {
		t.Errorf("shredded version 2 export: query_withheld %q, want %q", x.QueryWithheld, QueryKeyDestroyed)
	}

	decryptedV2 := Export(v2, &Bodies{Target: v2.Leaf.Entry.Target})
	if decryptedV2.Target != searchTarget {
		t.Errorf("decrypted version 2 export: target %q, want %q", decryptedV2.Target, searchTarget)
	}
}

// TestQueryShredded checks that retention makes the query unreadable and
// that an export gives retention as the reason.
func TestQueryShredded(t *testing.T) {
	l, _, keys := newTestLog(t, nil)
	a, err := l.AppendEntry(context.Background(), searchEntry())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.Shred(context.Background(), nextYear()); err != nil {
		t.Fatal(err)
	}
	row := readRow(t, l, a.Index)
	if _, err := openBodies(t, l, keys, row); err != ErrShredded {
		t.Errorf("open shredded entry: %v, want ErrShredded", err)
	}
	x := Export(row, nil)
	if x.Target != "/fhir/Patient" {
		t.Errorf("export: target %q, want /fhir/Patient", x.Target)
	}
	if x.QueryWithheld != QueryShredded {
		t.Errorf("export: query_withheld %q, want %q", x.QueryWithheld, QueryShredded)
	}
}

// TestQueryCiphertextBound checks that a query ciphertext copied into
// another entry does not decrypt there.
func TestQueryCiphertextBound(t *testing.T) {
	l, _, keys := newTestLog(t, nil)
	first, err := l.AppendEntry(context.Background(), searchEntry())
	if err != nil {
		t.Fatal(err)
	}
	second, err := l.AppendEntry(context.Background(), searchEntry())
	if err != nil {
		t.Fatal(err)
	}
	moved := readRow(t, l, second.Index)
	moved.Leaf.QueryCiphertext = readRow(t, l, first.Index).Leaf.QueryCiphertext
	if _, err := openBodies(t, l, keys, moved); err == nil || !strings.Contains(err.Error(), "query string") {
		t.Errorf("open with a moved query ciphertext: %v, want a query string error", err)
	}
}

// TestVersion2LeafUnchanged checks that an entry written before version
// 3, with its query string in the target, decodes and re-encodes to the
// same bytes, so its leaf hash and every proof over it stay valid.
func TestVersion2LeafUnchanged(t *testing.T) {
	leaf := Leaf{Version: 2, Index: 3, Entry: *searchEntry()}
	leaf.Entry.RequestBody, leaf.Entry.ResponseBody = nil, nil
	enc, err := EncodeEntry(&leaf)
	if err != nil {
		t.Fatal(err)
	}
	back, err := DecodeEntry(enc)
	if err != nil {
		t.Fatal(err)
	}
	if back.Version != 2 {
		t.Errorf("decoded version %d, want 2", back.Version)
	}
	if back.Entry.Target != searchTarget {
		t.Errorf("decoded target %q, want %q", back.Entry.Target, searchTarget)
	}

	again, err := EncodeEntry(back)
	if err != nil {
		t.Fatal(err)
	}
	if tlog.RecordHash(again) != tlog.RecordHash(enc) {
		t.Error("re-encoding a version 2 entry changed its leaf hash")
	}
}

// TestDecodeEntryRejectsQuery checks the canonical form of version 3: no
// query string in the clear target, no short query ciphertext, and none
// in an older version.
func TestDecodeEntryRejectsQuery(t *testing.T) {
	leaf := Leaf{Index: 1, Entry: *testEntry(1, 0)}
	leaf.Entry.Target = "/fhir/Patient"
	leaf.QueryCiphertext = bytes.Repeat([]byte{7}, minQueryCiphertext)
	good, err := EncodeEntry(&leaf)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := DecodeEntry(good); err != nil {
		t.Fatalf("a valid version 3 entry: %v", err)
	}

	clearQuery := bytes.Replace(good, []byte("\x00\x00\x00\x0d/fhir/Patient"), []byte("\x00\x00\x00\x0d/fhir/Pat?x=1"), 1)
	// kek_sha256 follows query_ct in version 4.
	kekHash := good[len(good)-32:]
	short := append(bytes.Clone(good[:len(good)-32-4-minQueryCiphertext]), 0, 0, 0, 1, 7)
	short = append(short, kekHash...)
	tests := []struct {
		name string
		data []byte
	}{
		{"query string in the target", clearQuery},
		{"query ciphertext too short", short},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if bytes.Equal(tt.data, good) {
				t.Fatal("the case did not change the encoding")
			}
			if _, err := DecodeEntry(tt.data); err == nil {
				t.Error("DecodeEntry accepted it")
			}
		})
	}

	leaf.Entry.Target = searchTarget
	if _, err := EncodeEntry(&leaf); err == nil {
		t.Error("EncodeEntry kept a query string in a version 3 target")
	}
	leaf.Entry.Target, leaf.Version = "/fhir/Patient", 2
	if _, err := EncodeEntry(&leaf); err == nil {
		t.Error("EncodeEntry wrote a query ciphertext into a version 2 entry")
	}
}
