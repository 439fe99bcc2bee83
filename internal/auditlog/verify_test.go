package auditlog

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/gatehouse-health/gatehouse/internal/storage"
	"github.com/gatehouse-health/gatehouse/internal/storage/storagetest"
)

// tamperLog is a closed log of 40 entries with checkpoints at 8, 16, 24,
// 32 and 40, copied fresh for every tamper case.
func tamperLog(t *testing.T, b storagetest.Backend) (*storage.DB, *testKeys, *Log) {
	t.Helper()
	l, db, keys := newTestLogOn(t, b, func(o *Options) { o.CheckpointEvery = 8 })
	appendN(t, l, 40)
	if err := l.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	return db, keys, l
}

func mustExec(t *testing.T, db *storage.DB, query string, args ...any) {
	t.Helper()
	if _, err := db.Exec(query, args...); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
}

// flipByte changes one byte in the middle of a blob column of one row.
func flipByte(t *testing.T, db *storage.DB, table, column, key string, id int64) {
	t.Helper()
	var b []byte
	if err := db.QueryRow("SELECT "+column+" FROM "+table+" WHERE "+key+" = $1", id).Scan(&b); err != nil {
		t.Fatal(err)
	}
	if len(b) == 0 {
		t.Fatalf("%s.%s of %d is empty", table, column, id)
	}
	b[len(b)/2] ^= 0x01
	mustExec(t, db, "UPDATE "+table+" SET "+column+" = $1 WHERE "+key+" = $2", b, id)
}

func TestVerifyIntact(t *testing.T) {
	storagetest.Run(t, func(t *testing.T, b storagetest.Backend) {
		db, keys, _ := tamperLog(t, b)
		var calls int
		rep, err := Verify(context.Background(), db, VerifyOptions{LogKey: keys.verifier, Progress: func(done, total int64) { calls++ }})
		if err != nil {
			t.Fatal(err)
		}
		if !rep.Intact() {
			t.Fatalf("problems in an untouched log: %v", rep.Problems)
		}
		if rep.Size != 40 {
			t.Errorf("Size = %d, want 40", rep.Size)
		}
		if rep.Checkpoints != 5 {
			t.Errorf("Checkpoints = %d, want 5", rep.Checkpoints)
		}
		if rep.Uncovered != 0 {
			t.Errorf("Uncovered = %d, want 0", rep.Uncovered)
		}
		if rep.Latest == nil {
			t.Fatal("Latest = nil, want the checkpoint of size 40")
		}
		if rep.Latest.Size != 40 {
			t.Errorf("Latest.Size = %d, want 40", rep.Latest.Size)
		}
		if calls == 0 {
			t.Error("Progress never called")
		}
	})
}

