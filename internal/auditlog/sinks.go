package auditlog

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"

	"golang.org/x/mod/sumdb/tlog"
)

// Sink receives each newly signed checkpoint. Publish is called from one
// goroutine, in signing order. A slow sink delays only later publications,
// never appends. When sinks fall behind, intermediate checkpoints are
// skipped and only the latest is published.
type Sink interface {
	// Name identifies the sink in OnPublishError reports.
	Name() string
	// Publish delivers cp. log gives access to consistency proofs.
	Publish(ctx context.Context, cp *SignedCheckpoint, log Prover) error
}

// Prover is the part of the log a sink may use.
type Prover interface {
	ConsistencyProof(ctx context.Context, oldSize, newSize int64) (tlog.TreeProof, error)
	// AddCosignatures appends witness signature lines to the stored
	// checkpoint of size and root hash of cp.
	AddCosignatures(ctx context.Context, cp Checkpoint, lines []byte) error
}

// publisher hands the latest checkpoint to the sinks from one goroutine.
type publisher struct {
	log  *Log
	opts Options

	mu      sync.Mutex
	latest  *SignedCheckpoint
	wake    chan struct{}
	stop    chan struct{}
	stopped chan struct{}
}

func newPublisher(l *Log, opts Options) *publisher {
	p := &publisher{log: l, opts: opts, wake: make(chan struct{}, 1), stop: make(chan struct{}), stopped: make(chan struct{})}
	go p.run()
	return p
}

// offer replaces any unpublished checkpoint with cp.
func (p *publisher) offer(cp *SignedCheckpoint) {
	if len(p.opts.Sinks) == 0 {
		return
	}
	p.mu.Lock()
	p.latest = cp
	p.mu.Unlock()
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

func (p *publisher) run() {
	defer close(p.stopped)
	for {
		select {
		case <-p.wake:
			p.publishLatest()
		case <-p.stop:
			p.publishLatest()
			return
		}
	}
}

func (p *publisher) publishLatest() {
	p.mu.Lock()
	cp := p.latest
	p.latest = nil
	p.mu.Unlock()
	if cp == nil {
		return
	}
	for _, s := range p.opts.Sinks {
		ctx, cancel := context.WithTimeout(context.Background(), p.opts.PublishTimeout)
		err := s.Publish(ctx, cp, p.log)
		cancel()
		if err != nil {
			p.log.reportPublish(s.Name(), cp.Size, err)
		}
	}
}

// close publishes what is pending and stops, or gives up when ctx ends.
func (p *publisher) close(ctx context.Context) error {
	select {
	case <-p.stop:
	default:
		close(p.stop)
	}
	select {
	case <-p.stopped:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("auditlog: close: publishing checkpoints: %w", ctx.Err())
	}
}

// FileSink writes the latest signed checkpoint to a file, replacing it
// atomically (write to a temporary file, fsync, rename), so a reader never
// sees a partial checkpoint. Copy the file off the machine, or point it at
// storage the database's administrators cannot write, to detect rollback.
type FileSink struct {
	Path string
}

// Name implements Sink.
func (s *FileSink) Name() string { return "file " + s.Path }

// Publish implements Sink.
func (s *FileSink) Publish(_ context.Context, cp *SignedCheckpoint, _ Prover) error {
	return WriteFileAtomic(s.Path, cp.Note, 0o644)
}

// WriteFileAtomic replaces path with data through a synced temporary file
// in the same directory.
func WriteFileAtomic(path string, data []byte, perm os.FileMode) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("auditlog: %w", err)
	}
	tmp := f.Name()
	_, werr := f.Write(data)
	serr := f.Sync()
	cerr := f.Close()
	if err := errors.Join(werr, serr, cerr, os.Chmod(tmp, perm)); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("auditlog: write %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("auditlog: %w", err)
	}
	// Sync the directory so the rename itself survives a crash.
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}

// SlogSink writes each checkpoint to a structured log stream, where a log
// collector off the machine keeps a copy. The note carries no PHI: an
// origin, a size and a hash.
type SlogSink struct {
	Logger *slog.Logger
}

// Name implements Sink.
func (s *SlogSink) Name() string { return "slog" }

// Publish implements Sink.
func (s *SlogSink) Publish(ctx context.Context, cp *SignedCheckpoint, _ Prover) error {
	s.Logger.LogAttrs(ctx, slog.LevelInfo, "audit checkpoint signed",
		slog.String("origin", cp.Origin),
		slog.Int64("size", cp.Size),
		slog.String("root_hash", cp.Hash.String()),
		slog.String("checkpoint", string(cp.Note)))
	return nil
}
