package auditlog

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"time"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/gatehouse-health/gatehouse/internal/storage"
)

// verifyChunk is the number of entries read per query.
const verifyChunk = 2000

// maxVerifyReaders caps the connections that read entries in parallel.
const maxVerifyReaders = 4

// chunk is the work on entries [from, to): a reader fills checks and
// stored, then closes done.
type chunk struct {
	from, to int64
	checks   []rowCheck // one per stored row, in index order
	stored   storedHashes
	err      error // set when reading failed
	done     chan struct{}
}

// rowCheck is the result of inspecting one stored row on its own.
type rowCheck struct {
	index      int64     // the row's idx column
	leafHash   tlog.Hash // computed from the stored encoding, whatever is wrong elsewhere
	problems   []string  // in the order they are reported
	shredded   bool      // the wrapped data key is NULL
	shreddedAt time.Time // the shredded_ns column, zero when NULL
	recordedAt time.Time // the signed recording time
	parsed     bool      // the encoding parsed, as the entry at its index
	// replacedKEK is the id of the entry's key-encryption key when its
	// stored age file differs from the one the entry commits to, else 0.
	replacedKEK int64
}

// scanEntries recomputes the tree from the entries. Several readers, each
// on a connection of its own, read and inspect chunks in parallel, and
// this goroutine adds the results to the tree in index order. The first
// problem reported is therefore the same however the reads interleave.
//
// The readers read the state of v.tx: on PostgreSQL they import its
// snapshot. On SQLite each reads the state committed when it starts, at or
// after that of v.tx. That state has the same rows below v.rep.Size and the
// same stored hashes for them, because appends only add rows above. The one
// change a later commit can make to them is shredding, which sets
// wrapped_key NULL and shredded_ns. A shredded row is valid in either
// state, and its KEK is not needed, so the problems found are those of one
// state.
// NOTE: on SQLite, Report.Shredded may count entries shredded after v.tx
// began.
func (v *verifier) scanEntries() error {
	if v.tree.size >= v.rep.Size {
		return nil
	}
	snapshot, err := v.db.ExportSnapshot(v.ctx, v.tx)
	if err != nil {
		return fmt.Errorf("auditlog: verify: %w", err)
	}
	ctx, cancel := context.WithCancel(v.ctx)
	defer cancel()
	readers, err := v.beginReaders(ctx, snapshot)
	if err != nil {
		return err
	}

	jobs := make(chan *chunk)
	ordered := make(chan *chunk, 2*len(readers))
	var wg sync.WaitGroup
	wg.Go(func() { v.dispatch(ctx, jobs, ordered) })
	for _, r := range readers {
		wg.Go(func() {
			defer r.scan.End()
			r.run(ctx, jobs)
		})
	}
	// Deferred calls run last first, so cancel stops dispatch and the
	// readers before wg.Wait waits for them when foldChunks returns early.
	defer wg.Wait()
	defer cancel()
	return v.foldChunks(ctx, ordered)
}

// foldChunks adds the chunks to the tree in the order dispatch sent them.
func (v *verifier) foldChunks(ctx context.Context, ordered <-chan *chunk) error {
	for c := range ordered {
		select {
		case <-c.done:
		case <-ctx.Done():
			return ctx.Err()
		}
		var format *rowFormatError
		if errors.As(c.err, &format) {
			v.problem(format.after+1, 0, "a column holds a value of a type the gateway never writes (%v): the row was changed outside the gateway, and verification stops here", format.err)
			return errTooManyProblems
		}
		if c.err != nil {
			return c.err
		}
		if err := v.checkChunk(c); err != nil {
			return err
		}
		if v.opts.Progress != nil {
			v.opts.Progress(v.tree.size, v.rep.Size)
		}
	}
	return ctx.Err()
}

// dispatch cuts the entries from the tree's size on into chunks and sends
// each to ordered, then to a reader through jobs. The buffer of ordered
// bounds how far readers get ahead of the tree.
func (v *verifier) dispatch(ctx context.Context, jobs, ordered chan<- *chunk) {
	defer close(ordered)
	defer close(jobs)
	for from := v.tree.size; from < v.rep.Size; from += v.opts.chunkSize {
		c := &chunk{from: from, to: min(from+v.opts.chunkSize, v.rep.Size), done: make(chan struct{})}
		select {
		case ordered <- c:
		case <-ctx.Done():
			return
		}
		select {
		case jobs <- c:
		case <-ctx.Done():
			return
		}
	}
}

