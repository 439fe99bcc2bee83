package patientlinks

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/gatehouse-health/gatehouse/internal/clocktest"
	"github.com/gatehouse-health/gatehouse/internal/congruence"
	"github.com/gatehouse-health/gatehouse/internal/storage"
	"github.com/gatehouse-health/gatehouse/internal/storage/storagetest"
)

var (
	memberA = congruence.Identifier{System: "urn:oid:2.16.840.1.113883.3.9999", Value: "member-a"}
	memberB = congruence.Identifier{System: "urn:oid:2.16.840.1.113883.3.9999", Value: "member-b"}
)

// testKey is the link key of the tests' stores.
var testKey = bytes.Repeat([]byte{7}, KeySize)

func newStore(t *testing.T, db *storage.DB, retention time.Duration, c *clocktest.Clock) *Store {
	t.Helper()
	s, err := New(context.Background(), db, testKey, retention, c.Now)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// mustKnown reports whether Lookup links at least one identifier of ids
// to partner.
func mustKnown(t *testing.T, s *Store, partner string, ids ...congruence.Identifier) bool {
	t.Helper()
	links, err := s.Lookup(context.Background(), partner, ids)
	if err != nil {
		t.Fatalf("Lookup(%s): %v", partner, err)
	}
	return slices.ContainsFunc(links, func(l Link) bool { return l.Partner })
}

func TestRememberThenLookup(t *testing.T) {
	storagetest.Run(t, func(t *testing.T, b storagetest.Backend) {
		c := clocktest.New(time.Unix(1_800_000_000, 0))
		s := newStore(t, b.New(t), time.Hour, c)
		if err := s.Remember(context.Background(), "ehr-1", []congruence.Identifier{memberA}); err != nil {
			t.Fatal(err)
		}

		if !mustKnown(t, s, "ehr-1", memberA) {
			t.Error("member A is not known to the partner that sent it")
		}
		if !mustKnown(t, s, "ehr-1", memberB, memberA) {
			t.Error("a list containing member A is not known to the partner that sent it")
		}
		if mustKnown(t, s, "ehr-2", memberA) {
			t.Error("member A is known to a partner that never sent it")
		}
		if mustKnown(t, s, "ehr-1", memberB) {
			t.Error("member B is known though no partner sent it")
		}
		if mustKnown(t, s, "ehr-1", congruence.Identifier{System: "urn:other", Value: memberA.Value}) {
			t.Error("member A's value in another system is known")
		}
		if mustKnown(t, s, "ehr-1") {
			t.Error("an empty identifier list is known")
		}
	})
}

func TestLinkExpires(t *testing.T) {
	storagetest.Run(t, func(t *testing.T, b storagetest.Backend) {
		c := clocktest.New(time.Unix(1_800_000_000, 0))
		s := newStore(t, b.New(t), time.Hour, c)
		ctx := context.Background()
		if err := s.Remember(ctx, "ehr-1", []congruence.Identifier{memberA}); err != nil {
			t.Fatal(err)
		}

		c.Advance(30 * time.Minute)
		if err := s.Remember(ctx, "ehr-1", []congruence.Identifier{memberA}); err != nil {
			t.Fatal(err)
		}
		c.Advance(45 * time.Minute)
		if !mustKnown(t, s, "ehr-1", memberA) {
			t.Error("a second request did not extend the link")
		}

		c.Advance(time.Hour)
		if mustKnown(t, s, "ehr-1", memberA) {
			t.Error("the link is known after its retention")
		}
		if err := s.Remember(ctx, "ehr-1", []congruence.Identifier{memberB}); err != nil {
			t.Fatal(err)
		}
		if n, err := s.Len(ctx); err != nil || n != 1 {
			t.Errorf("Len = %d, %v after pruning, want 1 (member B only)", n, err)
		}
	})
}

func TestValueNotStoredInClear(t *testing.T) {
	storagetest.Run(t, func(t *testing.T, b storagetest.Backend) {
		db := b.New(t)
		s := newStore(t, db, 0, clocktest.New(time.Unix(1_800_000_000, 0)))
		if err := s.Remember(context.Background(), "ehr-1", []congruence.Identifier{memberA}); err != nil {
			t.Fatal(err)
		}

		var system string
		var hash []byte
		if err := db.QueryRowContext(context.Background(), `SELECT system, value_hash FROM partner_patients`).Scan(&system, &hash); err != nil {
			t.Fatal(err)
		}
		if system != memberA.System {
			t.Errorf("system = %q, want %q", system, memberA.System)
		}
		if bytes.Contains(hash, []byte(memberA.Value)) || len(hash) != 32 {
			t.Errorf("value_hash = %x, want a 32-byte hash without the value", hash)
		}
		plain := sha256.Sum256([]byte(memberA.System + "|" + memberA.Value))
		if bytes.Equal(hash, plain[:]) {
			t.Error("value_hash is the unkeyed SHA-256 of system|value")
		}
		if !mustKnown(t, s, "ehr-1", memberA) {
			t.Error("member A is not known through the keyed hash")
		}
	})
}

// A store opened with another key cannot read the links of the first one,
// so New drops them and reports how many.
func TestKeyChangeDropsLinks(t *testing.T) {
	storagetest.Run(t, func(t *testing.T, b storagetest.Backend) {
		ctx := context.Background()
		db := b.New(t)
		c := clocktest.New(time.Unix(1_800_000_000, 0))
		s := newStore(t, db, 0, c)
		if err := s.Remember(ctx, "ehr-1", []congruence.Identifier{memberA, memberB}); err != nil {
			t.Fatal(err)
		}

		same := newStore(t, db, 0, c)
		if n := same.DroppedAtStart(); n != 0 {
			t.Errorf("reopening with the same key dropped %d links, want 0", n)
		}
		other, err := New(ctx, db, bytes.Repeat([]byte{8}, KeySize), 0, c.Now)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { other.Close() })

		if n := other.DroppedAtStart(); n != 2 {
			t.Errorf("DroppedAtStart = %d, want 2", n)
		}
		if n, err := other.Len(ctx); err != nil || n != 0 {
			t.Errorf("Len = %d, %v after a key change, want 0", n, err)
		}
	})
}

