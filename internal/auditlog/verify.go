package auditlog

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"runtime/debug"
	"sort"
	"time"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/gatehouse-health/gatehouse/internal/storage"
)

// VerifyOptions configures Verify.
type VerifyOptions struct {
	// LogKey verifies checkpoint signatures. It is required. Take it from a
	// source the database's administrators cannot change.
	LogKey note.Verifier
	// RetiredKeys, if set, are the verifier keys of the signing keys the
	// log used before LogKey, oldest first. Each checkpoint must then be
	// signed by the key in force at its place in the log: a key until the
	// handover checkpoint that it and its successor both signed, the
	// successor after it. A checkpoint signed by another key, or a key of
	// the history that never took over, is a problem.
	RetiredKeys []note.Verifier
	// Trusted, if set, is a signed checkpoint from an earlier verification
	// or from a witness. The log must extend it, and only entries from its
	// size on are recomputed (incremental verification).
	Trusted []byte
	// Anchor, if set, is a signed checkpoint the log must extend, such as
	// the gateway's audit.checkpoint_file. Unlike Trusted, it does not
	// change where recomputation starts. Both may be set: the log must
	// then extend each of them.
	Anchor []byte
	// Progress, if set, is called after each chunk of entries.
	Progress func(done, total int64)
	// MaxProblems stops verification after that many problems. Default 20.
	MaxProblems int
	// Witnesses are cosignature verifier keys (see NewCosignatureVerifier).
	// Report.Witnessed counts the checkpoints each cosigned, and a
	// cosignature line of one of them that does not verify is a problem.
	Witnesses []note.Verifier
	// Retention is the deployment's audit.retention. An entry shredded
	// sooner than that after its recording time is reported. Zero checks
	// only against MinRetention, the shortest period retention accepts.
	Retention time.Duration
	// Now returns the current time, time.Now when nil. A shredding time
	// more than MaxClockSkew after it is reported.
	Now func() time.Time

	// chunkSize is the number of entries read per query, verifyChunk when
	// 0. Tests make it small so that a small log spans many chunks.
	chunkSize int64
}

// Problem is one finding of Verify. Index is the first entry concerned,
// or -1 when the problem is not tied to an entry.
type Problem struct {
	Index int64
	End   int64 // when > Index+1, the entries concerned are [Index, End)
	What  string
}

func (p Problem) String() string {
	switch {
	case p.Index < 0:
		return p.What
	case p.End > p.Index+1:
		return fmt.Sprintf("entries %d to %d: %s", p.Index, p.End-1, p.What)
	}
	return fmt.Sprintf("entry %d: %s", p.Index, p.What)
}

// Report is the result of Verify.
type Report struct {
	Origin       string
	Size         int64 // entries in the log
	From         int64 // first entry recomputed (the trusted size, or 0)
	Checkpoints  int   // checkpoints whose signature and root were checked
	Latest       *SignedCheckpoint
	Uncovered    int64 // entries after the latest valid checkpoint
	Shredded     int64 // entries whose data key retention destroyed
	LastShredded time.Time
	// NewestShredded is the signed recording time of the newest shredded
	// entry. Unlike LastShredded, which is not signed, it shows whether
	// entries younger than the retention period lost their bodies.
	NewestShredded time.Time
	Problems       []Problem // in the order found; empty when intact
	// Handovers are the handover checkpoints from one key of the history
	// to the next, in signing order (VerifyOptions.RetiredKeys).
	Handovers []Handover
	// Witnessed has one item per VerifyOptions.Witnesses, in that order.
	Witnessed []Witnessed
}

// Witnessed is the coverage of the log by one witness's cosignatures.
type Witnessed struct {
	Name        string // the witness key's name
	Checkpoints int    // checkpoints with a valid cosignature by the witness
	Size        int64  // size of the largest of them, 0 when none
}

// Intact reports whether verification found nothing wrong.
func (r *Report) Intact() bool { return len(r.Problems) == 0 }

// errTooManyProblems ends the scan once MaxProblems is reached.
var errTooManyProblems = errors.New("auditlog: too many problems")