// chunkReader reads chunks through one scan transaction.
type chunkReader struct {
	v    *verifier
	scan *storage.Scan
	row  scannedRow // reused for every row read
	// targets caches the request entries read for references from other
	// chunks, so that many references to one entry cost one read.
	targets map[int64]requestTarget

	// On SQLite, the packed value last read and its reader.
	packed sql.RawBytes
	unpack storage.PackedRow
}

// columnReader reads the columns of a row in order, converting them as
// database/sql's Scan does: storage.PackedRow on SQLite and
// storage.BinaryRow on PostgreSQL.
type columnReader interface {
	Int64() int64
	NullInt64() (int64, bool)
	String() string
	Bytes() []byte
	End() error
}

// beginReaders begins one scan transaction per reader. The number of
// readers follows GOMAXPROCS, with at least two so that one reader's wait
// for the database overlaps another's hashing.
func (v *verifier) beginReaders(ctx context.Context, snapshot storage.Snapshot) ([]*chunkReader, error) {
	n := min(max(2, runtime.GOMAXPROCS(0)), maxVerifyReaders)
	readers := make([]*chunkReader, 0, n)
	for range n {
		scan, err := v.db.BeginScanAt(ctx, snapshot)
		if err != nil {
			for _, r := range readers {
				r.scan.End()
			}
			return nil, fmt.Errorf("auditlog: verify: %w", err)
		}
		readers = append(readers, &chunkReader{v: v, scan: scan})
	}
	return readers, nil
}

// run reads the chunks it receives until jobs closes. After a failure it
// marks every later chunk it receives with the same error.
func (r *chunkReader) run(ctx context.Context, jobs <-chan *chunk) {
	var failed error
	for c := range jobs {
		if failed == nil {
			failed = r.v.runCatchingFaults(func() error { return r.read(ctx, c) })
		}
		c.err = failed
		close(c.done)
	}
}

// scannedRow is one stored row as verification reads it, with the
// ciphertexts replaced by their SHA-256 digests.
type scannedRow struct {
	columns        rowColumns
	encoded        []byte
	requestDigest  [32]byte
	responseDigest [32]byte
	wrappedKey     []byte      // nil once shredded
	shredded       time.Time   // zero unless shredded
	fields         entryFields // encoded, parsed by inspect
}

// read reads and inspects the rows of c, checks their references to
// request entries, and reads its stored hashes. The column values alias
// the driver's buffers until the next row, and each row is inspected
// before moving on, so nothing is copied or kept but the result and what
// the references need.
func (r *chunkReader) read(ctx context.Context, c *chunk) error {
	c.checks = make([]rowCheck, 0, c.to-c.from)
	refs := requestRefs{targets: map[int64]*Leaf{}}
	err := r.readRange(ctx, c.from, c.to, func(check rowCheck) {
		refs.note(&r.row.fields, check, len(c.checks))
		c.checks = append(c.checks, check)
	})
	if storage.IsRowFormat(err) {
		after := c.from - 1
		if n := len(c.checks); n > 0 {
			after = c.checks[n-1].index
		}
		return &rowFormatError{after: after, err: err}
	}
	if err != nil {
		return fmt.Errorf("auditlog: read entries: %w", err)
	}
	if err := r.checkRefs(ctx, &refs, c.checks); err != nil {
		return fmt.Errorf("auditlog: read request entries: %w", err)
	}
	c.stored, err = r.readStoredHashes(ctx, c.from, c.to)
	return err
}

// rowFormatError is a row of audit_entries, after the entry with index
// after, that holds a value of a type the gateway never writes. The scan
// cannot go on past it, and verify reports it as a problem.
type rowFormatError struct {
	after int64
	err   error
}

func (e *rowFormatError) Error() string {
	return fmt.Sprintf("auditlog: read the entry after %d: %v", e.after, e.err)
}

