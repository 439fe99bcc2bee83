// Package killswitch is the incident-response switch of the link. An
// administrator, or an alert rule, engages a cut; the gateway consults the
// switch on every request and refuses what a cut covers with 503.
//
// A cut has a mode and a scope:
//
//	mode full        every request in scope is refused; live connections of
//	                 the partners in scope are closed and their access tokens
//	                 issued before the cut stay revoked after it is released
//	mode read-only   only read, vread, search and capabilities pass; every
//	                 operation and every write is refused
//	mode writes-off  everything passes except interactions that create or
//	                 change data: create, update, patch, delete, batch or
//	                 transaction, and write operations such as Claim/$submit
//
// Outbound, both partial modes also refuse every request that sends the
// partner content: any method other than GET or HEAD, or a request with a
// body. A POST _search, a $validate or $inquire body, or a GET that
// carries a body would otherwise still take the payer's data to the
// partner while the link is meant to be limited to lookups. A GET search
// passes, so its criteria still reach the partner. A full cut stops those.
//
//	scope all                every partner and route
//	scope partner:ID         one partner
//	scope route:PATTERN      one interaction, in allowlist syntax (Claim/$submit),
//	                         also as an entry of a batch or transaction, which
//	                         the gateway passes to Check one by one
//
// and applies to one direction or both. Cuts are persisted in the shared
// database, so they survive restarts, and every replica on that database
// reloads them at least once per PollInterval. Each engage and release is
// also written to the exchange record by the caller.
package killswitch

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
	"unicode"

	"github.com/gatehouse-health/gatehouse/internal/fhirreq"
)

// Mode says how much a cut stops.
type Mode string

const (
	Full      Mode = "full"
	ReadOnly  Mode = "read-only"
	WritesOff Mode = "writes-off"
)

// Direction is the flow a cut applies to.
type Direction string

const (
	Inbound  Direction = "inbound"
	Outbound Direction = "outbound"
	Both     Direction = "both"
)

// Cut is one engaged kill-switch setting.
type Cut struct {
	ID        int64     `json:"id"`
	Mode      Mode      `json:"mode"`
	Scope     string    `json:"scope"` // all, partner:ID or route:PATTERN
	Direction Direction `json:"direction"`
	Reason    string    `json:"reason"`
	EngagedBy string    `json:"engaged_by"`
	EngagedAt time.Time `json:"engaged_at"`

	route []fhirreq.Pattern
}

// Validate checks the cut's fields and compiles its route pattern.
func (c *Cut) Validate() error {
	switch c.Mode {
	case Full, ReadOnly, WritesOff:
	default:
		return fmt.Errorf("killswitch: invalid mode %q: use full, read-only or writes-off", c.Mode)
	}
	switch c.Direction {
	case Inbound, Outbound, Both:
	case "":
		c.Direction = Both
	default:
		return fmt.Errorf("killswitch: invalid direction %q: use inbound, outbound or both", c.Direction)
	}
	if strings.TrimSpace(c.Reason) == "" {
		return errors.New("killswitch: a reason is required; it goes into the audit record")
	}
	if len(c.Reason) > 500 {
		return errors.New("killswitch: the reason is longer than 500 characters")
	}
	// Other administrators read the reason and the scope in a terminal
	// (killswitch status, audit show), where a control character or an
	// escape sequence would act, and a bidirectional override would
	// reorder the text.
	if strings.IndexFunc(c.Reason, isControlOrFormat) >= 0 {
		return errors.New("killswitch: the reason contains a control or formatting character; write it as plain text on one line")
	}
	if strings.IndexFunc(c.Scope, isControlOrFormat) >= 0 {
		return fmt.Errorf("killswitch: invalid scope %q: it contains a control or formatting character; use all, partner:ID or route:PATTERN", c.Scope)
	}
	return c.compileScope()
}

// isControlOrFormat reports whether r is a control character (Unicode
// category Cc, such as ESC or a line break) or a formatting one (Cf, such
// as a bidirectional override).
func isControlOrFormat(r rune) bool {
	return unicode.IsControl(r) || unicode.Is(unicode.Cf, r)
}

func (c *Cut) compileScope() error {
	switch kind, value, _ := strings.Cut(c.Scope, ":"); kind {
	case "all":
		if value != "" {
			return fmt.Errorf("killswitch: invalid scope %q: use all, partner:ID or route:PATTERN", c.Scope)
		}
	case "partner":
		if value == "" {
			return errors.New("killswitch: scope partner: needs a partner id")
		}
	case "route":
		pats, err := fhirreq.ParsePattern(value)
		if err != nil {
			return fmt.Errorf("killswitch: scope route: %w", err)
		}
		c.route = pats
	default:
		return fmt.Errorf("killswitch: invalid scope %q: use all, partner:ID or route:PATTERN", c.Scope)
	}
	return nil
}

// Partner returns the partner a partner-scoped cut names.
func (c *Cut) Partner() (string, bool) {
	id, ok := strings.CutPrefix(c.Scope, "partner:")
	return id, ok
}

// coversPartner reports whether the cut's scope includes every request of
// the partner (scope all or that partner).
func (c *Cut) coversPartner(partner string) bool {
	if c.Scope == "all" {
		return true
	}
	id, ok := c.Partner()
	return ok && id == partner
}

func (c *Cut) coversDirection(d Direction) bool { return c.Direction == Both || c.Direction == d }

// blocks reports whether the cut refuses req from partner. body reports
// whether the request carries a body.
func (c *Cut) blocks(partner string, d Direction, req *fhirreq.Request, body bool) bool {
	if !c.coversDirection(d) {
		return false
	}
	inScope := c.coversPartner(partner)
	for _, p := range c.route {
		if req != nil && p.Matches(req) {
			inScope = true
		}
	}
	if !inScope {
		return false
	}
	sendsContent := d == Outbound && (body || req != nil && req.Method != http.MethodGet && req.Method != http.MethodHead)
	switch c.Mode {
	case Full:
		return true
	case ReadOnly:
		return req == nil || !isRead(req) || sendsContent
	case WritesOff:
		return req == nil || isWrite(req) || sendsContent
	}
	return true
}

// readOperations are operations that change nothing on the server.
var readOperations = map[string]bool{"inquire": true, "member-match": true, "validate": true, "status": true, "events": true}

func isRead(req *fhirreq.Request) bool {
	switch req.Kind {
	case fhirreq.Read, fhirreq.VRead, fhirreq.SearchType, fhirreq.SearchSystem, fhirreq.Capabilities:
		return true
	}
	return false
}

// isWrite reports whether req may create or change data. Unknown
// operations count as writes.
func isWrite(req *fhirreq.Request) bool {
	switch req.Kind {
	case fhirreq.Create, fhirreq.Update, fhirreq.Patch, fhirreq.Delete, fhirreq.BatchTransaction:
		return true
	case fhirreq.OperationSystem, fhirreq.OperationType, fhirreq.OperationInstance:
		return !readOperations[req.Operation]
	}
	return false
}
