package auditlog

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/gatehouse-health/gatehouse/internal/record"
)

// entryPrefix starts every canonical entry encoding and names its
// version. Version 2 added request bodies kept in the request entry
// (Body.InRequestEntry) and the request_entry field that names it.
// Version 3 keeps the query string of the request-target encrypted in
// query_ct, out of the clear target field. Version 4 commits to the age
// file of the key-encryption key in kek_sha256. DecodeEntry reads every
// version, and EncodeEntry writes the version a Leaf names. Every prefix
// has the same length.
const (
	entryPrefix   = "gatehouse.audit.entry/v4\n"
	entryPrefixV3 = "gatehouse.audit.entry/v3\n"
	entryPrefixV2 = "gatehouse.audit.entry/v2\n"
	entryPrefixV1 = "gatehouse.audit.entry/v1\n"
)

// minQueryCiphertext is the length of the shortest query ciphertext: a
// nonce, one byte of query and the AES-GCM tag.
const minQueryCiphertext = nonceSize + 1 + 16

const (
	// MaxFieldBytes is the maximum length of one string field of an entry.
	MaxFieldBytes = 64 << 10
	// MaxEntryBytes is the maximum length of an encoded entry. It is above
	// the sum of the field caps, so it only guards DecodeEntry's input.
	MaxEntryBytes = 1 << 20
)

// ErrMalformedEntry is wrapped by DecodeEntry errors.
var ErrMalformedEntry = errors.New("auditlog: malformed entry")

// Body is the commitment a leaf makes to one request or response body.
type Body struct {
	Size             int64    // plaintext length in bytes
	SHA256           [32]byte // of the plaintext; zero when Size is 0
	CiphertextSHA256 [32]byte // of the stored ciphertext; zero when Size is 0 or InRequestEntry
}

// InRequestEntry reports whether the body is the request of an exchange
// whose request entry (Leaf.RequestEntry) holds it: the leaf commits to
// its length and plaintext hash, and no ciphertext is stored with the
// entry. Its ciphertext hash is 32 zero bytes, which SHA-256 yields for no
// known input.
func (b *Body) InRequestEntry() bool {
	return b.Size > 0 && b.CiphertextSHA256 == [32]byte{}
}

// Leaf is the decoded form of the canonical entry encoding described in
// the package documentation.
type Leaf struct {
	// Version is the encoding's format version, 1 to 4. Zero encodes as
	// the current version, 4.
	Version int
	Index   int64
	// Entry holds every record field. Seq is Index+1. RequestBody and
	// ResponseBody are always nil, as the leaf only commits to them. From
	// version 3 on Entry.Target is the path only, and the query string is in
	// QueryCiphertext.
	Entry            record.Entry
	Request          Body
	Response         Body
	WrappedKeySHA256 [32]byte
	// RequestEntry is the leaf index of the exchange's request entry when
	// that entry holds the request body (Request.InRequestEntry), else 0.
	RequestEntry int64
	// QueryCiphertext is the query string of the request-target sealed
	// like a body (part "query"), or nil when the target has none. Only
	// versions 3 and 4 have it.
	QueryCiphertext []byte
	// KEKSHA256 is the SHA-256 of the age file of the key-encryption key
	// that wraps the entry's data key, as stored in audit_keks. Only
	// version 4 has it, and zero elsewhere.
	KEKSHA256 [32]byte
}

// HasQuery reports whether the recorded request-target had a query
// string, in clear text (versions 1 and 2) or encrypted (versions 3 and 4).
func (l *Leaf) HasQuery() bool {
	return len(l.QueryCiphertext) > 0 || strings.Contains(l.Entry.Target, "?")
}