// readRange reads and inspects the rows [from, to) and calls fn with the
// check of each, while r.row still holds the row.
func (r *chunkReader) readRange(ctx context.Context, from, to int64, fn func(rowCheck)) error {
	inspectRow := func(cols columnReader) error {
		if err := r.scanRow(cols); err != nil {
			return err
		}
		check := r.v.inspect(&r.row)
		check.index = r.row.columns.index
		check.shredded = r.row.wrappedKey == nil
		check.shreddedAt = r.row.shredded
		fn(check)
		return nil
	}
	if r.v.db.Dialect == storage.SQLite {
		return r.queryPacked(ctx, sqlVerifyEntryRangeSQLite, from, to,
			func(row *storage.PackedRow) error { return inspectRow(row) })
	}
	return r.scan.QueryBinary(ctx, sqlVerifyEntryRangePostgres, []any{from, to},
		func(row *storage.BinaryRow) error { return inspectRow(row) })
}

// queryPacked runs query, whose rows are one packed value each (NULL for
// none), and calls fn with each value's reader.
func (r *chunkReader) queryPacked(ctx context.Context, query string, from, to int64, fn func(*storage.PackedRow) error) error {
	rows, err := r.scan.Tx.QueryContext(ctx, query, from, to)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		if err := rows.Scan(&r.packed); err != nil {
			return err
		}
		r.unpack.Reset(r.packed)
		if err := fn(&r.unpack); err != nil {
			return err
		}
	}
	return rows.Err()
}

// scanRow sets r.row from the columns of verifyColumnsSQL. On SQLite the
// ciphertexts' digests come in their place (sqlVerifyEntryRangeSQLite).
func (r *chunkReader) scanRow(cols columnReader) error {
	row, col := &r.row, &r.row.columns
	col.index, col.exchangeID, col.partner, col.phase, col.decision = cols.Int64(), cols.String(), cols.String(), cols.String(), cols.String()
	col.status, col.recordedNS = int(cols.Int64()), cols.Int64()
	row.encoded = cols.Bytes()
	request, response := cols.Bytes(), cols.Bytes()
	row.wrappedKey = cols.Bytes()
	shreddedNS, shredded := cols.NullInt64()
	if err := cols.End(); err != nil {
		return err
	}

	if r.v.db.Dialect == storage.SQLite {
		if len(request) != sha256.Size || len(response) != sha256.Size {
			return fmt.Errorf("%s returned request and response digests of %d and %d bytes, want %d each", storage.SQLitePackRowSHA256, len(request), len(response), sha256.Size)
		}
		row.requestDigest, row.responseDigest = [32]byte(request), [32]byte(response)
	} else {
		row.requestDigest, row.responseDigest = digest(request), digest(response)
	}
	row.shredded = time.Time{}
	if shredded {
		row.shredded = time.Unix(0, shreddedNS)
	}
	return nil
}

// storedHashes are the stored hashes with ids [lo, lo+len(hashes)).
type storedHashes struct {
	lo     int64
	hashes []tlog.Hash
	found  []bool
}

func (s *storedHashes) get(id int64) (tlog.Hash, bool) {
	i := id - s.lo
	if i < 0 || i >= int64(len(s.hashes)) || !s.found[i] {
		return tlog.Hash{}, false
	}
	return s.hashes[i], true
}

// readStoredHashes reads the stored hashes written with entries [from, to).
// A hash of the wrong length reads as zero, which the caller reports as a
// mismatch.
func (r *chunkReader) readStoredHashes(ctx context.Context, from, to int64) (storedHashes, error) {
	lo, hi := tlog.StoredHashIndex(0, from), tlog.StoredHashCount(to)
	s := storedHashes{lo: lo, hashes: make([]tlog.Hash, hi-lo), found: make([]bool, hi-lo)}
	var err error
	if r.v.db.Dialect == storage.SQLite {
		err = r.readPackedHashes(ctx, &s, hi)
	} else {
		err = r.readHashRows(ctx, &s, hi)
	}
	if err != nil {
		return s, fmt.Errorf("auditlog: read stored hashes: %w", err)
	}
	return s, nil
}

