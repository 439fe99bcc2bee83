package auditlog

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"hash/fnv"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"filippo.io/age"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/gatehouse-health/gatehouse/internal/record"
	"github.com/gatehouse-health/gatehouse/internal/storage"
)

// Options configures a Log. Origin, Signer and Recipients are required.
type Options struct {
	// Origin is the log identity, the first line of every checkpoint, for
	// example "payer.example/gatehouse-audit". It never changes for a
	// database: Open fails if the database belongs to another origin.
	Origin string
	// Signer signs checkpoints. Its key name must equal Origin.
	Signer note.Signer
	// Recipients receive each key-encryption key, and so can unwrap every
	// entry's data key. At least one is required: without it, bodies could
	// not be encrypted. Development mode uses the identity EnsureDevKeys
	// creates.
	Recipients []age.Recipient
	// KEKInterval is how long one key-encryption key wraps data keys
	// before the writer wraps a new one to the recipients. Default 1m.
	// Shorter windows cost one age encryption each.
	KEKInterval time.Duration
	// KEKMaxEntries is the maximum number of data keys one key-encryption
	// key wraps. Default 1<<20. It is far below 2^32, the limit of messages
	// under one AES-GCM key with random nonces that the documentation of
	// Go's cipher.NewGCMWithRandomNonce sets.
	KEKMaxEntries int64

	// CheckpointEvery is the number of entries after which a checkpoint
	// is signed. Default 1000.
	CheckpointEvery int64
	// CheckpointInterval is the maximum time new entries wait for a
	// checkpoint. Default 10s.
	CheckpointInterval time.Duration
	// QueueSize bounds the entries waiting for the writer. When it is full
	// Append fails at once with an error wrapping record.ErrUnavailable.
	// Default 4096.
	QueueSize int
	// MaxBatch is the maximum number of entries committed in one
	// transaction. Default 512.
	MaxBatch int
	// CommitTimeout bounds one transaction. Default 30s.
	CommitTimeout time.Duration

	// Sinks receive each new checkpoint after it is committed, and the
	// one publishEvidence signs when committed entries vanish.
	Sinks []Sink
	// PublishTimeout bounds one Sink.Publish call. Default 10s.
	PublishTimeout time.Duration
	// OnPublishError, if set, is called with every failed publication. The
	// package itself never logs. Nil means failures are dropped.
	OnPublishError func(sink string, size int64, err error)

	// Published is the checkpoint this log last published outside the
	// database (a FileSink's file), or nil. Open fails unless the stored
	// log extends it, so that a database rolled back or rewritten while no
	// writer ran is not signed over. PublishedKey verifies it.
	Published    []byte
	PublishedKey note.Verifier
	// RetiredKeys are the verifier keys of the checkpoint signing keys the
	// log used before Signer, oldest first. Open accepts a Published
	// checkpoint signed by one of them only when stored handover
	// checkpoints pass the log from that key to Signer's at or after the
	// checkpoint's size (see RotateSigningKey).
	RetiredKeys []note.Verifier

	// Now is the clock. Nil means time.Now.
	Now func() time.Time

	// entryVersion is the entry format version the writer uses, 0 for the
	// current one. Tests set an older version to build the logs that
	// earlier releases wrote. Version 2 and older hold no query string, so
	// such a writer takes only entries without one.
	entryVersion int
}

func (o *Options) setDefaults() {
	if o.CheckpointEvery == 0 {
		o.CheckpointEvery = 1000
	}
	if o.CheckpointInterval == 0 {
		o.CheckpointInterval = 10 * time.Second
	}
	if o.KEKInterval == 0 {
		o.KEKInterval = time.Minute
	}
	if o.KEKMaxEntries == 0 {
		o.KEKMaxEntries = 1 << 20
	}
	if o.QueueSize == 0 {
		o.QueueSize = 4096
	}
	if o.MaxBatch == 0 {
		o.MaxBatch = 512
	}
	if o.CommitTimeout == 0 {
		o.CommitTimeout = 30 * time.Second
	}
	if o.PublishTimeout == 0 {
		o.PublishTimeout = 10 * time.Second
	}
	if o.Now == nil {
		o.Now = time.Now
	}
}

// ErrOriginMismatch is wrapped by the Validate error of options whose
// checkpoint signing key is named for another log than Options.Origin.
var ErrOriginMismatch = errors.New("the checkpoint signing key is named for another log origin")

// ErrNotExtended means that the stored log does not extend the checkpoint
// it last published (Options.Published): entries or checkpoints were
// removed, or history was rewritten.
var ErrNotExtended = errors.New("auditlog: the log does not extend the checkpoint it published last")