// EncodeEntry returns the canonical encoding of l. It fails when a string
// field is longer than MaxFieldBytes or a number is out of range.
func EncodeEntry(l *Leaf) ([]byte, error) {
	e := &l.Entry
	if l.Index < 0 || e.Status < 0 || e.Status > 1<<31 || e.UpstreamState < 0 || e.UpstreamState > 1<<31 {
		return nil, errors.New("auditlog: entry index or status out of range")
	}
	if l.Request.Size < 0 || l.Response.Size < 0 {
		return nil, errors.New("auditlog: negative body size")
	}
	prefix, version, err := leafPrefix(l.Version)
	if err != nil {
		return nil, err
	}
	if msg := checkBodyRefs(version, l.Index, string(e.Phase), &l.Request, &l.Response, l.RequestEntry); msg != "" {
		return nil, errors.New("auditlog: " + msg)
	}
	if msg := checkQuery(version, []byte(e.Target), l.QueryCiphertext); msg != "" {
		return nil, errors.New("auditlog: " + msg)
	}
	if version < 4 && l.KEKSHA256 != ([32]byte{}) {
		return nil, fmt.Errorf("auditlog: a version %d entry cannot commit to a key-encryption key", version)
	}
	strs := entryStrings(e)
	n := len(prefix) + 8*2 + 4*len(strs) + 4*2 + 8*3 + 2*(8+64) + 32 + 8 + 4 + len(l.QueryCiphertext) + 32
	for _, s := range strs {
		if len(*s) > MaxFieldBytes {
			return nil, fmt.Errorf("auditlog: entry field of %d bytes exceeds %d", len(*s), MaxFieldBytes)
		}
		n += len(*s)
	}

	b := make([]byte, 0, n)
	b = append(b, prefix...)
	b = binary.BigEndian.AppendUint64(b, uint64(l.Index))
	b = binary.BigEndian.AppendUint64(b, uint64(unixNano(e.RecordedAt)))
	for _, s := range strs {
		b = binary.BigEndian.AppendUint32(b, uint32(len(*s)))
		b = append(b, *s...)
	}
	b = binary.BigEndian.AppendUint32(b, uint32(e.Status))
	b = binary.BigEndian.AppendUint32(b, uint32(e.UpstreamState))
	b = binary.BigEndian.AppendUint64(b, uint64(unixNano(e.Received)))
	b = binary.BigEndian.AppendUint64(b, uint64(e.UpstreamTime))
	b = binary.BigEndian.AppendUint64(b, uint64(e.TotalTime))
	b = appendBody(b, &l.Request)
	b = appendBody(b, &l.Response)
	b = append(b, l.WrappedKeySHA256[:]...)
	if version >= 2 {
		b = binary.BigEndian.AppendUint64(b, uint64(l.RequestEntry))
	}
	if version >= 3 {
		b = binary.BigEndian.AppendUint32(b, uint32(len(l.QueryCiphertext)))
		b = append(b, l.QueryCiphertext...)
	}
	if version >= 4 {
		b = append(b, l.KEKSHA256[:]...)
	}
	return b, nil
}

// leafPrefix returns the encoding prefix of a format version, and the
// version itself, with 0 meaning the current one.
func leafPrefix(version int) (string, int, error) {
	switch version {
	case 0, 4:
		return entryPrefix, 4, nil
	case 3:
		return entryPrefixV3, 3, nil
	case 2:
		return entryPrefixV2, 2, nil
	case 1:
		return entryPrefixV1, 1, nil
	}
	return "", 0, fmt.Errorf("auditlog: unknown entry format version %d", version)
}

// checkQuery returns what is wrong with the target and query ciphertext
// of an entry of version, or "". From version 3 on a target holds no
// query string, so that none is ever stored in clear text, and a query
// ciphertext is long enough to hold a sealed, non-empty query. Older
// versions have no query ciphertext.
func checkQuery(version int, target, queryCiphertext []byte) string {
	switch {
	case version < 3 && len(queryCiphertext) > 0:
		return "only a version 3 or later entry has a query ciphertext"
	case version < 3:
		return ""
	case bytes.IndexByte(target, '?') >= 0:
		return "a version 3 or later target must not contain a query string"
	case len(queryCiphertext) > 0 && len(queryCiphertext) < minQueryCiphertext:
		return fmt.Sprintf("query ciphertext of %d bytes is shorter than %d", len(queryCiphertext), minQueryCiphertext)
	case len(queryCiphertext) > MaxFieldBytes:
		return fmt.Sprintf("query ciphertext of %d bytes exceeds %d", len(queryCiphertext), MaxFieldBytes)
	}
	return ""
}

