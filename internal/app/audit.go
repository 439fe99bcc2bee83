package app

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/gatehouse-health/gatehouse/internal/auditlog"
	"github.com/gatehouse-health/gatehouse/internal/config"
	"github.com/gatehouse-health/gatehouse/internal/egress"
	"github.com/gatehouse-health/gatehouse/internal/pki"
	"github.com/gatehouse-health/gatehouse/internal/safefile"
	"github.com/gatehouse-health/gatehouse/internal/storage"
)

// auditKeys are the checkpoint keys of the exchange log, read once at
// start so that the log and the console's verification use the same keys
// even if a file changes while the gateway starts.
type auditKeys struct {
	signer   note.Signer
	verifier note.Verifier   // of signer
	retired  []note.Verifier // audit.retired_verifier_keys_file, oldest first
}

// OriginMismatchError is the start error of an audit.origin that differs
// from the name of the checkpoint signing key in audit.signing_key_file.
// It wraps auditlog.ErrOriginMismatch.
type OriginMismatchError struct {
	Origin  string // audit.origin
	KeyName string // the signing key's name
}

func (e *OriginMismatchError) Error() string {
	return fmt.Sprintf("audit.origin %q differs from the name %q of the key in audit.signing_key_file: %v",
		e.Origin, e.KeyName, auditlog.ErrOriginMismatch)
}

func (e *OriginMismatchError) Unwrap() error { return auditlog.ErrOriginMismatch }

// loadAuditKeys reads audit.signing_key_file and
// audit.retired_verifier_keys_file.
func loadAuditKeys(cfg *config.File) (*auditKeys, error) {
	signer, verifier, err := auditlog.LoadSigningKey(cfg.Resolve(cfg.Audit.SigningKeyFile))
	if err != nil {
		return nil, fmt.Errorf("audit.signing_key_file: %w", err)
	}
	retired, err := retiredVerifierKeys(cfg)
	if err != nil {
		return nil, err
	}
	return &auditKeys{signer: signer, verifier: verifier, retired: retired}, nil
}

// openAuditLog opens the tamper-evident exchange log on db: checkpoint
// signer, the security team's recipients, and the checkpoint sinks. The
// witnesses of audit.witnesses are sinks only when eg is not nil: a
// command beside the gateway leaves its checkpoints to the gateway, which
// submits its next one with a consistency proof that covers them.
func openAuditLog(ctx context.Context, cfg *config.File, keys *auditKeys, db *storage.DB, eg *egress.Guard, log *slog.Logger, now func() time.Time) (*auditlog.Log, error) {
	signer := keys.signer
	recipients, err := auditlog.LoadRecipients(cfg.Resolve(cfg.Audit.RecipientsFile))
	if err != nil {
		return nil, fmt.Errorf("audit.recipients_file: %w", err)
	}
	logSink := &auditlog.SlogSink{Logger: log}
	sinks := []auditlog.Sink{logSink}
	var published []byte
	var publishedKey note.Verifier
	if cfg.Audit.CheckpointFile != "" {
		path := cfg.Resolve(cfg.Audit.CheckpointFile)
		// Without its directory no checkpoint is ever written there, so the
		// start-up check against a rolled-back log would stay off for good.
		// FileSink follows a symbolic link at path, so the check does too:
		// a link into storage that is not mounted has no directory either.
		target, err := auditlog.FileSinkTarget(path)
		if err != nil {
			return nil, fmt.Errorf("audit.checkpoint_file %s: %w", path, err)
		}
		if dir := filepath.Dir(target); !isDir(dir) {
			return nil, fmt.Errorf("audit.checkpoint_file %s: %w", path, &storage.MissingDirError{Dir: dir})
		}
		sinks = append(sinks, &auditlog.FileSink{Path: path})
		logSink.File = path
		if published, err = lastPublished(path); err != nil {
			return nil, fmt.Errorf("audit.checkpoint_file: %w", err)
		}
		if published != nil {
			publishedKey = keys.verifier
		}
		if published == nil {
			log.Warn("audit checkpoint file not found, so the start-up check against a rolled-back log is off until the next checkpoint is written; this is expected on the first start only", "file", path)
		}
	}
	if eg != nil {
		witnesses, err := witnessSinks(cfg, eg)
		if err != nil {
			return nil, err
		}
		sinks = append(sinks, witnesses...)
	}
	l, err := auditlog.Open(ctx, db, auditlog.Options{
		Origin:             cfg.Audit.Origin,
		Signer:             signer,
		Recipients:         recipients,
		CheckpointEvery:    cfg.Audit.CheckpointEvery,
		CheckpointInterval: cfg.Audit.CheckpointInterval,
		Sinks:              sinks,
		Published:          published,
		PublishedKey:       publishedKey,
		RetiredKeys:        keys.retired,
		OnPublishError: func(sink string, size int64, err error) {
			log.Error("checkpoint not published", "sink", sink, "size", size, "error", err)
		},
		Now: now,
	})
	if errors.Is(err, auditlog.ErrOriginMismatch) {
		return nil, &OriginMismatchError{Origin: cfg.Audit.Origin, KeyName: signer.Name()}
	}
	if errors.Is(err, auditlog.ErrNotExtended) {
		path := cfg.Resolve(cfg.Audit.CheckpointFile)
		return nil, fmt.Errorf("audit.checkpoint_file %s: %w", path, err)
	}
	if err != nil {
		return nil, fmt.Errorf("audit: %w", err)
	}
	return l, nil
}

