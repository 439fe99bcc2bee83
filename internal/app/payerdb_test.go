package app

import (
	"context"
	"testing"
)

// TestBuiltinPayerDefersCommitSync checks that the built-in payer service
// writes through the handle whose commits skip the fsync, while the
// exchange record's handle keeps full sync on the same file.
func TestBuiltinPayerDefersCommitSync(t *testing.T) {
	ctx := context.Background()
	cfg, _, _, err := DevConfig(t.TempDir(), "127.0.0.1:0", "")
	if err != nil {
		t.Fatal(err)
	}
	rt, err := Start(ctx, cfg, Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rt.Close(context.Background()) })

	if rt.payerDB == nil || rt.payerDB == rt.DB {
		t.Fatal("the payer service shares the exchange record's handle")
	}
	var payerSync, recordSync int
	if err := rt.payerDB.QueryRowContext(ctx, `PRAGMA synchronous`).Scan(&payerSync); err != nil {
		t.Fatal(err)
	}
	if err := rt.DB.QueryRowContext(ctx, `PRAGMA synchronous`).Scan(&recordSync); err != nil {
		t.Fatal(err)
	}
	if payerSync != 1 {
		t.Errorf("payer handle: synchronous = %d, want 1 (NORMAL)", payerSync)
	}
	if recordSync != 2 {
		t.Errorf("record handle: synchronous = %d, want 2 (FULL)", recordSync)
	}
}