// readHashRows reads the stored hashes [s.lo, hi) into s one row at a
// time.
func (r *chunkReader) readHashRows(ctx context.Context, s *storedHashes, hi int64) error {
	return r.scan.QueryBinary(ctx, sqlHashRange, []any{s.lo, hi}, func(row *storage.BinaryRow) error {
		id, hash := row.Int64(), row.Bytes()
		if err := row.End(); err != nil {
			return err
		}
		s.set(id, hash)
		return nil
	})
}

// readPackedHashes reads the stored hashes [s.lo, hi) into s as one
// packed value (sqlPackedHashRangeSQLite).
func (r *chunkReader) readPackedHashes(ctx context.Context, s *storedHashes, hi int64) error {
	return r.queryPacked(ctx, sqlPackedHashRangeSQLite, s.lo, hi, func(p *storage.PackedRow) error {
		for p.More() {
			id, hash := p.Int64(), p.Bytes()
			if p.Err() == nil {
				s.set(id, hash)
			}
		}
		return p.End()
	})
}

// set records the stored hash id as read, ignoring ids outside s.
func (s *storedHashes) set(id int64, b []byte) {
	i := id - s.lo
	if i < 0 || i >= int64(len(s.hashes)) {
		return
	}
	if len(b) == tlog.HashSize {
		s.hashes[i] = tlog.Hash(b)
	}
	s.found[i] = true
}

// inspect checks one row against its own encoding: the index, the query
// columns, the ciphertext and wrapped key hashes, and the key-encryption
// key. It reads only v.keks, so rows may be inspected concurrently.
func (v *verifier) inspect(r *scannedRow) rowCheck {
	c := rowCheck{leafHash: tlog.RecordHash(r.encoded)}
	f := &r.fields
	if err := parseEntry(r.encoded, f); err != nil {
		c.problems = append(c.problems, fmt.Sprintf("the stored encoding does not parse: %v", err))
		return c
	}
	if f.index != r.columns.index {
		c.problems = append(c.problems, fmt.Sprintf("its signed encoding is entry %d: entries were reordered or copied", f.index))
		return c
	}
	c.parsed = true
	if column := columnMismatch(&r.columns, f); column != "" {
		c.problems = append(c.problems, "column "+column+" differs from the signed entry")
	}
	if problem := blobMismatch(r, f); problem != "" {
		c.problems = append(c.problems, problem)
	} else if problem := v.kekMissing(r.wrappedKey); problem != "" {
		c.problems = append(c.problems, problem)
	} else if problem := v.implausibleShredding(r, f); problem != "" {
		c.problems = append(c.problems, problem)
	} else {
		c.replacedKEK = v.kekReplaced(r.wrappedKey, f)
	}
	c.recordedAt = time.Unix(0, f.recordedNS)
	return c
}

// MinRetention is the shortest retention period: retention never shreds
// an entry younger than that.
const MinRetention = 24 * time.Hour

// MaxClockSkew is how far a shredding time may lie after the verifier's
// clock: the gateway that shredded the entry may run on another machine.
const MaxClockSkew = time.Hour

// isShredded reports whether retention shredded the row: its wrapped data
// key is gone and the time of that is recorded.
func (r *scannedRow) isShredded() bool {
	return r.wrappedKey == nil && !r.shredded.IsZero()
}

// implausibleShredding returns the problem with a shredded entry's
// shredding time, or "". The time is not signed, so anyone who can write
// the database can mark an entry shredded and delete its body. Retention
// never shreds an entry younger than its period (VerifyOptions.Retention,
// at least MinRetention), so a mark sooner than that after the signed
// recording time is tampering, and so is a mark in the future, which would
// pass that test. Report.NewestShredded lets an auditor who did not give
// the period compare the marks with it.
func (v *verifier) implausibleShredding(r *scannedRow, f *entryFields) string {
	if !r.isShredded() {
		return ""
	}
	recorded := time.Unix(0, f.recordedNS)
	switch {
	case r.shredded.Before(recorded.Add(v.opts.Retention)):
		return fmt.Sprintf("shredded at %s, less than %s after it was recorded at %s, which retention never does",
			r.shredded.UTC().Format(time.RFC3339), v.opts.Retention, recorded.UTC().Format(time.RFC3339))
	case r.shredded.After(v.now.Add(MaxClockSkew)):
		return fmt.Sprintf("shredded at %s, which is after this verification began (%s)",
			r.shredded.UTC().Format(time.RFC3339), v.now.UTC().Format(time.RFC3339))
	}
	return ""
}

