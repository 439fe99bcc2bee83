package auditlog

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"maps"
	"strings"
	"sync"
	"testing"
	"time"

	"filippo.io/age"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/gatehouse-health/gatehouse/internal/storage"
	"github.com/gatehouse-health/gatehouse/internal/storage/storagetest"
)

// steppingClock returns a clock that starts at start and advances step on
// every reading.
func steppingClock(start time.Time, step time.Duration) func() time.Time {
	var mu sync.Mutex
	now := start
	return func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		now = now.Add(step)
		return now
	}
}

func countKEKs(t *testing.T, db *storage.DB) int {
	t.Helper()
	var n int
	if err := db.QueryRow(`SELECT COUNT(*) FROM audit_keks`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestKEKRotation(t *testing.T) {
	storagetest.Run(t, func(t *testing.T, b storagetest.Backend) {
		tests := []struct {
			name     string
			edit     func(*Options)
			wantKEKs int
		}{
			// Each sequential append is one batch; the clock moves 1s per reading.
			{"one window", func(o *Options) {}, 1},
			{"by time", func(o *Options) { o.KEKInterval = 5 * time.Second }, 2},
			{"by entries", func(o *Options) { o.KEKMaxEntries = 3 }, 4},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				l, db, keys := newTestLogOn(t, b, func(o *Options) {
					o.Now = steppingClock(time.Unix(1_800_000_000, 0), time.Second)
					tt.edit(o)
				})
				appendN(t, l, 10)
				if got := countKEKs(t, db); got != tt.wantKEKs {
					t.Errorf("%d key-encryption keys, want %d", got, tt.wantKEKs)
				}
				d, err := l.NewDecrypter(context.Background(), []age.Identity{keys.identity})
				if err != nil {
					t.Fatal(err)
				}
				for i := range int64(10) {
					row, err := l.Row(context.Background(), i)
					if err != nil {
						t.Fatal(err)
					}
					bodies, err := d.Open(context.Background(), row)
					if err != nil {
						t.Fatalf("entry %d: %v", i, err)
					}
					if !bytes.Equal(bodies.Request, testEntry(int(i), 64).RequestBody) {
						t.Errorf("entry %d: request body differs", i)
					}
				}
			})
		}
	})
}

func TestWrappedKeyLayout(t *testing.T) {
	l, _, _ := newTestLog(t, nil)
	appendN(t, l, 2)
	row, err := l.Row(context.Background(), 1)
	if err != nil {
		t.Fatal(err)
	}
	if len(row.WrappedKey) != wrappedKeySize {
		t.Fatalf("wrapped key of %d bytes, want %d", len(row.WrappedKey), wrappedKeySize)
	}
	id, legacy, err := parseWrappedKey(row.WrappedKey)
	if err != nil || legacy || id != 1 {
		t.Errorf("parseWrappedKey = %d, %v, %v; want KEK 1", id, legacy, err)
	}
	if digest(row.WrappedKey) != row.Leaf.WrappedKeySHA256 {
		t.Error("the leaf does not commit to the wrapped key")
	}
}

func TestDecryptRejects(t *testing.T) {
	storagetest.Run(t, func(t *testing.T, b storagetest.Backend) {
		tests := []struct {
			name   string
			tamper func(t *testing.T, db *storage.DB)
			want   string
		}{
			{"key-encryption key swapped", func(t *testing.T, db *storage.DB) {
				// A KEK of the attacker's choosing, wrapped to the same recipient,
				// differs from the one the leaf commits to.
				mustExec(t, db, `UPDATE audit_keks SET wrapped = (SELECT wrapped FROM audit_keks WHERE id = 2) WHERE id = 1`)
			}, "key-encryption key 1 was replaced"},
			{"wrapped key moved to another entry", func(t *testing.T, db *storage.DB) {
				mustExec(t, db, `UPDATE audit_entries SET wrapped_key = (SELECT wrapped_key FROM audit_entries WHERE idx = 1) WHERE idx = 0`)
			}, "failed authentication"},
			{"key-encryption key deleted", func(t *testing.T, db *storage.DB) {
				mustExec(t, db, `DELETE FROM audit_keks WHERE id = 1`)
			}, "key-encryption key 1 is missing"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				l, db, keys := newTestLogOn(t, b, func(o *Options) { o.KEKMaxEntries = 2 })
				appendN(t, l, 4)
				tt.tamper(t, db)
				row, err := l.Row(context.Background(), 0)
				if err != nil {
					t.Fatal(err)
				}
				_, err = openBodies(t, l, keys, row)
				if err == nil || !strings.Contains(err.Error(), tt.want) {
					t.Errorf("err = %v, want one mentioning %q", err, tt.want)
				}
			})
		}
	})
}

