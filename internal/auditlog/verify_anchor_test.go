package auditlog

import (
	"context"
	"strings"
	"testing"
)

// TestVerifyAnchorRecomputesAll checks that a log verified against an
// anchor must extend it, like a trusted checkpoint, but that every entry
// below the anchor is still recomputed, unlike an incremental run.
func TestVerifyAnchorRecomputesAll(t *testing.T) {
	l, db, keys := newTestLog(t, func(o *Options) { o.CheckpointEvery = 4 })
	appendN(t, l, 8)
	rep := closeAndVerify(t, l, db, keys)
	if !rep.Intact() || rep.Latest == nil || rep.Latest.Size != 8 {
		t.Fatalf("verify: %+v, want intact with a checkpoint of 8", rep)
	}
	anchor := rep.Latest.Note

	rep, err := Verify(context.Background(), db, VerifyOptions{LogKey: keys.verifier, Anchor: anchor})
	if err != nil || !rep.Intact() || rep.From != 0 {
		t.Fatalf("verify against the anchor: %+v, %v; want intact from entry 0", rep, err)
	}

	// A query column edited below the anchor escapes an incremental run,
	// which trusts what the checkpoint covers, but not an anchored one.
	if _, err := db.Exec("UPDATE audit_entries SET status = 599 WHERE idx = 1"); err != nil {
		t.Fatal(err)
	}
	rep, err = Verify(context.Background(), db, VerifyOptions{LogKey: keys.verifier, Trusted: anchor})
	if err != nil || !rep.Intact() {
		t.Fatalf("incremental verify: %+v, %v; this test expects it to skip entries below the checkpoint", rep, err)
	}
	rep, err = Verify(context.Background(), db, VerifyOptions{LogKey: keys.verifier, Anchor: anchor})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Intact() {
		t.Error("anchored verify of an edited entry: intact, want a problem at entry 1")
	} else if rep.Problems[0].Index != 1 {
		t.Errorf("anchored verify of an edited entry: %+v, want a problem at entry 1", rep.Problems)
	}
}

// TestVerifyAnchorTruncated checks that a tail deleted with its
// checkpoints is reported against the anchor.
func TestVerifyAnchorTruncated(t *testing.T) {
	l, db, keys := newTestLog(t, func(o *Options) { o.CheckpointEvery = 4 })
	appendN(t, l, 8)
	rep := closeAndVerify(t, l, db, keys)
	if rep.Latest == nil {
		t.Fatalf("verify: %+v, want a latest checkpoint", rep)
	}
	anchor := rep.Latest.Note
	for _, stmt := range []string{"DELETE FROM audit_entries WHERE idx >= 5", "DELETE FROM audit_hashes WHERE id >= 8", "DELETE FROM audit_checkpoints"} {
		if _, err := db.Exec(stmt); err != nil {
			t.Fatal(err)
		}
	}

	rep, err := Verify(context.Background(), db, VerifyOptions{LogKey: keys.verifier, Anchor: anchor})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Intact() {
		t.Error("verify of a truncated log: intact, want the truncation against the checkpoint file")
	} else if !strings.Contains(rep.Problems[0].What, "the checkpoint file covers 8: entries were truncated") {
		t.Errorf("problems %+v, want the truncation against the checkpoint file", rep.Problems)
	}
}

// TestVerifyAnchorBeyondTrusted checks that an incremental run also holds
// the log to a newer anchor: a tail deleted with its checkpoints after
// the trusted checkpoint, which the trusted checkpoint alone cannot show.
func TestVerifyAnchorBeyondTrusted(t *testing.T) {
	l, db, keys := newTestLog(t, func(o *Options) { o.CheckpointEvery = 4 })
	appendN(t, l, 8)
	rep := closeAndVerify(t, l, db, keys)
	if len(rep.Handovers) != 0 || rep.Latest == nil || rep.Latest.Size != 8 {
		t.Fatalf("verify: %+v, want a latest checkpoint of 8", rep)
	}
	anchor := rep.Latest.Note
	var trusted []byte
	if err := db.QueryRow("SELECT note FROM audit_checkpoints WHERE size = 4").Scan(&trusted); err != nil {
		t.Fatal(err)
	}

	rep, err := Verify(context.Background(), db, VerifyOptions{LogKey: keys.verifier, Trusted: trusted, Anchor: anchor})
	if err != nil || !rep.Intact() || rep.From != 4 {
		t.Fatalf("verify with both: %+v, %v; want intact from entry 4", rep, err)
	}

	for _, stmt := range []string{"DELETE FROM audit_entries WHERE idx >= 6", "DELETE FROM audit_hashes WHERE id >= 10", "DELETE FROM audit_checkpoints WHERE size > 4"} {
		if _, err := db.Exec(stmt); err != nil {
			t.Fatal(err)
		}
	}
	rep, err = Verify(context.Background(), db, VerifyOptions{LogKey: keys.verifier, Trusted: trusted})
	if err != nil {
		t.Fatal(err)
	}
	if !rep.Intact() {
		t.Fatalf("verify from the trusted checkpoint alone: %+v; this test expects it to miss the truncation", rep.Problems)
	}
	rep, err = Verify(context.Background(), db, VerifyOptions{LogKey: keys.verifier, Trusted: trusted, Anchor: anchor})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Intact() {
		t.Error("verify of a truncated log with both: intact, want the truncation against the checkpoint file")
	} else if !strings.Contains(rep.Problems[0].What, "the checkpoint file covers 8: entries were truncated") {
		t.Errorf("problems %+v, want the truncation against the checkpoint file", rep.Problems)
	}
}

// TestVerifyAnchorCheckpointsDeleted checks that checkpoints deleted
// above the anchor's size are reported against the anchor, with every
// entry left in place.
func TestVerifyAnchorCheckpointsDeleted(t *testing.T) {
	l, db, keys := newTestLog(t, func(o *Options) { o.CheckpointEvery = 4 })
	appendN(t, l, 8)
	rep := closeAndVerify(t, l, db, keys)
	if rep.Latest == nil || rep.Latest.Size != 8 {
		t.Fatalf("verify: %+v, want a latest checkpoint of 8", rep)
	}
	anchor := rep.Latest.Note
	if _, err := db.Exec("DELETE FROM audit_checkpoints WHERE size > 4"); err != nil {
		t.Fatal(err)
	}

	rep, err := Verify(context.Background(), db, VerifyOptions{LogKey: keys.verifier, Anchor: anchor})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Intact() {
		t.Fatal("verify without the checkpoints the anchor covers: intact, want the deletion reported")
	}
	if want := "the checkpoint file covers 8 entries but no stored checkpoint covers as many"; !strings.Contains(rep.Problems[0].What, want) {
		t.Errorf("problems %+v, want %q", rep.Problems, want)
	}
}