// Rows of the unkeyed SHA-256 that earlier versions wrote, without a key
// id, are dropped at start.
func TestUnkeyedLinksDropped(t *testing.T) {
	storagetest.Run(t, func(t *testing.T, b storagetest.Backend) {
		ctx := context.Background()
		db := b.New(t)
		c := clocktest.New(time.Unix(1_800_000_000, 0))
		newStore(t, db, 0, c)
		plain := sha256.Sum256([]byte(memberA.System + "|" + memberA.Value))
		if _, err := db.ExecContext(ctx, `DELETE FROM partner_patients_key`); err != nil {
			t.Fatal(err)
		}
		if _, err := db.ExecContext(ctx, `INSERT INTO partner_patients (partner, system, value_hash, expires_ns) VALUES ($1, $2, $3, $4)`,
			"ehr-1", memberA.System, plain[:], c.Now().Add(time.Hour).UnixNano()); err != nil {
			t.Fatal(err)
		}

		s := newStore(t, db, 0, c)

		if n := s.DroppedAtStart(); n != 1 {
			t.Errorf("DroppedAtStart = %d, want 1", n)
		}
		if mustKnown(t, s, "ehr-1", memberA) {
			t.Error("an unkeyed link is known")
		}
	})
}

func TestNewRejectsShortKey(t *testing.T) {
	_, err := New(context.Background(), storagetest.Backends()[0].New(t), make([]byte, 16), 0, nil)
	if err == nil {
		t.Fatal("New accepted a 16-byte key")
	}
}

func TestLookup(t *testing.T) {
	storagetest.Run(t, func(t *testing.T, b storagetest.Backend) {
		ctx := context.Background()
		c := clocktest.New(time.Unix(1_800_000_000, 0))
		s := newStore(t, b.New(t), time.Hour, c)
		mrn := congruence.Identifier{System: "urn:example:mrn", Value: "mrn-1"}
		if err := s.Remember(ctx, "ehr-1", []congruence.Identifier{memberA}); err != nil {
			t.Fatal(err)
		}
		if err := s.Remember(ctx, "ehr-2", []congruence.Identifier{memberA, memberB}); err != nil {
			t.Fatal(err)
		}

		got, err := s.Lookup(ctx, "ehr-1", []congruence.Identifier{memberA, memberB, mrn, {System: memberA.System}})
		if err != nil {
			t.Fatal(err)
		}
		want := []Link{{Partner: true, Others: true}, {Partner: false, Others: true}, {}, {}}
		for i := range want {
			if got[i] != want[i] {
				t.Errorf("Lookup[%d] = %+v, want %+v", i, got[i], want[i])
			}
		}

		c.Advance(2 * time.Hour)
		got, err = s.Lookup(ctx, "ehr-1", []congruence.Identifier{memberA})
		if err != nil {
			t.Fatal(err)
		}
		if got[0] != (Link{}) {
			t.Errorf("Lookup after expiry = %+v, want no links", got[0])
		}
	})
}

func TestLookupRejectsTooMany(t *testing.T) {
	s := newStore(t, storagetest.Backends()[0].New(t), 0, clocktest.New(time.Unix(1_800_000_000, 0)))
	ids := make([]congruence.Identifier, MaxIdentifiers+1)
	if _, err := s.Lookup(context.Background(), "ehr-1", ids); !errors.Is(err, ErrTooManyIdentifiers) {
		t.Fatalf("Lookup of %d identifiers: %v, want ErrTooManyIdentifiers", len(ids), err)
	}
}