// checkBodyRefs returns what is wrong with the reference of the entry at
// index to its request entry, or "". Only version 2 has references, only
// for the request body, only in a response or refusal entry, and only to
// an earlier entry. Without a reference, requestEntry is 0.
func checkBodyRefs(version int, index int64, phase string, request, response *Body, requestEntry int64) string {
	switch {
	case response.InRequestEntry():
		return "a response body cannot be kept in the request entry"
	case !request.InRequestEntry():
		if requestEntry != 0 {
			return "request_entry is set, but the request body is stored with the entry"
		}
		return ""
	case version == 1:
		return "a version 1 entry cannot keep its request body elsewhere"
	case phase != string(record.PhaseResponse) && phase != string(record.PhaseRefusal):
		return "only a response or refusal entry may keep its request body in the request entry"
	case requestEntry < 0 || requestEntry >= index:
		return fmt.Sprintf("request_entry %d is not an earlier entry", requestEntry)
	}
	return ""
}

// entryStrings lists the string fields of e in encoding order. Phase and
// Decision are converted through the pointer casts below.
func entryStrings(e *record.Entry) []*string {
	return []*string{
		&e.ExchangeID, (*string)(&e.Phase), &e.Direction, &e.Partner,
		&e.CertFingerprint, &e.TokenID, &e.Source, &e.Method, &e.Target,
		&e.Interaction, (*string)(&e.Decision), &e.Rule, &e.Reason, &e.RequestType,
	}
}

func appendBody(b []byte, body *Body) []byte {
	b = binary.BigEndian.AppendUint64(b, uint64(body.Size))
	if body.Size == 0 {
		return b
	}
	b = append(b, body.SHA256[:]...)
	return append(b, body.CiphertextSHA256[:]...)
}

// DecodeEntry parses a canonical entry encoding. It accepts exactly the
// byte strings EncodeEntry produces.
func DecodeEntry(data []byte) (*Leaf, error) {
	var f entryFields
	if err := parseEntry(data, &f); err != nil {
		return nil, err
	}
	l := &Leaf{Version: f.version, Index: f.index, Request: f.request, Response: f.response,
		WrappedKeySHA256: f.wrappedKeySHA256, RequestEntry: f.requestEntry, KEKSHA256: f.kekSHA256}
	if len(f.queryCiphertext) > 0 {
		l.QueryCiphertext = bytes.Clone(f.queryCiphertext)
	}
	e := &l.Entry
	e.RecordedAt = fromUnixNano(f.recordedNS)
	for i, s := range entryStrings(e) {
		*s = string(f.strs[i])
	}
	e.Status = int(f.status)
	e.UpstreamState = int(f.upstreamState)
	e.Received = fromUnixNano(f.receivedNS)
	e.UpstreamTime = time.Duration(f.upstreamTime)
	e.TotalTime = time.Duration(f.totalTime)
	e.Seq = l.Index + 1
	if l.Request.InRequestEntry() {
		e.RequestSeq = l.RequestEntry + 1
	}
	return l, nil
}

// entryFields is a parsed entry encoding. The string fields are subslices
// of the encoding, so parsing allocates nothing. strs follows the order of
// entryStrings.
type entryFields struct {
	version          int
	index            int64
	recordedNS       int64
	strs             [entryStringCount][]byte
	status           uint32
	upstreamState    uint32
	receivedNS       int64
	upstreamTime     int64
	totalTime        int64
	request          Body
	response         Body
	wrappedKeySHA256 [32]byte
	requestEntry     int64
	queryCiphertext  []byte
	kekSHA256        [32]byte // zero before version 4
}

// The positions in entryFields.strs of the fields that have query columns.
const (
	fieldExchangeID  = 0
	fieldPhase       = 1
	fieldPartner     = 3
	fieldTarget      = 8
	fieldDecision    = 10
	entryStringCount = 14
)