func TestVerifyDetectsTampering(t *testing.T) {
	// updateEntry5 returns a tamper function that applies the SET clause
	// set to entry 5.
	updateEntry5 := func(set string) func(*testing.T, *storage.DB, *testKeys) {
		return func(t *testing.T, db *storage.DB, _ *testKeys) {
			mustExec(t, db, "UPDATE audit_entries SET "+set+" WHERE idx = 5")
		}
	}
	storagetest.Run(t, func(t *testing.T, b storagetest.Backend) {
		tests := []struct {
			name      string
			tamper    func(t *testing.T, db *storage.DB, keys *testKeys)
			wantIndex int64  // first problem's index
			wantText  string // in the first problem
		}{
			{"partner column", updateEntry5("partner = 'mallory'"), 5, "column partner"},
			{"exchange_id column", updateEntry5("exchange_id = 'ex-x'"), 5, "column exchange_id"},
			{"phase column", updateEntry5("phase = 'response'"), 5, "column phase"},
			{"decision column", updateEntry5("decision = 'allow'"), 5, "column decision"},
			{"status column", updateEntry5("status = 201"), 5, "column status"},
			{"recorded_ns column", updateEntry5("recorded_ns = recorded_ns + 1"), 5, "column recorded_ns"},
			{"entry encoding byte", func(t *testing.T, db *storage.DB, _ *testKeys) {
				flipByte(t, db, "audit_entries", "entry", "idx", 5)
			}, 5, ""},
			{"request ciphertext byte", func(t *testing.T, db *storage.DB, _ *testKeys) {
				flipByte(t, db, "audit_entries", "request_ct", "idx", 6)
			}, 6, "request ciphertext"},
			{"response ciphertext byte", func(t *testing.T, db *storage.DB, _ *testKeys) {
				flipByte(t, db, "audit_entries", "response_ct", "idx", 6)
			}, 6, "response ciphertext"},
			{"request ciphertext replaced by text", func(t *testing.T, db *storage.DB, _ *testKeys) {
				mustExec(t, db, "UPDATE audit_entries SET request_ct = 'x' WHERE idx = 6")
			}, 6, "request ciphertext"},
			{"response ciphertext added to an empty body", func(t *testing.T, db *storage.DB, _ *testKeys) {
				mustExec(t, db, "UPDATE audit_entries SET response_ct = $1 WHERE idx = 5", []byte{1})
			}, 5, "response ciphertext present for an empty body"},
			{"wrapped key byte", func(t *testing.T, db *storage.DB, _ *testKeys) {
				flipByte(t, db, "audit_entries", "wrapped_key", "idx", 6)
			}, 6, "wrapped data key"},
			{"wrapped key deleted", func(t *testing.T, db *storage.DB, _ *testKeys) {
				mustExec(t, db, "UPDATE audit_entries SET wrapped_key = NULL WHERE idx = 6")
			}, 6, "without a shredding time"},
			{"entry marked shredded right after recording", func(t *testing.T, db *storage.DB, _ *testKeys) {
				mustExec(t, db, "UPDATE audit_entries SET wrapped_key = NULL, request_ct = NULL, response_ct = NULL, shredded_ns = recorded_ns + 1 WHERE idx = 6")
			}, 6, "less than 24h0m0s after it was recorded"},
			{"entry marked shredded 23 hours after recording", func(t *testing.T, db *storage.DB, _ *testKeys) {
				mustExec(t, db, "UPDATE audit_entries SET wrapped_key = NULL, request_ct = NULL, response_ct = NULL, shredded_ns = recorded_ns + $1 WHERE idx = 6", int64(23*time.Hour))
			}, 6, "less than 24h0m0s after it was recorded"},
			{"request ciphertext deleted", func(t *testing.T, db *storage.DB, _ *testKeys) {
				mustExec(t, db, "UPDATE audit_entries SET request_ct = NULL WHERE idx = 6")
			}, 6, "request ciphertext"},
			{"ciphertexts and key deleted without a shredding time", func(t *testing.T, db *storage.DB, _ *testKeys) {
				mustExec(t, db, "UPDATE audit_entries SET request_ct = NULL, response_ct = NULL, wrapped_key = NULL WHERE idx = 6")
			}, 6, "request ciphertext"},
			{"key-encryption key deleted", func(t *testing.T, db *storage.DB, _ *testKeys) {
				mustExec(t, db, "DELETE FROM audit_keks")
			}, 0, "key-encryption key"},
			{"leaf stored hash byte", func(t *testing.T, db *storage.DB, _ *testKeys) {
				flipByte(t, db, "audit_hashes", "hash", "id", tlog.StoredHashIndex(0, 9))
			}, 9, "stored hash"},
			{"interior stored hash byte", func(t *testing.T, db *storage.DB, _ *testKeys) {
				flipByte(t, db, "audit_hashes", "hash", "id", tlog.StoredHashIndex(2, 2))
			}, 11, "stored hash"},
			{"checkpoint byte", func(t *testing.T, db *storage.DB, _ *testKeys) {
				flipByte(t, db, "audit_checkpoints", "note", "id", 2)
			}, -1, "checkpoint #2"},
			{"checkpoint size column", func(t *testing.T, db *storage.DB, _ *testKeys) {
				mustExec(t, db, "UPDATE audit_checkpoints SET size = 17 WHERE id = 2")
			}, -1, "checkpoint #2"},
			{"deleted entry", func(t *testing.T, db *storage.DB, _ *testKeys) {
				mustExec(t, db, "DELETE FROM audit_entries WHERE idx = 12")
			}, 12, "missing"},
			{"deleted range", func(t *testing.T, db *storage.DB, _ *testKeys) {
				mustExec(t, db, "DELETE FROM audit_entries WHERE idx BETWEEN 20 AND 27")
			}, 20, "missing"},
			{"reordered entries", func(t *testing.T, db *storage.DB, _ *testKeys) {
				swapRows(t, db, 14, 15)
			}, 14, "reordered"},
			{"truncated tail", func(t *testing.T, db *storage.DB, _ *testKeys) {
				mustExec(t, db, "DELETE FROM audit_entries WHERE idx >= 30")
				mustExec(t, db, "DELETE FROM audit_hashes WHERE id >= $1", tlog.StoredHashCount(30))
			}, 30, "truncated"},
			{"fork", func(t *testing.T, db *storage.DB, keys *testKeys) {
				msg, err := SignCheckpoint(Checkpoint{Origin: testOrigin, Size: 16, Hash: tlog.Hash{1}}, keys.signer)
				if err != nil {
					t.Fatal(err)
				}
				mustExec(t, db, "INSERT INTO audit_checkpoints (size, note, created_ns) VALUES (16, $1, 0)", msg)
			}, -1, "forked"},
			{"rewritten history with recomputed hashes", func(t *testing.T, db *storage.DB, _ *testKeys) {
				rewriteEntry(t, db, 3)
			}, 0, "signed checkpoint #1"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				db, keys, _ := tamperLog(t, b)
				tt.tamper(t, db, keys)
				rep, err := Verify(context.Background(), db, VerifyOptions{LogKey: keys.verifier})
				if err != nil {
					t.Fatal(err)
				}
				// Chunks of 3 entries spread the 40 over every reader.
				small, err := Verify(context.Background(), db, VerifyOptions{LogKey: keys.verifier, chunkSize: 3})
				if err != nil {
					t.Fatal(err)
				}
				if !reflect.DeepEqual(small.Problems, rep.Problems) {
					t.Errorf("problems with chunks of 3 entries:\n%v\nwith one chunk:\n%v", small.Problems, rep.Problems)
				}
				if rep.Intact() {
					t.Fatal("tampering not detected")
				}
				first := rep.Problems[0]
				if first.Index != tt.wantIndex {
					t.Errorf("first problem %q at index %d, want %d", first, first.Index, tt.wantIndex)
				}
				if !strings.Contains(first.String(), tt.wantText) {
					t.Errorf("first problem %q does not mention %q", first, tt.wantText)
				}
			})
		}
	})
}