func TestIdentifierCap(t *testing.T) {
	s := newStore(t, storagetest.Backends()[0].New(t), 0, clocktest.New(time.Unix(1_800_000_000, 0)))
	ids := make([]congruence.Identifier, MaxIdentifiers+1)
	for i := range ids {
		ids[i] = congruence.Identifier{System: "urn:s", Value: string(rune('a' + i))}
	}
	if err := s.Remember(context.Background(), "ehr-1", ids); err != nil {
		t.Fatal(err)
	}

	if n, err := s.Len(context.Background()); err != nil || n != MaxIdentifiers {
		t.Errorf("Len = %d, %v, want %d", n, err, MaxIdentifiers)
	}
	if mustKnown(t, s, "ehr-1", ids[MaxIdentifiers]) {
		t.Error("the identifier past the cap is known")
	}
	if !mustKnown(t, s, "ehr-1", ids[0]) {
		t.Error("the first identifier is not known")
	}
}

func TestIncompleteIdentifierIgnored(t *testing.T) {
	s := newStore(t, storagetest.Backends()[0].New(t), 0, clocktest.New(time.Unix(1_800_000_000, 0)))
	partial := []congruence.Identifier{{System: memberA.System}, {Value: memberA.Value}}
	if err := s.Remember(context.Background(), "ehr-1", partial); err != nil {
		t.Fatal(err)
	}

	if n, err := s.Len(context.Background()); err != nil || n != 0 {
		t.Errorf("Len = %d, %v, want 0", n, err)
	}
	if mustKnown(t, s, "ehr-1", partial...) {
		t.Error("an identifier without system or value is known")
	}
}

var claimA = congruence.Identifier{System: "urn:example:ehr-1:claims", Value: "claim-a"}

// A claim link is kept apart from the patient links: the same identifier
// linked as a claim is no patient of the partner, and the reverse.
func TestClaimLinksSeparateFromPatients(t *testing.T) {
	storagetest.Run(t, func(t *testing.T, b storagetest.Backend) {
		ctx := context.Background()
		c := clocktest.New(time.Unix(1_800_000_000, 0))
		s := newStore(t, b.New(t), time.Hour, c)
		if err := s.RememberClaims(ctx, "ehr-1", []congruence.Identifier{claimA}); err != nil {
			t.Fatal(err)
		}
		if err := s.Remember(ctx, "ehr-1", []congruence.Identifier{memberA}); err != nil {
			t.Fatal(err)
		}

		claims, err := s.LookupClaims(ctx, "ehr-1", []congruence.Identifier{claimA, memberA})
		if err != nil {
			t.Fatal(err)
		}
		if want := (Link{Partner: true}); claims[0] != want {
			t.Errorf("LookupClaims(claim) = %+v, want %+v", claims[0], want)
		}
		if claims[1] != (Link{}) {
			t.Errorf("LookupClaims(patient identifier) = %+v, want no link", claims[1])
		}
		if mustKnown(t, s, "ehr-1", claimA) {
			t.Error("a claim identifier is known as a patient")
		}
		others, err := s.LookupClaims(ctx, "ehr-2", []congruence.Identifier{claimA})
		if err != nil {
			t.Fatal(err)
		}
		if want := (Link{Others: true}); others[0] != want {
			t.Errorf("LookupClaims for another partner = %+v, want %+v", others[0], want)
		}

		c.Advance(2 * time.Hour)
		expired, err := s.LookupClaims(ctx, "ehr-1", []congruence.Identifier{claimA})
		if err != nil {
			t.Fatal(err)
		}
		if expired[0] != (Link{}) {
			t.Errorf("LookupClaims after expiry = %+v, want no link", expired[0])
		}
	})
}

// A key change drops the claim links with the patient links, because
// neither can be hashed again without the values.
func TestKeyChangeDropsClaimLinks(t *testing.T) {
	storagetest.Run(t, func(t *testing.T, b storagetest.Backend) {
		ctx := context.Background()
		db := b.New(t)
		c := clocktest.New(time.Unix(1_800_000_000, 0))
		s := newStore(t, db, 0, c)
		if err := s.RememberClaims(ctx, "ehr-1", []congruence.Identifier{claimA}); err != nil {
			t.Fatal(err)
		}

		other, err := New(ctx, db, bytes.Repeat([]byte{8}, KeySize), 0, c.Now)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { other.Close() })

		if n := other.DroppedAtStart(); n != 1 {
			t.Errorf("DroppedAtStart = %d, want 1", n)
		}
		if n, err := other.ClaimLen(ctx); err != nil || n != 0 {
			t.Errorf("ClaimLen = %d, %v after a key change, want 0", n, err)
		}
	})
}