// Validate checks the options without side effects, naming the field to fix.
func (o *Options) Validate() error {
	switch {
	case o.Origin == "":
		return errors.New("auditlog: Options.Origin is required")
	case o.Signer == nil:
		return errors.New("auditlog: Options.Signer is required")
	case o.Signer.Name() != o.Origin:
		return fmt.Errorf("auditlog: Options.Signer key name %q must equal Options.Origin %q: %w", o.Signer.Name(), o.Origin, ErrOriginMismatch)
	case len(o.Recipients) == 0:
		return errors.New("auditlog: Options.Recipients is empty: at least one age recipient must receive body keys")
	case o.CheckpointEvery < 0, o.CheckpointInterval < 0, o.QueueSize < 0, o.MaxBatch < 0, o.CommitTimeout < 0, o.PublishTimeout < 0,
		o.KEKInterval < 0, o.KEKMaxEntries < 0:
		return errors.New("auditlog: Options.CheckpointEvery, CheckpointInterval, QueueSize, MaxBatch, CommitTimeout, PublishTimeout, KEKInterval and KEKMaxEntries must not be negative")
	case o.Published != nil && o.PublishedKey == nil:
		return errors.New("auditlog: Options.PublishedKey is required with Options.Published")
	case o.KEKMaxEntries > 1<<32:
		return fmt.Errorf("auditlog: Options.KEKMaxEntries %d exceeds 2^32, the limit of AES-GCM messages with random nonces under one key", o.KEKMaxEntries)
	}
	if _, err := ParseCheckpoint(Checkpoint{Origin: o.Origin}.Text()); err != nil {
		return fmt.Errorf("auditlog: Options.Origin %q: must be non-empty with no spaces or '+'", o.Origin)
	}
	return nil
}

// syncQueue bounds the committed transactions that wait for a sync. A
// writer that gets that far ahead of the disk waits for it.
const syncQueue = 64

// Log is the audit log: a record.Store and record.Reader whose entries
// form a Merkle tree with signed checkpoints. Appends are committed by one
// writer goroutine in batches (group commit). Several Logs, in one process
// or in gateway replicas, may append to one database: each batch
// transaction holds the database's append lock and reads the tree state
// under it, so indexes stay dense and the tree stays one tree.
type Log struct {
	*Reader
	opts    Options
	lockKey int64 // PostgreSQL advisory lock key of this log's tables
	// wdb is the writer's handle. On SQLite its commits do not wait for
	// the disk. syncLoop syncs them after the write lock is released, so
	// the payer service and other writers of the file use the lock during
	// the fsync (storage.SyncCommits). On PostgreSQL it is the Reader's
	// handle.
	wdb *storage.DB
	// syncCommits makes the writer's commits durable: wdb.SyncCommits,
	// replaced by tests to make it fail.
	syncCommits func() error
	// toSync carries committed transactions from the writer to syncLoop.
	toSync chan committed
	// syncErr, once set by syncLoop, fails every later commit: after a
	// failed fsync of the write-ahead log no later fsync vouches for what
	// was written before it.
	syncErr atomic.Pointer[syncFailure]

	mu     sync.RWMutex // guards closed and sends on queue
	closed bool
	queue  chan *pending
	done   chan struct{} // closed when the writer has exited
	pub    *publisher
	// cosignMu serializes AddCosignatures. Without it, two witnesses
	// that respond at once each read the stored note and write it back,
	// so the lines of one are lost.
	cosignMu sync.Mutex

	w     writerState         // owned by the writer goroutine
	stmts *storage.Statements // the writer's prepared statements
	// evidenceSize is the size of the last tree publishEvidence signed,
	// owned by the writer goroutine. It lives outside w, which a failed
	// commit restores.
	evidenceSize int64

	// requests are the request entries this log appended last, which the
	// response entries that follow name (checkRequestEntry).
	requests recentRequests
}

// Open creates the schema if needed, loads the tree state and starts the
// writer. The caller keeps ownership of db and closes it after Close.
func Open(ctx context.Context, db *storage.DB, opts Options) (*Log, error) {
	opts.setDefaults()
	if err := opts.Validate(); err != nil {
		return nil, err
	}

	stmts := schema
	if db.Dialect == storage.PostgreSQL {
		stmts = append(slices.Clip(schema), schemaPostgres...)
	}
	if err := db.CreateSchema(ctx, stmts); err != nil {
		return nil, fmt.Errorf("auditlog: create schema: %w", err)
	}
	if err := claimOrigin(ctx, db, opts.Origin); err != nil {
		return nil, err
	}

	wdb, err := db.DeferCommitSync(ctx)
	if err != nil {
		return nil, fmt.Errorf("auditlog: %w", err)
	}
	l := &Log{
		Reader:      &Reader{db: db},
		wdb:         wdb,
		syncCommits: wdb.SyncCommits,
		toSync:      make(chan committed, syncQueue),
		stmts:       storage.NewStatements(wdb),
		opts:        opts,
		queue:       make(chan *pending, opts.QueueSize),
		done:        make(chan struct{}),
	}
	if l.lockKey, err = appendLockKey(ctx, db); err != nil {
		l.closeWriterDB()
		return nil, err
	}
	// Read the tree now, so a log that is behind its checkpoints fails
	// here rather than at the first append.
	l.w.cpAt = opts.Now()
	err = l.refresh(ctx, db, l.w.cpAt)
	// A rollback that left its hashes behind fails both checks; the check
	// against the published checkpoint names what was removed, so its
	// error wins.
	if opts.Published != nil && (err == nil || errors.Is(err, errHashCount)) {
		if perr := l.checkPublished(ctx, db); perr != nil {
			err = perr
		}
	}
	if err != nil {
		l.closeWriterDB()
		return nil, err
	}

	l.pub = newPublisher(l, opts)
	go l.run()
	return l, nil
}

