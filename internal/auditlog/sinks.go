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

// offer replaces an unpublished checkpoint with cp, unless that one is
// larger. Checkpoints are offered in signing order with one exception. A
// checkpoint committed before entries vanished may finish its sync after
// publishEvidence offered the writer's tree, and must not hide that tree
// from the sinks.
func (p *publisher) offer(cp *SignedCheckpoint) {
	if len(p.opts.Sinks) == 0 {
		return
	}
	p.mu.Lock()
	if p.latest == nil || p.latest.Size <= cp.Size {
		p.latest = cp
	}
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