// Verify recomputes the Merkle tree of the log in db from its entries. It
// checks every stored hash, every checkpoint signature and root, and the
// consistency of consecutive checkpoints. For each entry it also checks the
// query columns, the hashes of the ciphertexts and the wrapped key, and
// that the key-encryption key it names exists unless the entry is
// shredded. Tampering is reported in Report.Problems, and the error is for
// failures to read the log. It reads one database snapshot and takes no
// write lock.
func Verify(ctx context.Context, db *storage.DB, opts VerifyOptions) (*Report, error) {
	if opts.LogKey == nil {
		return nil, errors.New("auditlog: VerifyOptions.LogKey is required")
	}
	if len(opts.RetiredKeys) > 0 {
		if err := checkKeyHistory(append(append([]note.Verifier(nil), opts.RetiredKeys...), opts.LogKey)); err != nil {
			return nil, err
		}
	}
	if opts.MaxProblems <= 0 {
		opts.MaxProblems = 20
	}
	if opts.Retention != 0 && opts.Retention < MinRetention {
		return nil, fmt.Errorf("auditlog: retention %s is shorter than the %s minimum", opts.Retention, MinRetention)
	}
	opts.Retention = max(opts.Retention, MinRetention)
	if opts.chunkSize <= 0 {
		opts.chunkSize = verifyChunk
	}
	if _, err := NewReader(ctx, db); err != nil {
		return nil, err
	}
	tx, end, err := db.BeginScan(ctx)
	if err != nil {
		return nil, fmt.Errorf("auditlog: verify: %w", err)
	}
	defer end()

	if opts.Now == nil {
		opts.Now = time.Now
	}
	v := &verifier{ctx: ctx, db: db, tx: tx, opts: opts, rep: new(Report), now: opts.Now()}
	for _, w := range opts.Witnesses {
		v.rep.Witnessed = append(v.rep.Witnessed, Witnessed{Name: w.Name()})
	}
	err = v.runCatchingFaults(v.run)
	if errors.Is(err, errTooManyProblems) {
		err = nil
	}
	if err != nil {
		return nil, err
	}
	return v.rep, nil
}

type verifier struct {
	ctx  context.Context
	db   *storage.DB
	tx   *sql.Tx // the snapshot that every read uses
	opts VerifyOptions
	rep  *Report

	checkpoints []*SignedCheckpoint // valid ones, sorted by size
	nextCP      int                 // first checkpoint not yet compared
	keks        map[int64][32]byte  // SHA-256 of each stored key-encryption key's age file, by id
	replaced    map[int64]int       // position in Report.Problems of each replaced KEK's problem
	tree        frontier            // the tree recomputed so far
	lastGood    int64               // size of the last checkpoint whose root matched
	trusted     Checkpoint          // the trusted checkpoint of an incremental run
	anchor      Checkpoint          // the checkpoint of VerifyOptions.Anchor
	keys        []note.Verifier     // RetiredKeys, then LogKey
	epoch       int                 // position in keys of the key in force
	now         time.Time           // when the run began, by VerifyOptions.Now
}

func (v *verifier) problem(index, end int64, format string, args ...any) error {
	v.rep.Problems = append(v.rep.Problems, Problem{Index: index, End: end, What: fmt.Sprintf(format, args...)})
	if len(v.rep.Problems) >= v.opts.MaxProblems {
		return errTooManyProblems
	}
	return nil
}

// runCatchingFaults runs fn with faults on memory-mapped database pages
// turned into an error (see storage.DB.BeginScan).
func (v *verifier) runCatchingFaults(fn func() error) (err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		r := recover()
		if r == nil {
			return
		}
		if fault, ok := r.(interface{ Addr() uintptr }); ok {
			err = fmt.Errorf("auditlog: verify: memory fault reading the database file at %#x (an I/O error?)", fault.Addr())
			return
		}
		panic(r)
	}()
	return fn()
}

func (v *verifier) run() error {
	if err := v.readHeader(); err != nil {
		return err
	}
	if err := v.loadCheckpoints(); err != nil {
		return err
	}
	if err := v.loadKEKs(); err != nil {
		return err
	}
	if err := v.start(); err != nil {
		return err
	}
	if err := v.scanEntries(); err != nil {
		return err
	}
	if err := v.checkConsistency(); err != nil {
		return err
	}
	if err := v.finish(); err != nil {
		return err
	}
	return v.checkHashCount()
}

// readHeader reads the origin and size and checks the key belongs to the log.
func (v *verifier) readHeader() error {
	err := v.tx.QueryRowContext(v.ctx, sqlReadOrigin).Scan(&v.rep.Origin)
	if errors.Is(err, sql.ErrNoRows) {
		// Open stores the origin before the first entry, so its absence
		// is a change to the database, not a state the log passes through.
		return errors.New("auditlog: the database names no log origin (the audit_meta row is missing), so it was changed outside the gateway or is no complete audit log")
	}
	if err != nil {
		return fmt.Errorf("auditlog: read origin: %w", err)
	}
	if v.rep.Origin != v.opts.LogKey.Name() {
		return fmt.Errorf("auditlog: the key is for log %q but the database contains log %q", v.opts.LogKey.Name(), v.rep.Origin)
	}
	var lowest, highest sql.NullInt64
	if err := v.tx.QueryRowContext(v.ctx, sqlIndexRange).Scan(&lowest, &highest); err != nil {
		return fmt.Errorf("auditlog: read size: %w", err)
	}
	return v.checkIDRange(lowest, highest, "entry index", &v.rep.Size)
}

