package auditlog

import (
	"context"
	"errors"
	"fmt"
	"sync"

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
	// A request entry stores its own body, since the decoder rejects one
	// that names another entry, so the commitment alone is compared.
	case target.Request.Size != body.Size || target.Request.SHA256 != body.SHA256:
		return fmt.Sprintf("entry %d holds another request body", target.Index)
	}
	return ""
}

// checkRequestEntry checks, before e is queued, that the entry numbered
// e.RequestSeq is the exchange's request entry and holds the request body
// whose SHA-256 is sum, so that no entry names a body the log lacks. A
// request entry this log appended recently is checked from memory, any
// other one from the database.
func (l *Log) checkRequestEntry(ctx context.Context, e *record.Entry, sum [32]byte) error {
	index := e.RequestSeq - 1
	target := l.requests.leaf(index)
	if target == nil {
		var encoded []byte
		if err := l.db.QueryRowContext(ctx, sqlReadEntryEncoding, index).Scan(&encoded); err != nil {
			return fmt.Errorf("auditlog: append: the request entry %d: %w", index, err)
		}
		var err error
		if target, err = DecodeEntry(encoded); err != nil {
			return fmt.Errorf("auditlog: append: the request entry %d: %w", index, err)
		}
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

// maxRecentRequests bounds recentRequests. A response entry follows its
// request entry within the upstream timeout. At 400 exchanges a second,
// 4096 entries span about 10 s (an estimate, not a guarantee), and an
// older request entry is read from the database.
const maxRecentRequests = 4096

// recentRequests keeps the fields a reference is checked against for the
// request entries a Log appended last. An entry is added only once its
// append returned success, so it is committed at that index.
type recentRequests struct {
	mu     sync.Mutex
	leaves map[int64]*Leaf
	order  []int64 // indexes in the order added, oldest first
}

func (c *recentRequests) add(index int64, exchangeID string, body Body) {
	l := &Leaf{Index: index, Request: body}
	l.Entry.Phase, l.Entry.ExchangeID = record.PhaseRequest, exchangeID
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.leaves == nil {
		c.leaves = make(map[int64]*Leaf, maxRecentRequests)
	}
	if len(c.order) == maxRecentRequests {
		delete(c.leaves, c.order[0])
		c.order = c.order[1:]
	}
	c.leaves[index] = l
	c.order = append(c.order, index)
}

// leaf returns the request entry at index, or nil when it is not kept.
func (c *recentRequests) leaf(index int64) *Leaf {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.leaves[index]
}
