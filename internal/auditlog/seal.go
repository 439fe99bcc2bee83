package auditlog

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"database/sql"
	"encoding/binary"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"filippo.io/age"
)

const (
	bodyADPrefix = "gatehouse.audit.body/v1\n"
	dataKeySize  = 32
	nonceSize    = 12
)

// ErrShredded is returned when a body is requested whose data key was
// destroyed by Shred.
var ErrShredded = errors.New("auditlog: data key destroyed by retention")

// bodyAD builds the associated data that binds a ciphertext to its log,
// leaf and part (see the package documentation).
func bodyAD(origin string, index int64, exchangeID, part string) []byte {
	ad := make([]byte, 0, len(bodyADPrefix)+4+len(origin)+8+4+len(exchangeID)+4+len(part))
	ad = append(ad, bodyADPrefix...)
	ad = appendString(ad, origin)
	ad = binary.BigEndian.AppendUint64(ad, uint64(index))
	ad = appendString(ad, exchangeID)
	return appendString(ad, part)
}

func appendString(b []byte, s string) []byte {
	b = binary.BigEndian.AppendUint32(b, uint32(len(s)))
	return append(b, s...)
}

// sealBody encrypts plaintext with aead and nonce and returns
// nonce || ciphertext, or nil for an empty body. The result may be a
// buffer kept by releaseSealed.
func sealBody(aead cipher.AEAD, nonce, plaintext, ad []byte) []byte {
	if len(plaintext) == 0 {
		return nil
	}
	out := sealedBuffer(nonceSize + len(plaintext) + aead.Overhead())
	out = append(out, nonce[:nonceSize]...)
	return aead.Seal(out, nonce, plaintext, ad)
}

// Sealed bodies are among the largest allocations of an exchange. Both
// database drivers copy a []byte argument before the insert returns, so
// the writer keeps the buffers for the next batch. They hold no pointers,
// so the collector has nothing to mark in them.
var sealedBuffers struct {
	sync.Mutex
	free [][]byte
}

const (
	// minSealedBuffer and maxSealedBuffer bound the capacity of a kept
	// buffer. Smaller ones would crowd out useful ones, and larger ones
	// are left to the collector rather than held between exchanges. The
	// PAS requests of `gatehouse load` are 5.7 to 13.3 KB.
	minSealedBuffer = 1 << 10
	maxSealedBuffer = 64 << 10
	// maxSealedBuffers is how many buffers are kept, at most 4 MiB.
	maxSealedBuffers = 64
)

// sealedBuffer returns an empty buffer with room for n bytes: the most
// recently kept one that is large enough, or else a new one of exactly n
// bytes, so that a body no kept buffer fits costs one allocation of its size.
func sealedBuffer(n int) []byte {
	sb := &sealedBuffers
	sb.Lock()
	for i := len(sb.free) - 1; i >= 0; i-- {
		if b := sb.free[i]; cap(b) >= n {
			last := len(sb.free) - 1
			sb.free[i] = sb.free[last]
			sb.free[last] = nil
			sb.free = sb.free[:last]
			sb.Unlock()
			return b
		}
	}
	sb.Unlock()
	return make([]byte, 0, n)
}

// releaseSealed keeps the ciphertext buffers of rows for later bodies.
// The rows' ciphertexts must not be read after.
func releaseSealed(rows []*Row) {
	sb := &sealedBuffers
	sb.Lock()
	defer sb.Unlock()
	for _, row := range rows {
		if row == nil {
			continue
		}
		for _, b := range [][]byte{row.RequestCiphertext, row.ResponseCiphertext} {
			if cap(b) >= minSealedBuffer && cap(b) <= maxSealedBuffer && len(sb.free) < maxSealedBuffers {
				sb.free = append(sb.free, b[:0])
			}
		}
		row.RequestCiphertext, row.ResponseCiphertext = nil, nil
	}
}

// openBody reverses sealBody.
func openBody(aead cipher.AEAD, sealed, ad []byte) ([]byte, error) {
	if len(sealed) == 0 {
		return nil, nil
	}
	if len(sealed) < nonceSize+aead.Overhead() {
		return nil, errors.New("auditlog: body ciphertext too short")
	}
	plain, err := aead.Open(nil, sealed[:nonceSize], sealed[nonceSize:], ad)
	if err != nil {
		return nil, errors.New("auditlog: body ciphertext failed authentication")
	}
	return plain, nil
}

func newGCM(key []byte) (cipher.AEAD, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("auditlog: %w", err)
	}
	return cipher.NewGCM(block)
}

// Bodies are the decrypted bodies of one entry.
type Bodies struct {
	Request, Response []byte
	// RequestIndex is the leaf index of the entry whose ciphertext held
	// Request: the entry's own, or its exchange's request entry when the
	// entry keeps the request there (Body.InRequestEntry).
	RequestIndex int64
	// RequestShredded is set when the request entry holding Request was
	// shredded, which leaves Request nil.
	RequestShredded bool
	// RequestUnavailable is the reason Request is nil when the request
	// entry holding it could not be read or decrypted. The response is
	// still returned, and audit verify reports the damage.
	RequestUnavailable string
	// Target is the full request-target, the query string included. It is
	// the path of a version 3 or later entry joined with its decrypted
	// query, or the target of an older entry, which stored it in clear text.
	Target string
}

