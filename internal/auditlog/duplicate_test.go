package auditlog

import (
	"context"
	"testing"

	"github.com/gatehouse-health/gatehouse/internal/storage/storagetest"
)

// An insider who owns the PostgreSQL schema can drop the primary key and
// insert a second copy of an entry, so that queries list the exchange
// twice. Verify must report it even though the copy is byte for byte
// the signed row.
func TestVerifyDuplicatedRowPostgres(t *testing.T) {
	storagetest.Run(t, func(t *testing.T, b storagetest.Backend) {
		if b.Name() != "postgres" {
			t.Skip("SQLite's INTEGER PRIMARY KEY is the rowid and cannot be dropped")
		}
		db, keys, _ := tamperLog(t, b)
		mustExec(t, db, "ALTER TABLE audit_entries DROP CONSTRAINT audit_entries_pkey")
		mustExec(t, db, "INSERT INTO audit_entries SELECT * FROM audit_entries WHERE idx = 5")

		rep, err := Verify(context.Background(), db, VerifyOptions{LogKey: keys.verifier})
		if err != nil {
			t.Fatal(err)
		}
		if rep.Intact() {
			t.Fatal("a duplicated entry row passed verification")
		}
		// NOTE: the first problem names the stored hashes after the copy,
		// not the duplicated index itself.
		if first := rep.Problems[0]; first.Index < 5 || first.Index > 7 {
			t.Errorf("first problem %q, want one at entries 5 to 7", first)
		}
	})
}