func TestVerifyReportsFirstProblemAcrossChunks(t *testing.T) {
	storagetest.Run(t, func(t *testing.T, b storagetest.Backend) {
		db, keys, _ := tamperLog(t, b)
		flipByte(t, db, "audit_entries", "request_ct", "idx", 33)
		mustExec(t, db, "UPDATE audit_entries SET status = 201 WHERE idx = 2")
		mustExec(t, db, "DELETE FROM audit_entries WHERE idx = 17")
		for _, size := range []int64{1, 2, 5, 16, 40} {
			rep, err := Verify(context.Background(), db, VerifyOptions{LogKey: keys.verifier, chunkSize: size})
			if err != nil {
				t.Fatal(err)
			}
			var indexes []int64
			for _, p := range rep.Problems {
				indexes = append(indexes, p.Index)
			}
			// The leaves commit to neither the query columns nor the
			// ciphertexts themselves, so no checkpoint root breaks.
			want := []int64{2, 17, 33}
			if !reflect.DeepEqual(indexes, want) {
				t.Errorf("chunks of %d: problems at %v, want %v: %v", size, indexes, want, rep.Problems)
			}
		}
	})
}

func TestVerifyStopsEarly(t *testing.T) {
	storagetest.Run(t, func(t *testing.T, b storagetest.Backend) {
		db, keys, _ := tamperLog(t, b)
		mustExec(t, db, "UPDATE audit_entries SET status = 201 WHERE idx >= 4")

		t.Run("max problems", func(t *testing.T) {
			rep, err := Verify(context.Background(), db, VerifyOptions{LogKey: keys.verifier, MaxProblems: 2, chunkSize: 1})
			if err != nil {
				t.Fatal(err)
			}
			if len(rep.Problems) != 2 || rep.Problems[0].Index != 4 || rep.Problems[1].Index != 5 {
				t.Errorf("problems = %v, want entries 4 and 5", rep.Problems)
			}
		})

		t.Run("canceled", func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			progress := func(done, total int64) {
				if done >= 6 {
					cancel()
				}
			}
			_, err := Verify(ctx, db, VerifyOptions{LogKey: keys.verifier, Progress: progress, chunkSize: 3})
			if !errors.Is(err, context.Canceled) {
				t.Errorf("err = %v, want context.Canceled", err)
			}
		})
	})
}

// swapRows exchanges every column but idx between two entries.
func swapRows(t *testing.T, db *storage.DB, a, b int64) {
	t.Helper()
	mustExec(t, db, "UPDATE audit_entries SET idx = -1 WHERE idx = $1", a)
	mustExec(t, db, "UPDATE audit_entries SET idx = $1 WHERE idx = $2", a, b)
	mustExec(t, db, "UPDATE audit_entries SET idx = $1 WHERE idx = -1", b)
}