// maxCachedKEKs bounds the key-encryption keys a Decrypter keeps. Entries
// read in index order use a few KEKs at a time (one per writer).
const maxCachedKEKs = 64

// Decrypter decrypts entry bodies with the security team's age
// identities. It unwraps each key-encryption key once, from the log's
// audit_keks table, and keeps the most recent ones, so reading many
// entries costs one age decryption per KEK rather than per entry. It is
// not safe for concurrent use.
type Decrypter struct {
	r          *Reader
	origin     string
	identities []age.Identity
	keks       map[int64]unwrappedKEK
}

// unwrappedKEK is a key-encryption key a Decrypter opened, with the
// SHA-256 of its age file for comparison with version 4 leaves.
type unwrappedKEK struct {
	aead       cipher.AEAD
	fileSHA256 [32]byte
}

// NewDecrypter returns a Decrypter for the log r reads.
func (r *Reader) NewDecrypter(ctx context.Context, identities []age.Identity) (*Decrypter, error) {
	origin, err := r.Origin(ctx)
	if err != nil {
		return nil, err
	}
	return &Decrypter{r: r, origin: origin, identities: identities, keks: map[int64]unwrappedKEK{}}, nil
}

// Open decrypts the bodies of row and checks each plaintext against the
// hash its leaf commits to. It returns ErrShredded when the row's data key
// was destroyed.
func (d *Decrypter) Open(ctx context.Context, row *Row) (*Bodies, error) {
	key, err := d.dataKey(ctx, row)
	if err != nil {
		return nil, err
	}
	aead, err := newGCM(key)
	if err != nil {
		return nil, err
	}
	out := Bodies{RequestIndex: row.Leaf.Index, Target: row.Leaf.Entry.Target}
	if len(row.Leaf.QueryCiphertext) > 0 {
		ad := bodyAD(d.origin, row.Leaf.Index, row.Leaf.Entry.ExchangeID, "query")
		query, err := openBody(aead, row.Leaf.QueryCiphertext, ad)
		if err != nil {
			return nil, fmt.Errorf("auditlog: entry %d query string: %w", row.Leaf.Index, err)
		}
		out.Target += "?" + string(query)
	}
	parts := []struct {
		name   string
		sealed []byte
		commit *Body
		dst    *[]byte
	}{
		{"request", row.RequestCiphertext, &row.Leaf.Request, &out.Request},
		{"response", row.ResponseCiphertext, &row.Leaf.Response, &out.Response},
	}
	for _, p := range parts {
		if p.commit.InRequestEntry() {
			continue
		}
		ad := bodyAD(d.origin, row.Leaf.Index, row.Leaf.Entry.ExchangeID, p.name)
		plain, err := openBody(aead, p.sealed, ad)
		if err != nil {
			return nil, fmt.Errorf("auditlog: entry %d %s body: %w", row.Leaf.Index, p.name, err)
		}
		if int64(len(plain)) != p.commit.Size || (len(plain) > 0 && digest(plain) != p.commit.SHA256) {
			return nil, fmt.Errorf("auditlog: entry %d %s body does not match its committed hash", row.Leaf.Index, p.name)
		}
		*p.dst = plain
	}
	if row.Leaf.Request.InRequestEntry() {
		if err := d.openRecordedRequest(ctx, row, &out); err != nil {
			out.RequestUnavailable = err.Error()
		}
	}
	return &out, nil
}

// dataKey unwraps row's data key: under its key-encryption key, or with
// age for an entry written before key-encryption keys.
func (d *Decrypter) dataKey(ctx context.Context, row *Row) ([]byte, error) {
	if row.WrappedKey == nil {
		return nil, ErrShredded
	}
	index := row.Leaf.Index
	kekID, legacy, err := parseWrappedKey(row.WrappedKey)
	if err != nil {
		return nil, fmt.Errorf("%w (entry %d)", err, index)
	}
	if legacy {
		key, err := ageDecryptKey(row.WrappedKey, d.identities)
		if err != nil {
			return nil, fmt.Errorf("auditlog: entry %d: unwrap data key: %w", index, err)
		}
		return key, nil
	}
	k, err := d.kek(ctx, kekID)
	if err != nil {
		return nil, fmt.Errorf("%w (entry %d)", err, index)
	}
	// A replaced age file still opens, to a key that fails to authenticate
	// the data key. A version 4 leaf lets the error name the replacement.
	if row.Leaf.Version >= 4 && k.fileSHA256 != row.Leaf.KEKSHA256 {
		return nil, fmt.Errorf("auditlog: entry %d: key-encryption key %d was replaced: its age file differs from the one the entry commits to", index, kekID)
	}
	return unwrapDataKey(k.aead, d.origin, index, kekID, row.WrappedKey)
}