// parseEntry parses data into f with every check DecodeEntry makes. It
// clears f first, because verification reuses one f for every row, and a
// field that an older version lacks must not keep the previous row's value.
func parseEntry(data []byte, f *entryFields) error {
	*f = entryFields{}
	if len(data) > MaxEntryBytes {
		return fmt.Errorf("%w: %d bytes exceeds %d", ErrMalformedEntry, len(data), MaxEntryBytes)
	}
	d := decoder{buf: data}
	switch string(d.bytes(len(entryPrefix))) {
	case entryPrefix:
		f.version = 4
	case entryPrefixV3:
		f.version = 3
	case entryPrefixV2:
		f.version = 2
	case entryPrefixV1:
		f.version = 1
	default:
		return fmt.Errorf("%w: unknown format or version", ErrMalformedEntry)
	}
	f.index = d.int64()
	f.recordedNS = d.int64()
	for i := range f.strs {
		f.strs[i] = d.string()
	}
	f.status = d.uint32()
	f.upstreamState = d.uint32()
	f.receivedNS = d.int64()
	f.upstreamTime = d.int64()
	f.totalTime = d.int64()
	f.request = d.body()
	f.response = d.body()
	copy(f.wrappedKeySHA256[:], d.bytes(32))
	if f.version >= 2 {
		f.requestEntry = d.int64()
	}
	if f.version >= 3 {
		f.queryCiphertext = d.string()
	}
	if f.version >= 4 {
		copy(f.kekSHA256[:], d.bytes(32))
	}
	if err := d.finish(); err != nil {
		return err
	}
	if f.index < 0 || f.status > 1<<31 || f.upstreamState > 1<<31 {
		return fmt.Errorf("%w: index or status out of range", ErrMalformedEntry)
	}
	if msg := checkBodyRefs(f.version, f.index, string(f.strs[fieldPhase]), &f.request, &f.response, f.requestEntry); msg != "" {
		return fmt.Errorf("%w: %s", ErrMalformedEntry, msg)
	}
	if msg := checkQuery(f.version, f.strs[fieldTarget], f.queryCiphertext); msg != "" {
		return fmt.Errorf("%w: %s", ErrMalformedEntry, msg)
	}
	return nil
}

// decoder reads big-endian fields. The first failure is kept in err, and
// later reads return zero values.
type decoder struct {
	buf []byte
	err error
}

func (d *decoder) bytes(n int) []byte {
	if d.err != nil {
		return nil
	}
	if n < 0 || n > len(d.buf) {
		d.err = fmt.Errorf("%w: truncated", ErrMalformedEntry)
		return nil
	}
	b := d.buf[:n]
	d.buf = d.buf[n:]
	return b
}

func (d *decoder) uint32() uint32 {
	if b := d.bytes(4); b != nil {
		return binary.BigEndian.Uint32(b)
	}
	return 0
}

func (d *decoder) int64() int64 {
	if b := d.bytes(8); b != nil {
		return int64(binary.BigEndian.Uint64(b))
	}
	return 0
}

// string returns a length-prefixed field as a subslice of the input.
func (d *decoder) string() []byte {
	n := d.uint32()
	if n > MaxFieldBytes && d.err == nil {
		d.err = fmt.Errorf("%w: field of %d bytes exceeds %d", ErrMalformedEntry, n, MaxFieldBytes)
	}
	return d.bytes(int(n))
}

func (d *decoder) body() Body {
	var b Body
	b.Size = d.int64()
	if b.Size < 0 && d.err == nil {
		d.err = fmt.Errorf("%w: negative body size", ErrMalformedEntry)
	}
	if b.Size > 0 {
		copy(b.SHA256[:], d.bytes(32))
		copy(b.CiphertextSHA256[:], d.bytes(32))
	}
	return b
}

func (d *decoder) finish() error {
	if d.err == nil && len(d.buf) != 0 {
		d.err = fmt.Errorf("%w: %d trailing bytes", ErrMalformedEntry, len(d.buf))
	}
	return d.err
}

// unixNano maps the zero time to 0, as time.Time.UnixNano is undefined for it.
func unixNano(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

func fromUnixNano(ns int64) time.Time {
	if ns == 0 {
		return time.Time{}
	}
	return time.Unix(0, ns)
}

// digest returns the SHA-256 of b as a fixed array.
func digest(b []byte) [32]byte { return sha256.Sum256(b) }