// checkIDRange sets *count from the highest id of a table whose rows are
// numbered from 0. It reports rows below 0, which no reader lists and
// nothing else would report, and stops at an id too large for any log.
func (v *verifier) checkIDRange(lowest, highest sql.NullInt64, what string, count *int64) error {
	if lowest.Valid && lowest.Int64 < 0 {
		if err := v.problem(-1, 0, "a row has the negative %s %d, which no log has: rows were inserted outside the gateway", what, lowest.Int64); err != nil {
			return err
		}
	}
	n, err := countFromMaxID(highest, what)
	if errors.Is(err, errIndexOutOfRange) {
		v.problem(-1, 0, "a row has the %s %d, beyond any log: rows were inserted outside the gateway", what, highest.Int64)
		return errTooManyProblems
	}
	*count = n
	return err
}

// loadCheckpoints checks every stored checkpoint's signature and that no
// two disagree about one size, or go back in size.
func (v *verifier) loadCheckpoints() error {
	rows, err := v.tx.QueryContext(v.ctx, sqlCheckpointsInOrder)
	if err != nil {
		return fmt.Errorf("auditlog: read checkpoints: %w", err)
	}
	var all []*SignedCheckpoint
	for rows.Next() {
		c := new(SignedCheckpoint)
		var created int64
		if err := rows.Scan(&c.ID, &c.Size, &c.Note, &created); err != nil {
			rows.Close()
			return fmt.Errorf("auditlog: read checkpoints: %w", err)
		}
		c.Created = time.Unix(0, created)
		all = append(all, c)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("auditlog: read checkpoints: %w", err)
	}

	bySize := make(map[int64]*SignedCheckpoint)
	var maxSize int64
	for _, c := range all {
		if err := v.checkCheckpoint(c, bySize, &maxSize); err != nil {
			return err
		}
	}
	for _, c := range bySize {
		v.checkpoints = append(v.checkpoints, c)
	}
	sort.Slice(v.checkpoints, func(i, j int) bool { return v.checkpoints[i].Size < v.checkpoints[j].Size })
	return nil
}

// loadKEKs reads the ids of the stored key-encryption keys and the
// SHA-256 of their age files, which version 4 entries commit to.
func (v *verifier) loadKEKs() error {
	rows, err := v.tx.QueryContext(v.ctx, sqlKEKFiles)
	if err != nil {
		return fmt.Errorf("auditlog: read key-encryption keys: %w", err)
	}
	defer rows.Close()
	v.keks = map[int64][32]byte{}
	var file []byte
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id, &file); err != nil {
			return fmt.Errorf("auditlog: read key-encryption keys: %w", err)
		}
		v.keks[id] = digest(file)
	}
	return rows.Err()
}

func (v *verifier) checkCheckpoint(c *SignedCheckpoint, bySize map[int64]*SignedCheckpoint, maxSize *int64) error {
	parsed, signers, err := OpenCheckpointByKeys(c.Note, v.keyHistory())
	if err != nil {
		return v.problem(-1, 0, "checkpoint #%d: %v", c.ID, err)
	}
	if parsed.Size != c.Size {
		return v.problem(-1, 0, "checkpoint #%d: size column %d differs from the signed size %d", c.ID, c.Size, parsed.Size)
	}
	if err := v.checkSigners(c, signers); err != nil {
		return err
	}
	if err := v.checkCosignatures(c, parsed.Size); err != nil {
		return err
	}
	c.Checkpoint = parsed
	if prev, ok := bySize[c.Size]; ok && prev.Hash != c.Hash {
		return v.problem(-1, 0, "checkpoints #%d and #%d: two signed roots for size %d: the log forked", prev.ID, c.ID, c.Size)
	}
	if c.Size < *maxSize {
		if err := v.problem(-1, 0, "checkpoint #%d: size %d is below the earlier checkpoint size %d", c.ID, c.Size, *maxSize); err != nil {
			return err
		}
	}
	*maxSize = max(*maxSize, c.Size)
	if _, ok := bySize[c.Size]; !ok {
		bySize[c.Size] = c
	}
	v.rep.Checkpoints++
	return nil
}