// kek returns the unwrapped key-encryption key id, from the cache or the
// database.
func (d *Decrypter) kek(ctx context.Context, id int64) (unwrappedKEK, error) {
	if k, ok := d.keks[id]; ok {
		return k, nil
	}
	var wrapped []byte
	err := d.r.db.QueryRowContext(ctx, sqlReadKEK, id).Scan(&wrapped)
	if errors.Is(err, sql.ErrNoRows) {
		return unwrappedKEK{}, fmt.Errorf("auditlog: key-encryption key %d is missing", id)
	}
	if err != nil {
		return unwrappedKEK{}, fmt.Errorf("auditlog: read key-encryption key %d: %w", id, err)
	}
	aead, err := unwrapKEK(wrapped, d.identities)
	if err != nil {
		return unwrappedKEK{}, err
	}
	if len(d.keks) >= maxCachedKEKs {
		clear(d.keks)
	}
	k := unwrappedKEK{aead: aead, fileSHA256: digest(wrapped)}
	d.keks[id] = k
	return k, nil
}

// sealPerWorker is the fewest entries worth another sealing goroutine.
const sealPerWorker = 16

// sealBatch builds the stored rows of batch, the first at index first,
// spreading encryption and hashing over the available processors.
func (l *Log) sealBatch(batch []*pending, first int64, now time.Time, k *kek) ([]*Row, error) {
	rows := make([]*Row, len(batch))
	errs := make([]error, len(batch))
	workers := min(runtime.GOMAXPROCS(0), (len(batch)+sealPerWorker-1)/sealPerWorker)
	sealEvery := func(start int) {
		for i := start; i < len(batch); i += workers {
			rows[i], errs[i] = l.seal(batch[i], first+int64(i), now, k)
		}
	}
	if workers <= 1 {
		workers = 1
		sealEvery(0)
		return rows, errs[0]
	}
	var wg sync.WaitGroup
	for start := range workers {
		wg.Go(func() { sealEvery(start) })
	}
	wg.Wait()
	return rows, errors.Join(errs...)
}

// seal builds the stored row of p at index: ciphertexts and the wrapped
// data key bound to the index, and the canonical encoding committing to
// them. It clears p's data key.
func (l *Log) seal(p *pending, index int64, now time.Time, k *kek) (*Row, error) {
	defer clear(p.secret[:dataKeySize])
	row := &Row{}
	leaf := &row.Leaf
	leaf.Version = l.opts.entryVersion
	leaf.Index = index
	leaf.Entry = p.entry
	leaf.Entry.RequestBody, leaf.Entry.ResponseBody = nil, nil
	leaf.Entry.RecordedAt = now
	// The query string of a FHIR search carries PHI, so only the path
	// stays in clear text and the query is sealed under the data key.
	path, query, _ := strings.Cut(p.entry.Target, "?")
	leaf.Entry.Target = path

	aead, err := newGCM(p.dataKey())
	if err != nil {
		return nil, err
	}
	origin, id := l.opts.Origin, p.entry.ExchangeID
	if p.entry.RequestSeq > 0 && len(p.entry.RequestBody) > 0 {
		// The request entry holds the ciphertext; this leaf commits to the
		// plaintext only.
		leaf.Request = Body{Size: int64(len(p.entry.RequestBody)), SHA256: p.reqSum}
		leaf.RequestEntry = p.entry.RequestSeq - 1
	} else {
		row.RequestCiphertext = sealBody(aead, p.nonce(0), p.entry.RequestBody, bodyAD(origin, index, id, "request"))
		leaf.Request = commitBody(p.entry.RequestBody, p.reqSum, row.RequestCiphertext)
	}
	row.ResponseCiphertext = sealBody(aead, p.nonce(1), p.entry.ResponseBody, bodyAD(origin, index, id, "response"))
	leaf.Response = commitBody(p.entry.ResponseBody, p.respSum, row.ResponseCiphertext)
	if query != "" {
		leaf.QueryCiphertext = aead.Seal(slices.Clone(p.nonce(3)), p.nonce(3), []byte(query), bodyAD(origin, index, id, "query"))
	}
	row.WrappedKey = k.wrapDataKey(origin, index, p.dataKey(), p.nonce(2))
	leaf.WrappedKeySHA256 = digest(row.WrappedKey)
	if leaf.Version == 0 {
		leaf.KEKSHA256 = k.fileSHA256
	}
	if row.Encoded, err = EncodeEntry(leaf); err != nil {
		return nil, err
	}
	return row, nil
}

func commitBody(plain []byte, sum [32]byte, sealed []byte) Body {
	if len(plain) == 0 {
		return Body{}
	}
	return Body{Size: int64(len(plain)), SHA256: sum, CiphertextSHA256: digest(sealed)}
}
