package auditlog

import (
	"context"
	"errors"
	"fmt"

	"github.com/gatehouse-health/gatehouse/internal/record"
)

// An exchange's request entry holds its request body, and a later
// response or refusal entry of the exchange may name it (Leaf.RequestEntry)
// instead of storing the body again. The functions here check such a
// reference wherever it is written or read.

// requestEntryMismatch returns what keeps target from being the request
// entry that holds body for the exchange exchangeID, or "".
func requestEntryMismatch(target *Leaf, exchangeID string, body *Body) string {
	e := &target.Entry
	switch {
	case e.Phase != record.PhaseRequest:
		return fmt.Sprintf("entry %d is a %s entry, not a request entry", target.Index, e.Phase)
	case e.ExchangeID != exchangeID:
		return fmt.Sprintf("entry %d belongs to another exchange", target.Index)
	case target.Request.Size != body.Size || target.Request.SHA256 != body.SHA256 || target.Request.InRequestEntry():
		return fmt.Sprintf("entry %d holds another request body", target.Index)
	}
	return ""
}

// checkRequestEntry checks, before e is queued, that the entry numbered
// e.RequestSeq is the exchange's request entry and holds the request body
// whose SHA-256 is sum, so that no entry names a body the log lacks.
func (l *Log) checkRequestEntry(ctx context.Context, e *record.Entry, sum [32]byte) error {
	index := e.RequestSeq - 1
	var encoded []byte
	if err := l.db.QueryRowContext(ctx, sqlReadEntryEncoding, index).Scan(&encoded); err != nil {
		return fmt.Errorf("auditlog: append: the request entry %d: %w", index, err)
	}
	target, err := DecodeEntry(encoded)
	if err != nil {
		return fmt.Errorf("auditlog: append: the request entry %d: %w", index, err)
	}
	body := Body{Size: int64(len(e.RequestBody)), SHA256: sum}
	if problem := requestEntryMismatch(target, e.ExchangeID, &body); problem != "" {
		return errors.New("auditlog: append: the request body is not in the named request entry: " + problem)
	}
	return nil
}

// openRecordedRequest decrypts the request body that row keeps in its
// exchange's request entry. A shredded request entry leaves out.Request
// nil and sets out.RequestShredded.
func (d *Decrypter) openRecordedRequest(ctx context.Context, row *Row, out *Bodies) error {
	index := row.Leaf.Index
	target, err := d.r.Row(ctx, row.Leaf.RequestEntry)
	if err != nil {
		return fmt.Errorf("auditlog: entry %d: its request entry: %w", index, err)
	}
	if problem := requestEntryMismatch(&target.Leaf, row.Leaf.Entry.ExchangeID, &row.Leaf.Request); problem != "" {
		return fmt.Errorf("auditlog: entry %d: request body not found: %s", index, problem)
	}
	out.RequestIndex = target.Leaf.Index
	bodies, err := d.Open(ctx, target)
	if errors.Is(err, ErrShredded) {
		out.RequestShredded = true
		return nil
	}
	if err != nil {
		return err
	}
	out.Request = bodies.Request
	return nil
}