// start sets up the tree: empty, or at the trusted checkpoint's size after
// checking that the stored hashes there produce its root. An anchor gets
// the same check but leaves the tree as it is, so that the entries below
// it are still recomputed and compared with the stored hashes that
// produced the anchor's root.
func (v *verifier) start() error {
	if v.opts.Anchor != nil {
		anchor, _, err := v.checkExtends(v.opts.Anchor, anchorName)
		if err != nil {
			return err
		}
		v.anchor = anchor
	}
	if v.opts.Trusted != nil {
		trusted, tree, err := v.checkExtends(v.opts.Trusted, trustedName)
		if err != nil {
			return err
		}
		v.tree, v.lastGood, v.trusted = tree, trusted.Size, trusted
		v.rep.From = trusted.Size
		for v.nextCP < len(v.checkpoints) && v.checkpoints[v.nextCP].Size <= trusted.Size {
			v.nextCP++
		}
	}
	return nil
}

// Names of the checkpoints the log must extend, in messages.
const (
	trustedName = "trusted checkpoint"
	anchorName  = "checkpoint file"
)

// checkExtends opens the signed checkpoint data and checks that the
// stored tree reproduces it. It returns the checkpoint and the stored tree
// at its size. name is the checkpoint's name in problems.
func (v *verifier) checkExtends(data []byte, name string) (Checkpoint, frontier, error) {
	c, _, err := OpenCheckpointByKeys(data, v.keyHistory())
	if err != nil {
		return Checkpoint{}, frontier{}, fmt.Errorf("auditlog: %s: %w", name, err)
	}
	if c.Size > v.rep.Size {
		v.problem(v.rep.Size, c.Size, "the log has %d entries but the %s covers %d: entries were truncated", v.rep.Size, name, c.Size)
		return Checkpoint{}, frontier{}, errTooManyProblems
	}
	tree, err := loadFrontier(dbHashReader{ctx: v.ctx, q: v.tx}, c.Size)
	if err != nil || tree.root() != c.Hash {
		v.problem(0, c.Size, "the stored tree does not reproduce the %s of size %d: history was rewritten or forked", name, c.Size)
		return Checkpoint{}, frontier{}, errTooManyProblems
	}
	return c, tree, nil
}

// checkHashCount reports stored hashes that no entry accounts for, or
// too few. Entries and their hashes are inserted in one transaction, so a
// count off tlog.StoredHashCount(size) means rows were deleted outside the
// gateway: a tail of entries deleted with its checkpoints leaves its
// hashes, which verify nothing but make the gateway refuse to append.
func (v *verifier) checkHashCount() error {
	var lowest, highest sql.NullInt64
	if err := v.tx.QueryRowContext(v.ctx, sqlHashIDRange).Scan(&lowest, &highest); err != nil {
		return fmt.Errorf("auditlog: count stored hashes: %w", err)
	}
	var hashes int64
	if err := v.checkIDRange(lowest, highest, "stored hash id", &hashes); err != nil {
		return err
	}
	if want := tlog.StoredHashCount(v.rep.Size); hashes != want {
		return v.problem(-1, 0, "the database stores %d tree hashes where its %d entries need %d: rows were deleted outside the gateway, which refuses to append until the database is restored",
			hashes, v.rep.Size, want)
	}
	return nil
}

// finish reports checkpoints beyond the log and entries not yet covered.
func (v *verifier) finish() error {
	var latest *SignedCheckpoint
	if n := len(v.checkpoints); n > 0 {
		latest = v.checkpoints[n-1]
	}
	if latest != nil && latest.Size > v.rep.Size {
		return v.problem(v.rep.Size, latest.Size, "missing: checkpoint #%d covers %d entries but the log has %d: entries were truncated",
			latest.ID, latest.Size, v.rep.Size)
	}
	// The log stores every checkpoint it signs, in the transaction of its
	// entries, before anyone outside can hold it, and never deletes one. A
	// latest stored checkpoint below the trusted one means newer ones were
	// deleted, and accepting it would let the caller save it as the next
	// trusted checkpoint. The same holds below the anchor.
	for _, outside := range []struct {
		name string
		size int64
	}{{trustedName, v.trusted.Size}, {anchorName, v.anchor.Size}} {
		if outside.size > 0 && (latest == nil || latest.Size < outside.size) {
			return v.problem(-1, 0, "the %s covers %d entries but no stored checkpoint covers as many: signed checkpoints were deleted",
				outside.name, outside.size)
		}
	}
	if v.epoch < len(v.keyHistory())-1 {
		keys := v.keyHistory()
		if err := v.problem(-1, 0, "no stored handover checkpoint is signed by both %s and %s, so the key %s never took over the log",
			keyLabel(keys[v.epoch]), keyLabel(keys[v.epoch+1]), keyLabel(keys[v.epoch+1])); err != nil {
			return err
		}
	}
	v.rep.Latest = latest
	v.rep.Uncovered = v.rep.Size
	if latest != nil {
		v.rep.Uncovered -= latest.Size
	}
	return nil
}
