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
	var cached Leaf
	target := &cached
	if !l.requests.leaf(index, target) {
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

// recentRequestSlots is the number of request entries recentRequests
// keeps, one slot per log index modulo this size. A response entry
// follows its request entry within the upstream timeout. An exchange
// appends at least two entries, so the slots span at most 4,096
// exchanges, about 10 s at 400 exchanges a second (an estimate, not a
// guarantee). An older request entry is read from the database.
const recentRequestSlots = 8192

// maxRecentExchangeID is the max length in bytes of an exchange id that
// recentRequests keeps. The gateway's ids are 32 hex digits. A request
// entry with a longer id is not kept, so its reference is checked from the
// database.
const maxRecentExchangeID = 32

// recentRequest is one slot of recentRequests. It contains no pointers, so
// the garbage collector does not scan the table.
type recentRequest struct {
	seq     int64 // the entry's index + 1, or 0 for an empty slot
	idLen   uint8
	id      [maxRecentExchangeID]byte
	request Body
}

// recentRequests keeps the fields a reference is checked against for the
// request entries a Log appended last. An entry is added only once its
// append returned success, so it is committed at that index. The table,
// about 1 MB, is allocated by the first add.
type recentRequests struct {
	mu    sync.Mutex
	slots *[recentRequestSlots]recentRequest
}

func (c *recentRequests) add(index int64, exchangeID string, body Body) {
	if len(exchangeID) > maxRecentExchangeID || index < 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.slots == nil {
		c.slots = new([recentRequestSlots]recentRequest)
	}
	s := &c.slots[index%recentRequestSlots]
	s.seq, s.idLen, s.request = index+1, uint8(len(exchangeID)), body
	copy(s.id[:], exchangeID)
}

// leaf fills out with the fields requestEntryMismatch compares of the
// request entry at index, and reports whether that entry is kept.
func (c *recentRequests) leaf(index int64, out *Leaf) bool {
	if index < 0 {
		return false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.slots == nil {
		return false
	}
	s := &c.slots[index%recentRequestSlots]
	if s.seq != index+1 {
		return false
	}
	*out = Leaf{Index: index, Request: s.request}
	out.Entry.Phase, out.Entry.ExchangeID = record.PhaseRequest, string(s.id[:s.idLen])
	return true
}