// appendLockKey returns the advisory lock key that serialises appends to
// the log in db's current PostgreSQL schema: FNV-1a of the schema name, so
// logs in two schemas of one database do not wait for each other. SQLite
// needs no key.
func appendLockKey(ctx context.Context, db *storage.DB) (int64, error) {
	if db.Dialect != storage.PostgreSQL {
		return 0, nil
	}
	var schemaName string
	if err := db.QueryRowContext(ctx, sqlCurrentSchemaPostgres).Scan(&schemaName); err != nil {
		return 0, fmt.Errorf("auditlog: read the current schema: %w", err)
	}
	h := fnv.New64a()
	h.Write([]byte("gatehouse.auditlog\x00" + schemaName))
	return int64(h.Sum64()), nil
}

// claimOrigin records the origin in a new database, or checks it. Two
// replicas opening a new database together both try the insert, and the
// loser reads the winner's origin.
func claimOrigin(ctx context.Context, db *storage.DB, origin string) error {
	var have string
	err := db.QueryRowContext(ctx, sqlReadOrigin).Scan(&have)
	if errors.Is(err, sql.ErrNoRows) {
		_, err = db.ExecContext(ctx, sqlInsertOrigin, origin)
		if storage.IsUniqueViolation(err) {
			return claimOrigin(ctx, db, origin)
		}
		if err != nil {
			return fmt.Errorf("auditlog: record origin: %w", err)
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("auditlog: read origin: %w", err)
	}
	if have != origin {
		return fmt.Errorf("auditlog: the database contains the log with origin %q, not %q (a log's origin never changes)", have, origin)
	}
	return nil
}

// Close stops accepting entries, commits those already queued, signs a
// final checkpoint covering them, and waits for the sinks until ctx ends.
func (l *Log) Close(ctx context.Context) error {
	l.mu.Lock()
	if !l.closed {
		l.closed = true
		close(l.queue)
	}
	l.mu.Unlock()

	select {
	case <-l.done:
	case <-ctx.Done():
		// The sinks still get what is pending, with their requests
		// canceled, so that no publication outlives Close.
		l.pub.close(ctx)
		return fmt.Errorf("auditlog: close: %w", ctx.Err())
	}
	// The writer has exited, so nothing uses its statements any more.
	l.stmts.Close()
	err := l.pub.close(ctx)
	if cerr := l.closeWriterDB(); err == nil {
		err = cerr
	}
	return err
}

// closeWriterDB closes the writer's handle unless it is the Reader's.
func (l *Log) closeWriterDB() error {
	if l.wdb == l.db {
		return nil
	}
	return l.wdb.Close()
}

// Append implements record.Store. It returns once the entry is committed
// with its leaf hash in the tree, as AppendEntry does.
func (l *Log) Append(ctx context.Context, e *record.Entry) (int64, error) {
	a, err := l.AppendEntry(ctx, e)
	if err != nil {
		return 0, err
	}
	return a.Seq, nil
}

// Appended identifies a committed entry, for receipts.
type Appended struct {
	Seq      int64     // record sequence number, Index+1
	Index    int64     // leaf index in the tree
	LeafHash tlog.Hash // RFC 6962 leaf hash of the entry
}

// Receipter is implemented by stores that return leaf hashes, so the
// gateway can discover the ability with a type assertion.
type Receipter interface {
	AppendEntry(ctx context.Context, e *record.Entry) (Appended, error)
}

// CommitAppender is implemented by stores that can report an entry once
// it is committed, before it is durable; see Log.AppendCommitted.
type CommitAppender interface {
	AppendCommitted(ctx context.Context, e *record.Entry) (Appended, error)
}

// CommitSyncer is implemented by stores whose committed entries a caller
// can make durable on demand, such as Log (Log.SyncCommitted).
type CommitSyncer interface {
	SyncCommitted() error
}

var (
	_ CommitSyncer   = (*Log)(nil)
	_ record.Store   = (*Log)(nil)
	_ record.Reader  = (*Log)(nil)
	_ Receipter      = (*Log)(nil)
	_ CommitAppender = (*Log)(nil)
)