// TestRememberAllOrNothing checks that one Remember call commits its
// identifiers in one transaction: when the second insert fails, the first
// is not linked either. A SQLite trigger makes the second insert fail.
func TestRememberAllOrNothing(t *testing.T) {
	db := storagetest.Backend{Dialect: storage.SQLite}.New(t)
	s := newStore(t, db, time.Hour, clocktest.New(time.Unix(1_800_000_000, 0)))
	// A trigger takes no parameters, so the hash is a blob literal.
	_, err := db.ExecContext(context.Background(), `CREATE TRIGGER fail_member_b BEFORE INSERT ON partner_patients
WHEN NEW.value_hash = X'`+hex.EncodeToString(s.hashValue(memberB))+`' BEGIN SELECT RAISE(ABORT, 'test: insert refused'); END`)
	if err != nil {
		t.Fatal(err)
	}

	if err := s.Remember(context.Background(), "ehr-1", []congruence.Identifier{memberA, memberB}); err == nil {
		t.Fatal("Remember succeeded although the insert of member B failed")
	}
	if mustKnown(t, s, "ehr-1", memberA) {
		t.Error("member A is linked although the same call failed on member B")
	}
}

// refusedSystem is a Claim identifier system whose insert the database
// rejects in TestRememberExchangeAllOrNothing.
const refusedSystem = "urn:test:refused"

// refuseClaimSystem makes every insert of a claim link of refusedSystem
// fail: a trigger on SQLite, a CHECK constraint on PostgreSQL.
func refuseClaimSystem(t *testing.T, db *storage.DB) {
	t.Helper()
	stmt := `ALTER TABLE partner_claims ADD CONSTRAINT test_refused CHECK (system <> '` + refusedSystem + `')`
	if db.Dialect == storage.SQLite {
		stmt = `CREATE TRIGGER test_refused BEFORE INSERT ON partner_claims
WHEN NEW.system = '` + refusedSystem + `' BEGIN SELECT RAISE(ABORT, 'test: insert refused'); END`
	}
	if _, err := db.ExecContext(context.Background(), stmt); err != nil {
		t.Fatal(err)
	}
}

// TestRememberExchangeAllOrNothing checks that the patients and claims of
// one exchange commit in one transaction: when the claim insert fails,
// the patient written before it in the same call is not linked either.
func TestRememberExchangeAllOrNothing(t *testing.T) {
	storagetest.Run(t, func(t *testing.T, b storagetest.Backend) {
		ctx := context.Background()
		db := b.New(t)
		s := newStore(t, db, time.Hour, clocktest.New(time.Unix(1_800_000_000, 0)))
		refuseClaimSystem(t, db)
		refused := congruence.Identifier{System: refusedSystem, Value: "claim-r"}

		err := s.RememberExchange(ctx, "ehr-1", []congruence.Identifier{memberA}, []congruence.Identifier{refused})
		if err == nil {
			t.Fatal("RememberExchange succeeded although the claim insert failed")
		}
		if mustKnown(t, s, "ehr-1", memberA) {
			t.Error("member A is linked although the claim of the same exchange failed")
		}
		if n, err := s.Len(ctx); err != nil || n != 0 {
			t.Errorf("Len = %d, %v, want 0", n, err)
		}

		if err := s.RememberExchange(ctx, "ehr-1", []congruence.Identifier{memberA}, []congruence.Identifier{claimA}); err != nil {
			t.Fatal(err)
		}
		if !mustKnown(t, s, "ehr-1", memberA) {
			t.Error("member A is not linked by a call that succeeded")
		}
		claims, err := s.LookupClaims(ctx, "ehr-1", []congruence.Identifier{claimA})
		if err != nil {
			t.Fatal(err)
		}
		if !claims[0].Partner {
			t.Error("claim A is not linked by a call that succeeded")
		}
	})
}

// TestRememberExchangeSyncsBeforeReturn checks that on SQLite a link is
// on disk when RememberExchange returns: its commit skips the fsync, so
// the call must sync the write-ahead log itself and fail when that fails.
func TestRememberExchangeSyncsBeforeReturn(t *testing.T) {
	s := newStore(t, storagetest.Backend{Dialect: storage.SQLite}.New(t), time.Hour, clocktest.New(time.Unix(1_800_000_000, 0)))
	restore := storage.FailLogSyncsForTest()
	defer restore()

	err := s.RememberExchange(context.Background(), "ehr-1", []congruence.Identifier{memberA}, []congruence.Identifier{claimA})
	if err == nil {
		t.Fatal("RememberExchange succeeded although the write-ahead log could not be synced")
	}
}