// TestDecryptLegacyWrappedKey decrypts an entry whose data key is an age
// file, as entries written before key-encryption keys are.
func TestDecryptLegacyWrappedKey(t *testing.T) {
	keys := newTestKeys(t)
	key := make([]byte, dataKeySize)
	rand.Read(key)
	var wrapped bytes.Buffer
	w, err := age.Encrypt(&wrapped, keys.identity.Recipient())
	if err != nil {
		t.Fatal(err)
	}
	w.Write(key)
	w.Close()

	aead, err := newGCM(key)
	if err != nil {
		t.Fatal(err)
	}
	body := []byte(`{"resourceType":"Claim"}`)
	nonce := make([]byte, nonceSize)
	row := &Row{WrappedKey: wrapped.Bytes()}
	row.Leaf.Index, row.Leaf.Entry.ExchangeID = 3, "ex-legacy"
	row.RequestCiphertext = sealBody(aead, nonce, body, bodyAD(testOrigin, 3, "ex-legacy", "request"))
	row.Leaf.Request = commitBody(body, digest(body), row.RequestCiphertext)

	d := &Decrypter{origin: testOrigin, identities: []age.Identity{keys.identity}}
	got, err := d.Open(context.Background(), row)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.Request, body) {
		t.Errorf("request = %q, want %q", got.Request, body)
	}
}

