// Package record defines the exchange record, the evidence Gatehouse keeps
// of every request it receives, allowed or not, and the contract of the
// store that keeps it.
//
// An exchange produces one or two entries. A request that passes every
// check produces a request entry before anything is forwarded and a
// response entry once the upstream has answered; a refused request produces
// a single refusal entry holding the request and the OperationOutcome sent
// back. Entries are immutable once appended.
//
// Store contract: Append returns nil only once the entry is durably
// committed (it survives a crash of the process or of the machine) and has
// been assigned its sequence number. A Store MUST NOT return success for an
// entry it may lose. Callers MUST NOT release a response, or forward a
// request, whose entry has not been appended: if Append fails the gateway
// answers 503 and forwards nothing.
package record

import (
	"context"
	"errors"
	"time"
)

// Phase says which part of an exchange an entry records.
type Phase string

const (
	PhaseRequest  Phase = "request"  // allowed request, before forwarding
	PhaseResponse Phase = "response" // upstream response, before release
	PhaseRefusal  Phase = "refusal"  // refused request and its OperationOutcome
	PhaseControl  Phase = "control"  // an administrative change, such as a kill-switch cut
)

// Decision is the outcome of the authorization stages.
type Decision string

const (
	Allow Decision = "allow"
	Deny  Decision = "deny"
)

// Entry is one exchange record.
type Entry struct {
	Seq        int64 // assigned by Append; starts at 1
	ExchangeID string
	Phase      Phase
	Direction  string // "inbound" (partner to payer) or "outbound"

	Partner         string
	CertFingerprint string // SHA-256 of the verified client certificate, hex
	TokenID         string // jti of the access token, never the token
	Source          string // remote address of the connection

	Method string
	// Target is the request-target as received (path and query), with
	// "_count=N" appended when the gateway forwarded a search without
	// _count with the maximum count. Queries carry PHI in FHIR searches,
	// so it is kept here, in the record, and never in service logs. An
	// access_token query parameter is redacted.
	// The audit log stores the query string encrypted like the bodies, and
	// its Reader returns the path only.
	Target      string
	Interaction string // interaction in allowlist syntax, e.g. Claim/$submit
	Decision    Decision
	Rule        string // id of the rule that decided
	Reason      string // why, without request content
	Status      int    // HTTP status released to the client

	RequestType  string // media type of the request body
	RequestBody  []byte
	ResponseBody []byte
	// RequestSeq is the sequence number of the exchange's request entry,
	// which holds RequestBody in full, or 0. When it is set, a store may
	// keep only the body's length and digest in this entry and point
	// readers to the request entry. RequestBody must still be the same
	// bytes, so that the digest matches.
	RequestSeq int64

	Received      time.Time     // request fully received by the gateway
	UpstreamTime  time.Duration // time spent waiting for the upstream
	TotalTime     time.Duration // from Received to this entry
	RecordedAt    time.Time     // set by Append
	UpstreamState int           // upstream HTTP status, 0 when not forwarded
}

// Store appends entries durably. See the package documentation for the
// contract.
type Store interface {
	Append(ctx context.Context, e *Entry) (seq int64, err error)
}

// Filter selects entries for listing.
type Filter struct {
	ExchangeID string
	Partner    string
	AfterSeq   int64
	Limit      int
}

// Reader lists recorded entries, oldest first.
type Reader interface {
	List(ctx context.Context, f Filter) ([]Entry, error)
}

// ErrUnavailable is wrapped by Append errors when the store cannot accept
// entries; the gateway answers 503.
var ErrUnavailable = errors.New("record: store unavailable")
