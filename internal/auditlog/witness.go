package auditlog

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/mod/sumdb/note"
)

// maxWitnessResponse caps a witness response body.
const maxWitnessResponse = 64 << 10

// WitnessSink submits checkpoints to a witness with the c2sp.org/tlog-witness
// add-checkpoint call, with a consistency proof from the size the witness
// last cosigned, and stores the cosignatures it returns next to the
// checkpoint.
type WitnessSink struct {
	url    string
	client *http.Client
	key    note.Verifier

	mu      sync.Mutex
	oldSize int64 // size the witness last cosigned, as far as we know
}

// NewWitnessSink returns a sink for the witness whose submission prefix is
// prefix (add-checkpoint is appended) and whose cosignature verifier key is
// witnessKey (see NewCosignatureVerifier). client is required: the caller
// decides which destinations it may reach. http.DefaultClient is never used.
func NewWitnessSink(prefix, witnessKey string, client *http.Client) (*WitnessSink, error) {
	if client == nil {
		return nil, errors.New("auditlog: witness: an *http.Client is required")
	}
	if !strings.HasPrefix(prefix, "https://") && !strings.HasPrefix(prefix, "http://") {
		return nil, fmt.Errorf("auditlog: witness: invalid submission prefix %q: want an http(s) URL", prefix)
	}
	v, err := NewCosignatureVerifier(witnessKey)
	if err != nil {
		return nil, err
	}
	return &WitnessSink{url: strings.TrimSuffix(prefix, "/") + "/add-checkpoint", client: client, key: v}, nil
}

// Name implements Sink.
func (s *WitnessSink) Name() string { return "witness " + s.key.Name() }

// Publish implements Sink. When the witness reports another previous size
// (409 with text/x.tlog.size), it retries once from that size.
func (s *WitnessSink) Publish(ctx context.Context, cp *SignedCheckpoint, log Prover) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for attempt := 0; attempt < 2; attempt++ {
		sigs, witnessSize, err := s.submit(ctx, cp, log, s.oldSize)
		if err != nil {
			return err
		}
		if witnessSize >= 0 {
			if witnessSize > cp.Size {
				return fmt.Errorf("auditlog: witness %s has cosigned size %d, beyond this checkpoint's %d", s.key.Name(), witnessSize, cp.Size)
			}
			s.oldSize = witnessSize
			continue
		}
		own, err := s.checkCosignatures(cp, sigs)
		if err != nil {
			return err
		}
		s.oldSize = cp.Size
		return log.AddCosignatures(ctx, cp.Checkpoint, own)
	}
	return fmt.Errorf("auditlog: witness %s: size conflict persists", s.key.Name())
}

// submit sends one add-checkpoint request. It returns the signature lines
// on 200, or the witness's size (>= 0) on a 409 size conflict.
func (s *WitnessSink) submit(ctx context.Context, cp *SignedCheckpoint, log Prover, oldSize int64) ([]byte, int64, error) {
	body, err := addCheckpointBody(ctx, cp, log, oldSize)
	if err != nil {
		return nil, -1, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.url, bytes.NewReader(body))
	if err != nil {
		return nil, -1, fmt.Errorf("auditlog: witness: %w", err)
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return nil, -1, fmt.Errorf("auditlog: witness %s: %w", s.key.Name(), err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxWitnessResponse))
	if err != nil {
		return nil, -1, fmt.Errorf("auditlog: witness %s: read response: %w", s.key.Name(), err)
	}
	switch {
	case resp.StatusCode == http.StatusOK:
		return data, -1, nil
	case resp.StatusCode == http.StatusConflict && resp.Header.Get("Content-Type") == "text/x.tlog.size":
		size, err := strconv.ParseInt(strings.TrimSuffix(string(data), "\n"), 10, 64)
		if err != nil || size < 0 {
			return nil, -1, fmt.Errorf("auditlog: witness %s: invalid size in 409 response", s.key.Name())
		}
		return nil, size, nil
	}
	return nil, -1, fmt.Errorf("auditlog: witness %s: add-checkpoint returned %s", s.key.Name(), resp.Status)
}

// addCheckpointBody builds "old N", the proof lines, an empty line and
// the signed checkpoint.
func addCheckpointBody(ctx context.Context, cp *SignedCheckpoint, log Prover, oldSize int64) ([]byte, error) {
	proof, err := log.ConsistencyProof(ctx, oldSize, cp.Size)
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "old %d\n", oldSize)
	for _, h := range proof {
		b.WriteString(h.String() + "\n")
	}
	b.WriteString("\n")
	b.Write(cp.Note)
	return b.Bytes(), nil
}

// checkCosignatures verifies that sigs contains a valid cosignature from
// the configured witness key over cp, and returns only the lines that
// are such a cosignature. Any other line a witness returns is dropped,
// because a line stored under another key's name that does not verify
// would make the stored checkpoint fail verification with that key.
func (s *WitnessSink) checkCosignatures(cp *SignedCheckpoint, sigs []byte) ([]byte, error) {
	var own []byte
	for _, line := range strings.SplitAfter(string(sigs), "\n") {
		if !strings.HasPrefix(line, "— ") || !strings.HasSuffix(line, "\n") {
			continue
		}
		n, err := note.Open([]byte(cp.Text()+"\n"+line), note.VerifierList(s.key))
		if err == nil && signedBy(n, s.key) {
			own = append(own, line...)
		}
	}
	if len(own) == 0 {
		return nil, fmt.Errorf("auditlog: witness %s returned no valid cosignature by its key", s.key.Name())
	}
	return own, nil
}

// AddCosignatures appends the signature lines in lines to the stored
// checkpoint matching cp (same size and root). Lines must be complete
// note signature lines. Duplicates of lines already stored are skipped.
func (l *Log) AddCosignatures(ctx context.Context, cp Checkpoint, lines []byte) error {
	l.cosignMu.Lock()
	defer l.cosignMu.Unlock()
	var stored *SignedCheckpoint
	err := l.checkpoints(ctx, sqlCheckpointsBySize, []any{cp.Size}, func(c *SignedCheckpoint) error {
		if stored == nil && c.Checkpoint == cp {
			stored = c
		}
		return nil
	})
	if err != nil {
		return err
	}
	if stored == nil {
		return fmt.Errorf("auditlog: no stored checkpoint of size %d with that root hash", cp.Size)
	}
	updated := append([]byte(nil), stored.Note...)
	for _, line := range strings.SplitAfter(string(lines), "\n") {
		if !strings.HasPrefix(line, "— ") || !strings.HasSuffix(line, "\n") {
			continue
		}
		if !bytes.Contains(updated, []byte(line)) {
			updated = append(updated, line...)
		}
	}
	if _, err := parseUnverified(updated); err != nil {
		return fmt.Errorf("auditlog: cosigned checkpoint does not parse: %w", err)
	}
	_, err = l.db.ExecContext(ctx, sqlUpdateCheckpointNote, updated, stored.ID)
	if err != nil {
		return fmt.Errorf("auditlog: store cosignatures: %w", err)
	}
	return nil
}