func TestShredDeletesExpiredKEKs(t *testing.T) {
	storagetest.Run(t, func(t *testing.T, b storagetest.Backend) {
		start := time.Unix(1_800_000_000, 0)
		l, db, keys := newTestLogOn(t, b, func(o *Options) {
			o.Now = steppingClock(start, time.Second)
			o.KEKInterval = 4 * time.Second
		})
		appendN(t, l, 12)
		before := countKEKs(t, db)
		row6, err := l.Row(context.Background(), 6)
		if err != nil {
			t.Fatal(err)
		}
		cutoff := row6.Leaf.Entry.RecordedAt
		// Retention shreds no entry younger than a day.
		n, err := Shred(context.Background(), db, cutoff, cutoff.Add(25*time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		if n != 6 {
			t.Errorf("shredded %d entries, want the 6 recorded before the cutoff", n)
		}
		if after := countKEKs(t, db); after >= before {
			t.Errorf("%d key-encryption keys before shredding and %d after, want fewer", before, after)
		}
		rep, err := Verify(context.Background(), db, VerifyOptions{LogKey: keys.verifier, Now: nextYear})
		if err != nil {
			t.Fatal(err)
		}
		if !rep.Intact() {
			t.Errorf("problems after shredding: %v", rep.Problems)
		}
		for i := range int64(12) {
			row, err := l.Row(context.Background(), i)
			if err != nil {
				t.Fatal(err)
			}
			_, err = openBodies(t, l, keys, row)
			switch {
			case i < 6 && !errors.Is(err, ErrShredded):
				t.Errorf("entry %d: err = %v, want ErrShredded", i, err)
			case i >= 6 && err != nil:
				t.Errorf("entry %d after the cutoff: %v", i, err)
			}
		}
	})
}

// TestTwoReplicasShareOneLog runs two Logs, each with its own connection
// pool, on one database, as two gateway replicas do, and appends from both
// at once.
func TestTwoReplicasShareOneLog(t *testing.T) {
	storagetest.Run(t, func(t *testing.T, b storagetest.Backend) {
		keys := newTestKeys(t)
		url := b.NewURL(t)
		var logs []*Log
		for range 2 {
			opts := keys.options()
			opts.CheckpointEvery = 64
			l, err := Open(context.Background(), storagetest.Open(t, url), opts)
			if err != nil {
				t.Fatal(err)
			}
			logs = append(logs, l)
		}

		const workers, each = 16, 40
		var mu sync.Mutex
		seen := map[int64]int{}
		var wg sync.WaitGroup
		for w := range workers {
			l := logs[w%2]
			wg.Go(func() {
				for i := range each {
					a, err := l.AppendEntry(context.Background(), testEntry(w*each+i, 256))
					if err != nil {
						t.Error(err)
						return
					}
					mu.Lock()
					seen[a.Index]++
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		for _, l := range logs {
			if err := l.Close(context.Background()); err != nil {
				t.Fatal(err)
			}
		}

		const total = workers * each
		for i := range int64(total) {
			if seen[i] != 1 {
				t.Fatalf("index %d returned %d times, want once: indexes are not dense and unique", i, seen[i])
			}
		}
		rep, err := Verify(context.Background(), storagetest.Open(t, url), VerifyOptions{LogKey: keys.verifier})
		if err != nil {
			t.Fatal(err)
		}
		if !rep.Intact() || rep.Size != total || rep.Uncovered != 0 {
			t.Errorf("report = %+v, want intact with %d entries, all covered", rep, total)
		}
		d, err := logs[0].NewDecrypter(context.Background(), []age.Identity{keys.identity})
		if err != nil {
			t.Fatal(err)
		}
		err = logs[1].Scan(context.Background(), Query{}, func(row *Row) error {
			_, err := d.Open(context.Background(), row)
			return err
		})
		if err != nil {
			t.Errorf("decrypting every entry: %v", err)
		}
	})
}

func TestFrontierMatchesTlog(t *testing.T) {
	var f frontier
	stored := hashSet{}
	for n := range int64(300) {
		leaf := tlog.RecordHash([]byte{byte(n), byte(n >> 8)})
		got := f.add(leaf)
		want, err := tlog.StoredHashesForRecordHash(n, leaf, stored)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != len(want) {
			t.Fatalf("leaf %d: %d stored hashes, want %d", n, len(got), len(want))
		}
		first := tlog.StoredHashIndex(0, n)
		for k := range want {
			if got[k] != want[k] {
				t.Fatalf("leaf %d: stored hash %d differs", n, k)
			}
			stored[first+int64(k)] = want[k]
		}
		root, err := tlog.TreeHash(n+1, stored)
		if err != nil {
			t.Fatal(err)
		}
		if f.root() != root {
			t.Fatalf("root of %d leaves differs from tlog.TreeHash", n+1)
		}
		loaded, err := loadFrontier(stored, n+1)
		if err != nil {
			t.Fatal(err)
		}
		if loaded.root() != root {
			t.Fatalf("loaded frontier of %d leaves has another root", n+1)
		}
	}
	var empty frontier
	if root, _ := tlog.TreeHash(0, stored); empty.root() != root {
		t.Error("empty tree root differs from tlog.TreeHash")
	}
}

// loadExtension accepts every larger tree of one log and refuses a tree
// whose stored hashes reproduce only the larger root.
func TestLoadExtension(t *testing.T) {
	stored := hashSet{}
	var f frontier
	roots := []tlog.Hash{f.root()}
	for n := range int64(40) {
		first := tlog.StoredHashIndex(0, n)
		for k, h := range f.add(tlog.RecordHash([]byte{byte(n)})) {
			stored[first+int64(k)] = h
		}
		roots = append(roots, f.root())
	}
	for size := int64(0); size <= 40; size++ {
		for old := int64(0); old <= size; old++ {
			got, err := loadExtension(stored, size, old, roots[old])
			if err != nil || got.root() != roots[size] {
				t.Fatalf("%d extending %d: root ok %v, err %v", size, old, got.root() == roots[size], err)
			}
			if old == 0 {
				continue
			}
			if _, err := loadExtension(stored, size, old, roots[old-1]); !errors.Is(err, errNotExtending) {
				t.Fatalf("%d extending %d with a wrong root: err = %v", size, old, err)
			}
		}
	}
	if _, err := loadExtension(stored, 5, 6, roots[6]); !errors.Is(err, errNotExtending) {
		t.Errorf("a smaller tree: err = %v", err)
	}
	// The first 8 leaves under another root, with the rest kept.
	forged := maps.Clone(stored)
	forged[tlog.StoredHashIndex(3, 0)] = tlog.Hash{}
	if _, err := loadExtension(forged, 9, 6, roots[6]); !errors.Is(err, errNotExtending) {
		t.Errorf("a rewritten subtree: err = %v", err)
	}
}
