package auditlog

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/gatehouse-health/gatehouse/internal/safefile"
)

// Sink receives each newly signed checkpoint. Each sink has its own
// goroutine, which calls Publish in signing order, so a slow sink delays
// only its own later publications, never appends or the other sinks.
// When a sink falls behind, intermediate checkpoints are skipped and only
// the latest is published to it.
type Sink interface {
	// Name identifies the sink in OnPublishError reports.
	Name() string
	// Publish delivers cp. log gives access to consistency proofs. ctx
	// ends after Options.PublishTimeout, or when Log.Close stops waiting,
	// and Publish must return soon after that, because Close waits for it.
	Publish(ctx context.Context, cp *SignedCheckpoint, log Prover) error
}

// Prover is the part of the log a sink may use.
type Prover interface {
	ConsistencyProof(ctx context.Context, oldSize, newSize int64) (tlog.TreeProof, error)
	// AddCosignatures appends witness signature lines to the stored
	// checkpoint of size and root hash of cp.
	AddCosignatures(ctx context.Context, cp Checkpoint, lines []byte) error
}

// publisher hands the latest checkpoint to each sink's worker.
type publisher struct {
	workers []*sinkWorker
	// cancel ends the parent of every Publish context. close calls it when
	// its own context ends, which abandons the publications in flight.
	cancel   context.CancelFunc
	stop     chan struct{}
	stopOnce sync.Once
	stopped  chan struct{}
}

// sinkWorker publishes to one sink from its own goroutine.
type sinkWorker struct {
	sink Sink
	log  *Log
	opts Options

	mu     sync.Mutex
	latest *SignedCheckpoint
	wake   chan struct{}
}

func newPublisher(l *Log, opts Options) *publisher {
	ctx, cancel := context.WithCancel(context.Background())
	p := &publisher{cancel: cancel, stop: make(chan struct{}), stopped: make(chan struct{})}
	var running sync.WaitGroup
	for _, s := range opts.Sinks {
		w := &sinkWorker{sink: s, log: l, opts: opts, wake: make(chan struct{}, 1)}
		p.workers = append(p.workers, w)
		running.Go(func() { w.run(ctx, p.stop) })
	}
	go func() {
		running.Wait()
		close(p.stopped)
	}()
	return p
}

// offer replaces each sink's unpublished checkpoint with cp, unless that
// one is larger. Checkpoints are offered in signing order with one
// exception. A checkpoint committed before entries vanished may finish
// its sync after publishEvidence offered the writer's tree, and must not
// hide that tree from the sinks.
func (p *publisher) offer(cp *SignedCheckpoint) {
	for _, w := range p.workers {
		w.offer(cp)
	}
}

func (w *sinkWorker) offer(cp *SignedCheckpoint) {
	w.mu.Lock()
	if w.latest == nil || w.latest.Size <= cp.Size {
		w.latest = cp
	}
	w.mu.Unlock()
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// run publishes until stop is closed, then publishes what is pending and
// returns.
func (w *sinkWorker) run(ctx context.Context, stop <-chan struct{}) {
	for {
		select {
		case <-w.wake:
			w.publishLatest(ctx)
		case <-stop:
			w.publishLatest(ctx)
			return
		}
	}
}

func (w *sinkWorker) publishLatest(parent context.Context) {
	w.mu.Lock()
	cp := w.latest
	w.latest = nil
	w.mu.Unlock()
	if cp == nil {
		return
	}
	ctx, cancel := context.WithTimeout(parent, w.opts.PublishTimeout)
	err := w.sink.Publish(ctx, cp, w.log)
	cancel()
	if err != nil {
		w.log.reportPublish(w.sink.Name(), cp.Size, err)
	}
}

// close publishes what is pending to every sink and stops. When ctx ends
// first, it cancels the publications still running, such as a request to
// a witness that does not respond, and returns once their sinks return.
// The checkpoints stay stored in the log either way.
func (p *publisher) close(ctx context.Context) error {
	defer p.cancel()
	// Log.Close may run more than once, and concurrently.
	p.stopOnce.Do(func() { close(p.stop) })
	select {
	case <-p.stopped:
		return nil
	case <-ctx.Done():
	}
	p.cancel()
	<-p.stopped
	return fmt.Errorf("auditlog: close: publishing checkpoints: %w", ctx.Err())
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

// Publish implements Sink. It replaces the file a symbolic link at Path
// points to, not the link, so that a link to storage elsewhere keeps
// receiving checkpoints. It keeps a larger checkpoint of the same log
// that the file already holds: a second process appending to the log
// (an operator's command beside the gateway) may publish after a newer
// checkpoint, and the file must not move back.
func (s *FileSink) Publish(_ context.Context, cp *SignedCheckpoint, _ Prover) error {
	path, err := linkTarget(s.Path)
	if err != nil {
		return err
	}
	if old, err := os.ReadFile(path); err == nil {
		text, _, _ := strings.Cut(string(old), "\n\n")
		if prev, err := ParseCheckpoint(text + "\n"); err == nil && prev.Origin == cp.Origin && prev.Size >= cp.Size {
			return nil
		}
	}
	if err := safefile.WriteAtomic(path, cp.Note, 0o644); err != nil {
		return fmt.Errorf("auditlog: %w", err)
	}
	return nil
}

// FileSinkTarget returns the file a FileSink with Path path writes: path
// after following symbolic links, the last one possibly dangling.
func FileSinkTarget(path string) (string, error) {
	return linkTarget(path)
}

// linkTarget returns the file path names after following symbolic links,
// the last one possibly dangling, or path itself when it is no link.
func linkTarget(path string) (string, error) {
	for range 40 {
		fi, err := os.Lstat(path)
		if err != nil || fi.Mode()&os.ModeSymlink == 0 {
			return path, nil
		}
		dest, err := os.Readlink(path)
		if err != nil {
			return "", fmt.Errorf("auditlog: %w", err)
		}
		if !filepath.IsAbs(dest) {
			dest = filepath.Join(filepath.Dir(path), dest)
		}
		path = dest
	}
	return "", fmt.Errorf("auditlog: %s: too many levels of symbolic links", path)
}

// SlogSink is a sink that logs one line for each signed checkpoint: its
// origin, size, the start of its root hash and the checkpoint file it goes
// to. The line contains neither the note text nor its signature, which the
// database and the checkpoint file store.
type SlogSink struct {
	Logger *slog.Logger
	// File is the checkpoint file that another sink writes each
	// checkpoint to, named in the line. Empty means there is none.
	File string
}

// rootHashPrefixLen is the number of base64 characters of the root hash
// that the log line shows: 72 bits, enough to match the line to the
// checkpoint in the file or the database by eye.
const rootHashPrefixLen = 12

// Name implements Sink.
func (s *SlogSink) Name() string { return "slog" }

// Publish implements Sink.
func (s *SlogSink) Publish(ctx context.Context, cp *SignedCheckpoint, _ Prover) error {
	attrs := []slog.Attr{
		slog.String("origin", cp.Origin),
		slog.Int64("size", cp.Size),
		slog.String("root_hash_prefix", cp.Hash.String()[:rootHashPrefixLen]),
	}
	if s.File != "" {
		attrs = append(attrs, slog.String("checkpoint_file", s.File))
	}
	s.Logger.LogAttrs(ctx, slog.LevelInfo, "audit checkpoint signed", attrs...)
	return nil
}
