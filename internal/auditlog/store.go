package auditlog

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
	"time"

	"filippo.io/age"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/gatehouse-health/gatehouse/internal/record"
)

// schema creates the log's tables. audit_entries.entry is the canonical
// encoding, the leaf data. The other entry columns copy some of its fields
// for queries, and verification checks that they agree with it.
// audit_hashes contains the tlog stored hashes, keyed by tlog.StoredHashIndex.
const schema = `
CREATE TABLE IF NOT EXISTS audit_meta (
	name  TEXT PRIMARY KEY,
	value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS audit_entries (
	idx          INTEGER PRIMARY KEY,
	exchange_id  TEXT    NOT NULL,
	partner      TEXT    NOT NULL,
	phase        TEXT    NOT NULL,
	decision     TEXT    NOT NULL,
	status       INTEGER NOT NULL,
	recorded_ns  INTEGER NOT NULL,
	entry        BLOB    NOT NULL,
	request_ct   BLOB,
	response_ct  BLOB,
	wrapped_key  BLOB,
	shredded_ns  INTEGER
);
CREATE INDEX IF NOT EXISTS audit_entries_exchange ON audit_entries (exchange_id);
CREATE INDEX IF NOT EXISTS audit_entries_partner ON audit_entries (partner, idx);
CREATE INDEX IF NOT EXISTS audit_entries_recorded ON audit_entries (recorded_ns);
CREATE TABLE IF NOT EXISTS audit_hashes (
	id   INTEGER PRIMARY KEY,
	hash BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS audit_checkpoints (
	id         INTEGER PRIMARY KEY AUTOINCREMENT,
	size       INTEGER NOT NULL,
	note       BLOB    NOT NULL,
	created_ns INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS audit_checkpoints_size ON audit_checkpoints (size);
`

// Options configures a Log. Origin, Signer and Recipients are required.
type Options struct {
	// Origin is the log identity, the first line of every checkpoint, for
	// example "payer.example/gatehouse-audit". It never changes for a
	// database: Open fails if the database belongs to another origin.
	Origin string
	// Signer signs checkpoints; its key name must equal Origin.
	Signer note.Signer
	// Recipients receive each entry's data key. At least one is required:
	// without it, bodies could not be encrypted. Development mode uses the
	// identity EnsureDevKeys creates.
	Recipients []age.Recipient

	// CheckpointEvery is the number of entries after which a checkpoint
	// is signed; default 1000.
	CheckpointEvery int64
	// CheckpointInterval is the longest time new entries wait for a
	// checkpoint; default 10s.
	CheckpointInterval time.Duration
	// QueueSize bounds the entries waiting for the writer; when it is full
	// Append fails at once with an error wrapping record.ErrUnavailable.
	// Default 4096.
	QueueSize int
	// MaxBatch is the most entries committed in one transaction; default 512.
	MaxBatch int
	// CommitTimeout bounds one transaction; default 30s.
	CommitTimeout time.Duration

	// Sinks receive each new checkpoint after it is committed.
	Sinks []Sink
	// PublishTimeout bounds one Sink.Publish call; default 10s.
	PublishTimeout time.Duration
	// OnPublishError, if set, is called with every failed publication; the
	// package itself never logs. Nil means failures are dropped.
	OnPublishError func(sink string, size int64, err error)

	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

func (o *Options) setDefaults() {
	if o.CheckpointEvery == 0 {
		o.CheckpointEvery = 1000
	}
	if o.CheckpointInterval == 0 {
		o.CheckpointInterval = 10 * time.Second
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

// Validate checks the options without side effects, naming the field to fix.
func (o *Options) Validate() error {
	switch {
	case o.Origin == "":
		return errors.New("auditlog: Options.Origin is required")
	case o.Signer == nil:
		return errors.New("auditlog: Options.Signer is required")
	case o.Signer.Name() != o.Origin:
		return fmt.Errorf("auditlog: Options.Signer key name %q must equal Options.Origin %q", o.Signer.Name(), o.Origin)
	case len(o.Recipients) == 0:
		return errors.New("auditlog: Options.Recipients is empty: at least one age recipient must receive body keys")
	case o.CheckpointEvery < 0, o.CheckpointInterval < 0, o.QueueSize < 0, o.MaxBatch < 0, o.CommitTimeout < 0, o.PublishTimeout < 0:
		return errors.New("auditlog: Options.CheckpointEvery, CheckpointInterval, QueueSize, MaxBatch, CommitTimeout and PublishTimeout must not be negative")
	}
	if _, err := ParseCheckpoint(Checkpoint{Origin: o.Origin}.Text()); err != nil {
		return fmt.Errorf("auditlog: Options.Origin %q: must be non-empty with no spaces or '+'", o.Origin)
	}
	return nil
}

// Log is the audit log: a record.Store and record.Reader whose entries
// form a Merkle tree with signed checkpoints. Appends are committed by one
// writer goroutine in batches (group commit).
type Log struct {
	*Reader
	opts Options

	mu     sync.RWMutex // guards closed and sends on queue
	closed bool
	queue  chan *pending
	done   chan struct{} // closed when the writer has exited
	pub    *publisher

	w writerState // owned by the writer goroutine
}

// Open creates the schema if needed, loads the tree state and starts the
// writer. The caller keeps ownership of db and closes it after Close.
func Open(ctx context.Context, db *sql.DB, opts Options) (*Log, error) {
	opts.setDefaults()
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	if _, err := db.ExecContext(ctx, schema); err != nil {
		return nil, fmt.Errorf("auditlog: create schema: %w", err)
	}
	if err := claimOrigin(ctx, db, opts.Origin); err != nil {
		return nil, err
	}
	l := &Log{
		Reader: &Reader{db: db},
		opts:   opts,
		queue:  make(chan *pending, opts.QueueSize),
		done:   make(chan struct{}),
	}
	if err := l.loadState(ctx); err != nil {
		return nil, err
	}
	l.pub = newPublisher(l, opts)
	go l.run()
	return l, nil
}

// claimOrigin records the origin in a new database, or checks it.
func claimOrigin(ctx context.Context, db *sql.DB, origin string) error {
	var have string
	err := db.QueryRowContext(ctx, `SELECT value FROM audit_meta WHERE name = 'origin'`).Scan(&have)
	if errors.Is(err, sql.ErrNoRows) {
		_, err = db.ExecContext(ctx, `INSERT INTO audit_meta (name, value) VALUES ('origin', ?)`, origin)
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
		return fmt.Errorf("auditlog: close: %w", ctx.Err())
	}
	return l.pub.close(ctx)
}

// Append implements record.Store. It returns once the entry is committed
// with its leaf hash in the tree; see AppendEntry.
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

var (
	_ record.Store  = (*Log)(nil)
	_ record.Reader = (*Log)(nil)
	_ Receipter     = (*Log)(nil)
)