// retiredVerifierKeys reads audit.retired_verifier_keys_file, or returns
// nil when it is not set.
func retiredVerifierKeys(cfg *config.File) ([]note.Verifier, error) {
	if cfg.Audit.RetiredVerifierKeysFile == "" {
		return nil, nil
	}
	keys, err := auditlog.LoadVerifiers(cfg.Resolve(cfg.Audit.RetiredVerifierKeysFile))
	if err != nil {
		return nil, fmt.Errorf("audit.retired_verifier_keys_file: %w", err)
	}
	return keys, nil
}

func isDir(path string) bool {
	info, err := os.Stat(path)
	return err == nil && info.IsDir()
}

// lastPublished reads the checkpoint the log last wrote to its checkpoint
// file, or returns nil before the first checkpoint.
func lastPublished(path string) ([]byte, error) {
	data, err := safefile.ReadCapped(path, auditlog.MaxCheckpointBytes)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("%w; check the checkpoint path", err)
	}
	return data, nil
}

// runRetention destroys the bodies of entries older than the retention
// period, now and then once a day, until ctx ends.
func runRetention(ctx context.Context, l *auditlog.Log, retention time.Duration, log *slog.Logger) {
	if retention <= 0 {
		return
	}
	t := time.NewTicker(24 * time.Hour)
	defer t.Stop()
	for {
		n, err := l.ShredOlderThan(ctx, retention)
		if err != nil && ctx.Err() == nil {
			log.Error("audit retention failed", "error", err)
		} else if n > 0 {
			log.Info("audit retention destroyed bodies", "entries", n)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// witnessTimeout bounds one add-checkpoint call at the HTTP client. Each
// sink publishes from its own goroutine, never on an exchange's path, and
// the log's shorter publish timeout usually ends a call first.
const witnessTimeout = 15 * time.Second

// witnessSinks returns a sink per audit.witnesses entry, each connecting
// through the egress guard.
func witnessSinks(cfg *config.File, eg *egress.Guard) ([]auditlog.Sink, error) {
	var sinks []auditlog.Sink
	for i, w := range cfg.Audit.Witnesses {
		key := fmt.Sprintf("audit.witnesses[%d]", i)
		var roots *x509.CertPool
		if w.CAFile != "" {
			var err error
			if roots, err = pki.LoadCertPool(cfg.Resolve(w.CAFile)); err != nil {
				return nil, fmt.Errorf("%s.ca_file: %w", key, err)
			}
		}
		client := eg.HTTPClient(egress.ClientOptions{RootCAs: roots, Timeout: witnessTimeout})
		sink, err := auditlog.NewWitnessSink(w.URL, strings.TrimSpace(w.Key), client)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", key, err)
		}
		sinks = append(sinks, sink)
	}
	return sinks, nil
}

// OpenRecord opens the exchange record of cfg on db for a command that
// appends to it beside a running gateway, such as an operator decision
// from the command line. Appends from several processes keep one tree
// (see auditlog.Log). Close the log before db.
func OpenRecord(ctx context.Context, cfg *config.File, db *storage.DB, log *slog.Logger) (*auditlog.Log, error) {
	keys, err := loadAuditKeys(cfg)
	if err != nil {
		return nil, err
	}
	return openAuditLog(ctx, cfg, keys, db, nil, log, time.Now)
}
