package auditlog

import (
	"context"
	"database/sql"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/gatehouse-health/gatehouse/internal/record"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

const proofHeader = "c2sp.org/tlog-proof@v1\n"

// entryProofHeader starts an entry proof: a c2sp.org/tlog-proof preceded
// by the entry's canonical encoding (see the package documentation).
const entryProofHeader = "gatehouse.audit.proof/v2\n"

// maxProofLines is the longest inclusion proof of a tree of up to 2^63
// leaves.
const maxProofLines = 63

// maxTLogProofBytes is the maximum length of c2sp.org/tlog-proof text.
const maxTLogProofBytes = MaxCheckpointBytes + maxProofLines*64 + 256

// maxEntryBase64 is the length of MaxEntryBytes in padded base64.
const maxEntryBase64 = (MaxEntryBytes + 2) / 3 * 4

// MaxProofBytes is the maximum length of the text ParseProof accepts: an
// entry proof with an entry of MaxEntryBytes.
const MaxProofBytes = len(entryProofHeader) + len("entry \n\n") + maxEntryBase64 + maxTLogProofBytes

// ErrNotCovered is returned by Receipt when the entry exists but no
// checkpoint covers it yet.
var ErrNotCovered = errors.New("auditlog: no checkpoint covers the entry yet")

// ErrNotFound is returned by Receipt when the index is beyond the log.
var ErrNotFound = errors.New("auditlog: no entry at that index")

// Proof is an offline inclusion proof: c2sp.org/tlog-proof@v1, with the
// leaf hash in the extra field, and in an entry proof also the entry (see
// the package documentation).
type Proof struct {
	Index      int64
	LeafHash   tlog.Hash
	Hashes     tlog.RecordProof
	Checkpoint []byte // signed note, cosignatures included
	// Entry is the canonical encoding of the entry at Index, whose leaf
	// hash must be LeafHash. It is nil in a receipt, which proves only
	// that some entry with LeafHash is in the log.
	Entry []byte
}

// Format returns the text of p: c2sp.org/tlog-proof@v1, preceded by the
// entry proof header and the entry when p.Entry is set.
func (p *Proof) Format() []byte {
	var b strings.Builder
	if p.Entry != nil {
		b.WriteString(entryProofHeader)
		b.WriteString("entry " + base64.StdEncoding.EncodeToString(p.Entry) + "\n\n")
	}
	b.WriteString(proofHeader)
	b.WriteString("extra " + base64.StdEncoding.EncodeToString(p.LeafHash[:]) + "\n")
	b.WriteString("index " + strconv.FormatInt(p.Index, 10) + "\n")
	for _, h := range p.Hashes {
		b.WriteString(h.String() + "\n")
	}
	b.WriteString("\n")
	b.Write(p.Checkpoint)
	return []byte(b.String())
}

// ParseProof parses an entry proof or bare c2sp.org/tlog-proof@v1 text.
// It requires the extra line to hold a 32-byte leaf hash, as this log
// writes it. It does not check the entry against the leaf hash: CheckProof
// and OpenEntry do.
func ParseProof(text []byte) (*Proof, error) {
	if len(text) > MaxProofBytes {
		return nil, errors.New("auditlog: proof too long")
	}
	rest, isEntryProof := strings.CutPrefix(string(text), entryProofHeader)
	if !isEntryProof {
		return parseTLogProof(text)
	}
	line, tlogText, ok := strings.Cut(rest, "\n\n")
	encoded, hasEntry := strings.CutPrefix(line, "entry ")
	if !ok || !hasEntry {
		return nil, errors.New("auditlog: invalid entry proof: expected an entry line and an empty line after the header")
	}
	if len(encoded) > maxEntryBase64 {
		return nil, fmt.Errorf("auditlog: invalid entry proof: entry longer than %d bytes", MaxEntryBytes)
	}
	entry, err := base64.StdEncoding.Strict().DecodeString(encoded)
	if err != nil || len(entry) == 0 {
		return nil, errors.New("auditlog: invalid entry proof: the entry line must contain the base64 entry encoding")
	}
	// The length check above admits up to two bytes more than the cap,
	// the padding of the last base64 quantum.
	if len(entry) > MaxEntryBytes {
		return nil, fmt.Errorf("auditlog: invalid entry proof: entry longer than %d bytes", MaxEntryBytes)
	}
	p, err := parseTLogProof([]byte(tlogText))
	if err != nil {
		return nil, err
	}
	p.Entry = entry
	return p, nil
}

// parseTLogProof parses c2sp.org/tlog-proof@v1 text.
func parseTLogProof(text []byte) (*Proof, error) {
	if len(text) > maxTLogProofBytes {
		return nil, errors.New("auditlog: proof too long")
	}
	head, cp, ok := strings.Cut(string(text), "\n\n")
	if !ok || !strings.HasPrefix(head+"\n", proofHeader) {
		return nil, errors.New("auditlog: not a c2sp.org/tlog-proof@v1 proof")
	}
	lines := strings.Split(strings.TrimPrefix(head+"\n", proofHeader), "\n")
	lines = lines[:len(lines)-1]
	if len(lines) < 2 || len(lines)-2 > maxProofLines {
		return nil, errors.New("auditlog: proof: want extra, index and at most 63 hash lines")
	}
	p := &Proof{Checkpoint: []byte(cp)}
	leaf, err := parseB64Hash(strings.TrimPrefix(lines[0], "extra "))
	if err != nil || !strings.HasPrefix(lines[0], "extra ") {
		return nil, errors.New("auditlog: proof: extra line must hold the base64 leaf hash")
	}
	p.LeafHash = leaf
	idxText, ok := strings.CutPrefix(lines[1], "index ")
	p.Index, err = strconv.ParseInt(idxText, 10, 64)
	if !ok || err != nil || p.Index < 0 || strconv.FormatInt(p.Index, 10) != idxText {
		return nil, fmt.Errorf("auditlog: proof: invalid index line %q", lines[1])
	}
	for _, line := range lines[2:] {
		h, err := parseB64Hash(line)
		if err != nil {
			return nil, fmt.Errorf("auditlog: proof: invalid hash line %q", line)
		}
		p.Hashes = append(p.Hashes, h)
	}
	return p, nil
}

func parseB64Hash(s string) (tlog.Hash, error) {
	b, err := base64.StdEncoding.Strict().DecodeString(s)
	if err != nil || len(b) != tlog.HashSize {
		return tlog.Hash{}, errors.New("invalid hash")
	}
	return tlog.Hash(b), nil
}

// OpenEntry decodes the entry of an entry proof after checking that its
// leaf hash is p.LeafHash and its index p.Index. It returns ErrNoEntry for
// a proof without an entry. The entry is only as trustworthy as the
// inclusion of p.LeafHash, which CheckProof verifies.
func (p *Proof) OpenEntry() (*Leaf, error) {
	if p.Entry == nil {
		return nil, ErrNoEntry
	}
	if h := tlog.RecordHash(p.Entry); h != p.LeafHash {
		return nil, fmt.Errorf("auditlog: the entry's leaf hash is %s, not the proof's %s", h, p.LeafHash)
	}
	l, err := DecodeEntry(p.Entry)
	if err != nil {
		return nil, err
	}
	if l.Index != p.Index {
		return nil, fmt.Errorf("auditlog: the entry has index %d, not the proof's %d", l.Index, p.Index)
	}
	return l, nil
}

// ErrNoEntry is returned by OpenEntry for a proof that does not contain
// the entry, such as a receipt or a proof written before entry proofs.
var ErrNoEntry = errors.New("auditlog: the proof does not contain the entry")

// CheckProof verifies p with the log's key: the entry against the leaf
// hash when p contains one (OpenEntry), the checkpoint signature (and one by
// each of witnesses, if given), then the inclusion of p.LeafHash at
// p.Index. It needs no access to the log. For a proof without an entry,
// the caller must still compare p.LeafHash with the leaf hash it expects.
func CheckProof(p *Proof, logKey note.Verifier, witnesses ...note.Verifier) (Checkpoint, error) {
	return CheckProofByKeys(p, []note.Verifier{logKey}, witnesses...)
}

// CheckProofByKeys checks p as CheckProof does, for a log whose signing
// key was rotated. It accepts a checkpoint signed by any of the log keys
// in keys, such as that of a proof handed out before the rotation.
func CheckProofByKeys(p *Proof, keys []note.Verifier, witnesses ...note.Verifier) (Checkpoint, error) {
	if p.Entry != nil {
		if _, err := p.OpenEntry(); err != nil {
			return Checkpoint{}, err
		}
	}
	c, _, err := OpenCheckpointByKeys(p.Checkpoint, keys, witnesses...)
	if err != nil {
		return c, err
	}
	if p.Index >= c.Size {
		return c, fmt.Errorf("auditlog: index %d is outside the checkpoint's tree of size %d", p.Index, c.Size)
	}
	if err := tlog.CheckRecord(p.Hashes, c.Size, c.Hash, p.Index, p.LeafHash); err != nil {
		return c, fmt.Errorf("auditlog: inclusion proof of index %d: %w", p.Index, err)
	}
	return c, nil
}

// Receipt returns the inclusion proof of the entry at index against the
// latest checkpoint. It returns ErrNotFound when the log has no such entry
// and ErrNotCovered while no checkpoint covers it.
func (r *Reader) Receipt(ctx context.Context, index int64) (*Proof, error) {
	p, _, err := r.receipt(ctx, index)
	return p, err
}

// ErrNotPartyToEntry is returned by PartnerReceipt when the entry at the
// index exists but records no exchange of the partner. It wraps
// ErrNotFound, because a partner must get the same response for another
// party's entry as for an index beyond the log.
var ErrNotPartyToEntry = fmt.Errorf("%w: the entry records no exchange of this partner", ErrNotFound)

// PartnerReceipt returns the receipt of the entry at index for partner:
// only an entry of one of the partner's exchanges (its Partner field is
// partner and its phase is request, response or refusal) has one. A
// control entry, such as a kill-switch cut of that partner, has none. It
// checks the owner before the checkpoint, so a 202 for an uncovered entry
// cannot reveal another party's entry either.
func (r *Reader) PartnerReceipt(ctx context.Context, index int64, partner string) (*Proof, error) {
	row, err := r.Row(ctx, index)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	e := &row.Leaf.Entry
	if partner == "" || e.Partner != partner || e.Phase == record.PhaseControl {
		return nil, ErrNotPartyToEntry
	}
	return r.receiptOf(ctx, row)
}

// EntryProof returns the receipt of the entry at index with the entry's
// encoding, so that a holder of the bodies can check them against it
// (Proof.OpenEntry). It returns the errors of Receipt. The encoding contains
// every signed field, the request-target with its query string included.
func (r *Reader) EntryProof(ctx context.Context, index int64) (*Proof, error) {
	p, row, err := r.receipt(ctx, index)
	if err != nil {
		return nil, err
	}
	p.Entry = row.Encoded
	return p, nil
}

// receipt returns the receipt of the entry at index and its row, whose
// encoding gives the receipt's leaf hash.
func (r *Reader) receipt(ctx context.Context, index int64) (*Proof, *Row, error) {
	row, err := r.Row(ctx, index)
	if err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return nil, nil, ErrNotFound
		}
		return nil, nil, err
	}
	p, err := r.receiptOf(ctx, row)
	return p, row, err
}

// receiptOf returns the receipt of row against the latest checkpoint.
func (r *Reader) receiptOf(ctx context.Context, row *Row) (*Proof, error) {
	index := row.Leaf.Index
	cp, err := r.LatestCheckpoint(ctx)
	if errors.Is(err, ErrNoCheckpoint) || (err == nil && cp.Size <= index) {
		return nil, ErrNotCovered
	}
	if err != nil {
		return nil, err
	}
	hashes, err := r.InclusionProof(ctx, index, cp.Size)
	if err != nil {
		return nil, err
	}
	return &Proof{Index: index, LeafHash: tlog.RecordHash(row.Encoded), Hashes: hashes, Checkpoint: cp.Note}, nil
}