// kekMissing returns the problem with an unshredded entry's key-encryption
// key (malformed or not stored), or "". Retention deletes a KEK only after every entry under it is
// shredded, so a missing one means bodies were made unreadable outside
// retention.
func (v *verifier) kekMissing(wrappedKey []byte) string {
	if wrappedKey == nil {
		return ""
	}
	id, legacy, err := parseWrappedKey(wrappedKey)
	switch {
	case err != nil:
		return "the wrapped data key is malformed"
	case legacy:
		return ""
	}
	if _, ok := v.keks[id]; !ok {
		return fmt.Sprintf("key-encryption key %d of the wrapped data key is missing: the bodies cannot be decrypted", id)
	}
	return ""
}

// kekReplaced returns the id of an unshredded version 4 entry's
// key-encryption key when the SHA-256 of its stored age file differs from
// the one the entry commits to, or 0. Call it only after kekMissing found
// nothing. Entries of older versions commit to no KEK, so a replaced age
// file under them goes unnoticed.
func (v *verifier) kekReplaced(wrappedKey []byte, f *entryFields) int64 {
	if wrappedKey == nil || f.version < 4 {
		return 0
	}
	id, legacy, err := parseWrappedKey(wrappedKey)
	if err != nil || legacy || v.keks[id] == f.kekSHA256 {
		return 0
	}
	return id
}

// columnMismatch names the first query column that differs from the
// field of the encoding it copies, or returns "".
func columnMismatch(c *rowColumns, f *entryFields) string {
	switch {
	case c.exchangeID != string(f.strs[fieldExchangeID]):
		return "exchange_id"
	case c.partner != string(f.strs[fieldPartner]):
		return "partner"
	case c.phase != string(f.strs[fieldPhase]):
		return "phase"
	case c.decision != string(f.strs[fieldDecision]):
		return "decision"
	case int64(c.status) != int64(f.status):
		return "status"
	case c.recordedNS != f.recordedNS:
		return "recorded_ns"
	}
	return ""
}

// blobMismatch compares the ciphertexts and the wrapped key with the hashes
// the entry commits to, and returns the first problem or "". A missing
// wrapped key is shredding, not tampering, when shredded_ns is set, and so
// are missing ciphertexts of a shredded entry: retention deletes them too.
func blobMismatch(r *scannedRow, f *entryFields) string {
	shredded := r.isShredded()
	if bad := ciphertextMismatch("request", r.requestDigest, &f.request, shredded); bad != "" {
		return bad
	}
	if bad := ciphertextMismatch("response", r.responseDigest, &f.response, shredded); bad != "" {
		return bad
	}
	switch {
	case r.wrappedKey == nil && r.shredded.IsZero():
		return "the wrapped data key was deleted without a shredding time"
	case r.wrappedKey != nil && digest(r.wrappedKey) != f.wrappedKeySHA256:
		return "the wrapped data key does not match its committed hash"
	}
	return ""
}

// noBytesDigest is the SHA-256 of no bytes, the digest of an empty or NULL
// ciphertext.
var noBytesDigest = digest(nil)

// ciphertextMismatch compares the digest of a stored ciphertext with the
// body's commitment, and returns the problem or "". An empty body has no
// ciphertext, nor has a request body kept in the exchange's request entry,
// and a ciphertext is empty exactly when its digest is that of no bytes.
// A shredded entry may have kept its ciphertext (retention before it
// deleted them) or not.
func ciphertextMismatch(part string, ctDigest [32]byte, b *Body, shredded bool) string {
	if b.Size == 0 || b.InRequestEntry() {
		if ctDigest != noBytesDigest {
			return part + " ciphertext present for an empty body or one kept in the request entry"
		}
		return ""
	}
	if shredded && ctDigest == noBytesDigest {
		return ""
	}
	if ctDigest != b.CiphertextSHA256 {
		return part + " ciphertext does not match its committed hash"
	}
	return ""
}