// rewriteEntry changes entry i's partner consistently in the encoding and
// the column, and recomputes every stored hash, as an insider with write
// access but without the signing key could. Only checkpoints catch it.
func rewriteEntry(t *testing.T, db *storage.DB, i int64) {
	t.Helper()
	var enc []byte
	if err := db.QueryRow("SELECT entry FROM audit_entries WHERE idx = $1", i).Scan(&enc); err != nil {
		t.Fatal(err)
	}
	leaf, err := DecodeEntry(enc)
	if err != nil {
		t.Fatal(err)
	}
	leaf.Entry.Partner = "mallory"
	if enc, err = EncodeEntry(leaf); err != nil {
		t.Fatal(err)
	}
	mustExec(t, db, "UPDATE audit_entries SET entry = $1, partner = 'mallory' WHERE idx = $2", enc, i)

	rows, err := db.Query("SELECT entry FROM audit_entries ORDER BY idx")
	if err != nil {
		t.Fatal(err)
	}
	var all [][]byte
	for rows.Next() {
		var b []byte
		rows.Scan(&b)
		all = append(all, b)
	}
	rows.Close()
	mustExec(t, db, "DELETE FROM audit_hashes")
	m := hashSet{}
	for n, b := range all {
		hashes, err := tlog.StoredHashes(int64(n), b, m)
		if err != nil {
			t.Fatal(err)
		}
		first := tlog.StoredHashIndex(0, int64(n))
		for k, h := range hashes {
			m[first+int64(k)] = h
			mustExec(t, db, "INSERT INTO audit_hashes (id, hash) VALUES ($1, $2)", first+int64(k), h[:])
		}
	}
}

func TestVerifyShreddedIsIntact(t *testing.T) {
	storagetest.Run(t, func(t *testing.T, b storagetest.Backend) {
		db, keys, l := tamperLog(t, b)
		var cutoff int64
		if err := db.QueryRow("SELECT recorded_ns FROM audit_entries WHERE idx = 20").Scan(&cutoff); err != nil {
			t.Fatal(err)
		}
		// Retention shreds no entry younger than a day.
		n, err := Shred(context.Background(), db, fromUnixNano(cutoff), l.opts.Now().Add(25*time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			t.Fatal("nothing shredded")
		}
		rep, err := Verify(context.Background(), db, VerifyOptions{LogKey: keys.verifier, Now: nextYear})
		if err != nil {
			t.Fatal(err)
		}
		if !rep.Intact() || rep.Shredded != n {
			t.Errorf("report = %+v, want intact with %d shredded", rep, n)
		}
		if want := fromUnixNano(cutoff); !rep.NewestShredded.Before(want) || rep.NewestShredded.IsZero() {
			t.Errorf("NewestShredded = %v, want the recording time of an entry before the cutoff %v", rep.NewestShredded, want)
		}
		// Retention deletes the ciphertexts no one can decrypt any more.
		var shreddedWithCiphertext, unshreddedWithCiphertext int
		if err := db.QueryRow("SELECT COUNT(*) FROM audit_entries WHERE shredded_ns IS NOT NULL AND (request_ct IS NOT NULL OR response_ct IS NOT NULL)").Scan(&shreddedWithCiphertext); err != nil {
			t.Fatal(err)
		}
		if shreddedWithCiphertext != 0 {
			t.Errorf("%d shredded entries kept a ciphertext, want 0", shreddedWithCiphertext)
		}
		if err := db.QueryRow("SELECT COUNT(*) FROM audit_entries WHERE shredded_ns IS NULL AND request_ct IS NOT NULL").Scan(&unshreddedWithCiphertext); err != nil {
			t.Fatal(err)
		}
		if unshreddedWithCiphertext == 0 {
			t.Error("no entry after the cutoff kept its request ciphertext")
		}
		row, err := l.Row(context.Background(), 0)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := openBodies(t, l, keys, row); !errors.Is(err, ErrShredded) {
			t.Errorf("decrypting a shredded entry: err = %v, want ErrShredded", err)
		}
		afterCutoff, err := l.Row(context.Background(), 30)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := openBodies(t, l, keys, afterCutoff); err != nil {
			t.Errorf("decrypting an entry after the cutoff: %v", err)
		}
		p, err := l.Receipt(context.Background(), 0)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := CheckProof(p, keys.verifier); err != nil {
			t.Errorf("proof of a shredded entry: %v", err)
		}
	})
}

// Entries shredded before retention deleted ciphertexts still have them,
// and stay intact.
func TestVerifyShreddedWithCiphertextsIsIntact(t *testing.T) {
	storagetest.Run(t, func(t *testing.T, b storagetest.Backend) {
		db, keys, _ := tamperLog(t, b)
		mustExec(t, db, "UPDATE audit_entries SET wrapped_key = NULL, shredded_ns = recorded_ns + $1 WHERE idx < 10", int64(25*time.Hour))
		rep, err := Verify(context.Background(), db, VerifyOptions{LogKey: keys.verifier, Now: nextYear})
		if err != nil {
			t.Fatal(err)
		}
		if !rep.Intact() || rep.Shredded != 10 {
			t.Errorf("report = %+v, want intact with 10 shredded", rep)
		}
	})
}

// On SQLite, the pages of deleted ciphertexts go to the file's free list,
// so new entries reuse them instead of growing the file.
func TestShredFreesPages(t *testing.T) {
	l, db, _ := newTestLog(t, nil)
	for i := range 40 {
		if _, err := l.AppendEntry(context.Background(), testEntry(i, 20_000)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := l.Shred(context.Background(), l.opts.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	var free int
	if err := db.QueryRow("PRAGMA freelist_count").Scan(&free); err != nil {
		t.Fatal(err)
	}
	// Each 20 KB body takes several overflow pages.
	if free < 40 {
		t.Errorf("free pages after shredding 40 entries with 20 KB bodies = %d, want at least 40", free)
	}
}

// Shredding more entries than one batch holds shreds them all, batch by
// batch, and the statement that holds the write lock finds its rows by
// the primary key instead of scanning past the entries shredded before.
func TestShredInBatches(t *testing.T) {
	l, db, _ := newTestLog(t, nil)
	n := 2*shredBatch + 50
	for i := range n {
		if _, err := l.AppendEntry(context.Background(), testEntry(i, 64)); err != nil {
			t.Fatal(err)
		}
	}
	got, err := l.Shred(context.Background(), l.opts.Now().Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if got != int64(n) {
		t.Errorf("shredded %d entries, want %d", got, n)
	}

	rows, err := db.Query("EXPLAIN QUERY PLAN "+sqlShredRange, 0, 0, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var plan []string
	for rows.Next() {
		var id, parent, unused int
		var detail string
		if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
			t.Fatal(err)
		}
		plan = append(plan, detail)
	}
	if len(plan) != 1 || !strings.Contains(plan[0], "SEARCH") || !strings.Contains(plan[0], "PRIMARY KEY") {
		t.Errorf("plan of the shredding update = %q, want one search by the primary key", plan)
	}
}

// Replicas with skewed clocks append entries out of time order. A batch
// shreds the index range its listed entries span, so the range must leave
// out the entries in it that are too young, or already shredded.
func TestShredRangeSkipsUnlistedEntries(t *testing.T) {
	storagetest.Run(t, func(t *testing.T, b storagetest.Backend) {
		start := time.Unix(1_800_000_000, 0)
		var clock atomic.Int64
		l, db, _ := newTestLogOn(t, b, func(o *Options) {
			o.CheckpointInterval = time.Hour
			o.Now = func() time.Time { return time.Unix(0, clock.Load()) }
		})
		// The even entries come from a replica two days ahead.
		young, old := start.Add(48*time.Hour), start
		for i, at := range []time.Time{young, old, young, old, young} {
			clock.Store(at.UnixNano())
			if _, err := l.AppendEntry(context.Background(), testEntry(i, 64)); err != nil {
				t.Fatal(err)
			}
		}
		shreddedAt := func(idx int) sql.NullInt64 {
			var ns sql.NullInt64
			if err := db.QueryRow("SELECT shredded_ns FROM audit_entries WHERE idx = $1", idx).Scan(&ns); err != nil {
				t.Fatal(err)
			}
			return ns
		}

		// Entries 1 and 3 are listed, and the range between them holds the
		// younger entry 2.
		first := start.Add(30 * time.Hour)
		if n, err := Shred(context.Background(), db, start.Add(time.Hour), first); err != nil || n != 2 {
			t.Fatalf("first Shred = %d, %v; want entries 1 and 3", n, err)
		}
		if shreddedAt(2).Valid {
			t.Error("the first Shred shredded entry 2, recorded after its cutoff")
		}
		// Entries 0, 2 and 4 are listed, and the range holds the shredded 1
		// and 3.
		if n, err := Shred(context.Background(), db, start.Add(49*time.Hour), start.Add(80*time.Hour)); err != nil || n != 3 {
			t.Fatalf("second Shred = %d, %v; want entries 0, 2 and 4", n, err)
		}
		if got := shreddedAt(1); got.Int64 != first.UnixNano() {
			t.Errorf("entry 1 shredded at %d after the second Shred, want its first shredding time %d", got.Int64, first.UnixNano())
		}
	})
}

// Retention reads the clock once, so a clock stepping back while it runs
// cannot put a shredding time less than a day after an entry's recording,
// which verification would report as forged.
func TestShredOlderThanReadsClockOnce(t *testing.T) {
	start := time.Unix(1_800_000_000, 0)
	var clock atomic.Int64
	var stepBack atomic.Bool
	clock.Store(start.UnixNano())
	l, db, keys := newTestLog(t, func(o *Options) {
		o.CheckpointInterval = time.Hour
		o.Now = func() time.Time {
			now := clock.Load()
			if stepBack.CompareAndSwap(true, false) {
				clock.Store(now - int64(time.Hour))
			}
			return time.Unix(0, now)
		}
	})
	appendN(t, l, 3)

	clock.Store(start.Add(24*time.Hour + time.Second).UnixNano())
	stepBack.Store(true)
	n, err := l.ShredOlderThan(context.Background(), 24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if n != 3 {
		t.Fatalf("shredded %d entries, want 3", n)
	}
	rep, err := Verify(context.Background(), db, VerifyOptions{LogKey: keys.verifier, Now: nextYear})
	if err != nil {
		t.Fatal(err)
	}
	if !rep.Intact() {
		t.Errorf("problems after retention with a clock step: %v", rep.Problems)
	}
}

func TestVerifyIncremental(t *testing.T) {
	storagetest.Run(t, func(t *testing.T, b storagetest.Backend) {
		db, keys, _ := tamperLog(t, b)
		var trusted []byte
		if err := db.QueryRow("SELECT note FROM audit_checkpoints WHERE size = 24").Scan(&trusted); err != nil {
			t.Fatal(err)
		}

		rep, err := Verify(context.Background(), db, VerifyOptions{LogKey: keys.verifier, Trusted: trusted})
		if err != nil {
			t.Fatal(err)
		}
		if !rep.Intact() || rep.From != 24 {
			t.Fatalf("report = %+v, want intact from 24", rep)
		}

		t.Run("truncated below trusted", func(t *testing.T) {
			mustExec(t, db, "DELETE FROM audit_checkpoints WHERE size > 16")
			mustExec(t, db, "DELETE FROM audit_entries WHERE idx >= 20")
			rep, err := Verify(context.Background(), db, VerifyOptions{LogKey: keys.verifier, Trusted: trusted})
			if err != nil {
				t.Fatal(err)
			}
			if rep.Intact() || !strings.Contains(rep.Problems[0].What, "truncated") {
				t.Errorf("problems = %v, want truncation", rep.Problems)
			}
		})
	})
}

func TestVerifyForkAgainstTrusted(t *testing.T) {
	storagetest.Run(t, func(t *testing.T, b storagetest.Backend) {
		db, keys, _ := tamperLog(t, b)
		// A trusted checkpoint of size 24 that the stored tree does not match:
		// what a witness would hold if the log showed it another history.
		forked, err := SignCheckpoint(Checkpoint{Origin: testOrigin, Size: 24, Hash: tlog.Hash{2}}, keys.signer)
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(t.TempDir(), "trusted")
		if err := os.WriteFile(path, forked, 0o600); err != nil {
			t.Fatal(err)
		}
		rep, err := Verify(context.Background(), db, VerifyOptions{LogKey: keys.verifier, Trusted: forked})
		if err != nil {
			t.Fatal(err)
		}
		if rep.Intact() || !strings.Contains(rep.Problems[0].What, "forked") {
			t.Errorf("problems = %v, want a fork", rep.Problems)
		}
	})
}

// With the deployment's retention period, a shredding mark sooner than
// that period after recording is reported, though it passes the minimum.
func TestVerifyShreddedBeforeRetention(t *testing.T) {
	db, keys, _ := tamperLog(t, sqliteBackend)
	mustExec(t, db, "UPDATE audit_entries SET wrapped_key = NULL, request_ct = NULL, response_ct = NULL, shredded_ns = recorded_ns + $1 WHERE idx < 10", int64(25*time.Hour))

	rep, err := Verify(context.Background(), db, VerifyOptions{LogKey: keys.verifier, Retention: 25 * time.Hour, Now: nextYear})
	if err != nil {
		t.Fatal(err)
	}
	if !rep.Intact() {
		t.Errorf("retention of 25h: %v, want intact", rep.Problems)
	}

	rep, err = Verify(context.Background(), db, VerifyOptions{LogKey: keys.verifier, Retention: 48 * time.Hour, Now: nextYear})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Intact() || rep.Problems[0].Index != 0 || !strings.Contains(rep.Problems[0].What, "less than 48h0m0s after it was recorded") {
		t.Errorf("retention of 48h: problems %v, want entry 0 shredded too early", rep.Problems)
	}

	if _, err := Verify(context.Background(), db, VerifyOptions{LogKey: keys.verifier, Retention: time.Hour, Now: nextYear}); err == nil {
		t.Error("a retention of 1h, under the minimum, was accepted")
	}
}

// Deleting the checkpoints newer than an auditor's trusted one leaves an
// older latest checkpoint, which an incremental run must not accept. The
// CLI would save it as the next trusted checkpoint, and the entries after
// it could then be rewritten unnoticed.
func TestVerifyCheckpointsDeletedAfterTrusted(t *testing.T) {
	storagetest.Run(t, func(t *testing.T, b storagetest.Backend) {
		db, keys, _ := tamperLog(t, b)
		var trusted []byte
		if err := db.QueryRow("SELECT note FROM audit_checkpoints WHERE size = 24").Scan(&trusted); err != nil {
			t.Fatal(err)
		}
		mustExec(t, db, "DELETE FROM audit_checkpoints WHERE size > 16")

		rep, err := Verify(context.Background(), db, VerifyOptions{LogKey: keys.verifier, Trusted: trusted})
		if err != nil {
			t.Fatal(err)
		}
		if rep.Intact() {
			t.Fatalf("report = %+v, want the deleted checkpoints reported", rep)
		}
		if !strings.Contains(rep.Problems[0].What, "checkpoints were deleted") {
			t.Errorf("problems = %v, want deleted checkpoints", rep.Problems)
		}

		mustExec(t, db, "DELETE FROM audit_checkpoints")
		rep, err = Verify(context.Background(), db, VerifyOptions{LogKey: keys.verifier, Trusted: trusted})
		if err != nil {
			t.Fatal(err)
		}
		if rep.Intact() {
			t.Errorf("report = %+v, want the deleted checkpoints reported when none is left", rep)
		}
	})
}

// A log whose origin row was deleted is reported as changed, not with the
// database driver's "no rows".
func TestVerifyMissingOrigin(t *testing.T) {
	l, db, keys := newTestLog(t, nil)
	appendN(t, l, 3)
	if err := l.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	mustExec(t, db, "DELETE FROM audit_meta")
	_, err := Verify(context.Background(), db, VerifyOptions{LogKey: keys.verifier})
	if err == nil || !strings.Contains(err.Error(), "names no log origin") {
		t.Fatalf("Verify error = %v, want the missing origin named", err)
	}
}

// Rows numbered outside any log are reported, not skipped or turned into
// a read error: a negative index, which no reader lists, and the largest
// integer, on which MAX(idx) + 1 overflowed. Open rejects the latter with
// the same words.
func TestVerifyIDsOutsideAnyLog(t *testing.T) {
	tests := []struct {
		name     string
		insert   string
		problem  string
		openFail bool
	}{
		{"negative entry index", fmt.Sprintf(copyEntry0, -1), "negative entry index -1", false},
		{"largest entry index", fmt.Sprintf(copyEntry0, int64(math.MaxInt64)), "entry index 9223372036854775807, beyond any log", true},
		{"negative hash id", "INSERT INTO audit_hashes (id, hash) SELECT -7, hash FROM audit_hashes WHERE id = 0", "negative stored hash id -7", false},
		{"largest hash id", "INSERT INTO audit_hashes (id, hash) SELECT 9223372036854775807, hash FROM audit_hashes WHERE id = 0", "stored hash id 9223372036854775807, beyond any log", true},
	}
	storagetest.Run(t, func(t *testing.T, b storagetest.Backend) {
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				ctx := context.Background()
				l, db, keys := newTestLogOn(t, b, nil)
				appendN(t, l, 5)
				if err := l.Close(ctx); err != nil {
					t.Fatal(err)
				}
				mustExec(t, db, tt.insert)

				rep, err := Verify(ctx, db, VerifyOptions{LogKey: keys.verifier})
				if err != nil {
					t.Fatalf("verify failed instead of reporting: %v", err)
				}
				if rep.Intact() {
					t.Fatal("verify found the log intact")
				}
				if !strings.Contains(rep.Problems[0].What, tt.problem) {
					t.Errorf("first problem %q, want %q", rep.Problems[0].What, tt.problem)
				}

				l2, err := Open(ctx, db, keys.options())
				if err == nil {
					l2.Close(ctx)
				}
				if tt.openFail && !errors.Is(err, errIndexOutOfRange) {
					t.Errorf("Open error = %v, want errIndexOutOfRange", err)
				}
			})
		}
	})
}

// copyEntry0 copies entry 0 to the index given to fmt.Sprintf.
const copyEntry0 = `INSERT INTO audit_entries SELECT %d, exchange_id, partner, phase, decision, status,
	recorded_ns, entry, request_ct, response_ct, wrapped_key, shredded_ns FROM audit_entries WHERE idx = 0`

// SQLite stores any value in any column. A value of a type the gateway
// never writes is reported as a problem at its entry, not as an error
// that names no entry.
func TestVerifyReportsWronglyTypedValues(t *testing.T) {
	for _, tt := range []struct{ name, query string }{
		{"fractional status", "UPDATE audit_entries SET status = 200.5 WHERE idx = 6"},
		{"text shredding time", "UPDATE audit_entries SET shredded_ns = 'abc' WHERE idx = 6"},
		{"text recording time", "UPDATE audit_entries SET recorded_ns = 'yesterday' WHERE idx = 6"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			db, keys, _ := tamperLog(t, sqliteBackend)
			mustExec(t, db, tt.query)
			for _, chunk := range []int64{0, 4} {
				rep, err := Verify(context.Background(), db, VerifyOptions{LogKey: keys.verifier, chunkSize: chunk})
				if err != nil {
					t.Fatalf("chunks of %d: Verify failed instead of reporting the row: %v", chunk, err)
				}
				if rep.Intact() || rep.Problems[0].Index != 6 || !strings.Contains(rep.Problems[0].What, "a type the gateway never writes") {
					t.Errorf("chunks of %d: problems %v, want entry 6 reported", chunk, rep.Problems)
				}
			}
		})
	}
}

// A checkpoint note an insider made huge is rejected after reading no
// more than one byte past the cap.
func TestHugeCheckpointNoteReadCapped(t *testing.T) {
	if !strings.Contains(sqlCheckpoints, fmt.Sprintf("substr(note, 1, %d)", MaxCheckpointBytes+1)) {
		t.Fatalf("sqlCheckpoints does not cap the note at MaxCheckpointBytes+1: %s", sqlCheckpoints)
	}
	storagetest.Run(t, func(t *testing.T, b storagetest.Backend) {
		db, keys, _ := tamperLog(t, b)
		mustExec(t, db, "UPDATE audit_checkpoints SET note = $1 WHERE id = 2", bytes.Repeat([]byte("x"), 4<<20))
		var got []byte
		if err := db.QueryRow(sqlCheckpoints+"WHERE id = 2").Scan(new(int64), new(int64), &got, new(int64)); err != nil {
			t.Fatal(err)
		}
		if len(got) != MaxCheckpointBytes+1 {
			t.Errorf("read %d bytes of the note, want %d", len(got), MaxCheckpointBytes+1)
		}
		rep, err := Verify(context.Background(), db, VerifyOptions{LogKey: keys.verifier})
		if err != nil {
			t.Fatal(err)
		}
		if rep.Intact() || !strings.Contains(rep.Problems[0].String(), "checkpoint #2") {
			t.Errorf("problems %v, want checkpoint #2 reported", rep.Problems)
		}
	})
}

// A highest id below zero, left when the only rows were inserted outside
// the gateway at negative ids, is refused rather than taken as a negative
// size.
func TestCountFromMaxIDRefusesNegative(t *testing.T) {
	for _, tt := range []struct {
		max  sql.NullInt64
		want int64
		ok   bool
	}{
		{sql.NullInt64{}, 0, true},
		{sql.NullInt64{Int64: 0, Valid: true}, 1, true},
		{sql.NullInt64{Int64: 41, Valid: true}, 42, true},
		{sql.NullInt64{Int64: -5, Valid: true}, 0, false},
		{sql.NullInt64{Int64: math.MaxInt64, Valid: true}, 0, false},
	} {
		got, err := countFromMaxID(tt.max, "entry index")
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("countFromMaxID(%v) = %d, %v; want %d, ok %v", tt.max, got, err, tt.want, tt.ok)
		}
	}
}
