package payer

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"

	jsonv2 "github.com/go-json-experiment/json"

	"github.com/gatehouse-health/gatehouse/internal/outcome"
	"github.com/gatehouse-health/gatehouse/internal/pas"
)

// maxSaveAttempts bounds how often a submission that lost a race with a
// concurrent one is planned and saved again.
const maxSaveAttempts = 3

var (
	// errIdentifierInUse: the Claim identifier belongs to an authorization
	// of another partner, provider or patient (409).
	errIdentifierInUse = errors.New("payer: claim identifier in use")
	// errPriorUnknown: Claim.related names a prior request this payer does
	// not hold for the same partner, provider and patient (422).
	errPriorUnknown = errors.New("payer: prior authorization not found")
)

func (s *Service) handleSubmit(w http.ResponseWriter, r *http.Request) {
	body, ok := s.readBody(w, r)
	if !ok {
		return
	}
	req, err := pas.ParseRequest(body)
	if err != nil {
		failBundle(w, err)
		return
	}

	covered, err := s.coversPatient(r.Context(), req)
	if err != nil {
		s.log.Error("payer: $submit member lookup failed", "error", err)
		fail(w, http.StatusInternalServerError, outcome.CodeException, "the member lookup failed; retry later")
		return
	}
	if !covered {
		s.rejectSubmission(w, req)
		return
	}

	resp, err := s.submit(r.Context(), req, r.Header.Get(PartnerHeader))
	switch {
	case errors.Is(err, errIdentifierInUse):
		s.log.Info("payer: $submit rejected", "status", http.StatusConflict, "reason", "claim identifier in use")
		fail(w, http.StatusConflict, outcome.CodeConflict,
			"the Claim identifier already belongs to a prior authorization request of another submitter or patient; use a new identifier",
			req.Claim.Path()+".identifier")
	case errors.Is(err, errPriorUnknown):
		s.log.Info("payer: $submit rejected", "status", http.StatusUnprocessableEntity, "reason", "prior authorization not found")
		fail(w, http.StatusUnprocessableEntity, outcome.CodeBusinessRule,
			"the prior authorization request that Claim.related names is not known to this payer",
			req.Claim.Path()+".related")
	case err != nil:
		s.log.Error("payer: $submit failed", "error", err)
		fail(w, http.StatusInternalServerError, outcome.CodeException, "the request could not be recorded; retry later")
	default:
		writeFHIRString(w, resp)
	}
}

// rejectSubmission responds to a $submit whose patient is not a member as
// a PAS payer responds to a 278 request for an unknown subscriber: 200
// with a ClaimResponse whose outcome is "error" and whose error is AAA 75. The
// service records no authorization, so $inquire finds none, and the
// gateway links neither the patient nor the claim to the partner.
func (s *Service) rejectSubmission(w http.ResponseWriter, req *pas.Request) {
	resp, err := pas.BuildRejection(req, pas.SubscriberNotFound(s.newID(), s.now()))
	if err != nil {
		s.log.Error("payer: $submit rejection failed", "error", err)
		fail(w, http.StatusInternalServerError, outcome.CodeException, "the rejection response could not be built; retry later")
		return
	}
	s.log.Info("payer: $submit rejected", "status", http.StatusOK, "reason", "subscriber not found")
	writeFHIRString(w, resp)
}

// submit records req and returns the response Bundle, or the stored one
// when the same request was recorded before (see the package doc).
func (s *Service) submit(ctx context.Context, req *pas.Request, partner string) (string, error) {
	hash := fingerprint(req, partner)
	for attempt := 1; ; attempt++ {
		stored, found, err := s.store.replay(ctx, req.Key(), hash)
		if err != nil || found {
			return stored, err
		}
		auth, isNew, err := s.authorizationFor(ctx, req, partner)
		if err != nil {
			return "", err
		}
		sub, err := s.adjudicate(req, auth, isNew, hash)
		if err != nil {
			return "", err
		}

		err = s.store.save(ctx, sub)
		if err == nil {
			return sub.response, nil
		}
		if attempt == maxSaveAttempts || ctx.Err() != nil {
			return "", err
		}
	}
}

// authorizationFor finds the authorization a new submission belongs to:
// the one its Claim identifiers are bound to (a revision), else the one
// its Claim.related prior Claim is bound to (an update), else a new one.
func (s *Service) authorizationFor(ctx context.Context, req *pas.Request, partner string) (*authorization, bool, error) {
	owner := &authorization{partner: partner, providerKey: req.Provider.Key(), patientKey: req.Patient.Key()}

	bound, err := s.boundAuthorization(ctx, partner, req.Identifiers)
	if err != nil {
		return nil, false, err
	}
	if bound != nil {
		if !sameOwner(bound, owner) {
			return nil, false, errIdentifierInUse
		}
		return bound, false, nil
	}

	if len(req.Prior) > 0 {
		prior, err := s.boundAuthorization(ctx, partner, req.Prior)
		if err != nil {
			return nil, false, err
		}
		if prior == nil || !sameOwner(prior, owner) {
			return nil, false, errPriorUnknown
		}
		return prior, false, nil
	}

	owner.preAuthRef = preAuthRef(s.newID())
	return owner, true, nil
}

// boundAuthorization returns the authorization the partner's identifiers
// are bound to, nil when none is, and errIdentifierInUse when they are
// bound to two different ones. Other partners' identifiers play no part.
func (s *Service) boundAuthorization(ctx context.Context, partner string, ids []pas.Identifier) (*authorization, error) {
	var found *authorization
	for _, id := range ids {
		a, err := s.store.authorizationFor(ctx, partner, id)
		if err != nil {
			return nil, err
		}
		switch {
		case a == nil:
		case found == nil:
			found = a
		case found.preAuthRef != a.preAuthRef:
			return nil, errIdentifierInUse
		}
	}
	return found, nil
}

func sameOwner(a, b *authorization) bool {
	return a.partner == b.partner && a.providerKey == b.providerKey && a.patientKey == b.patientKey
}

// adjudicate decides every item and builds the response Bundle. Cancelled
// items get review action C, and the rules decide the others. Each item's
// review number is the preAuthRef followed by the item sequence.
func (s *Service) adjudicate(req *pas.Request, auth *authorization, isNew bool, hash string) (*submission, error) {
	sub := &submission{
		id:         s.newID(),
		auth:       auth,
		isNew:      isNew,
		key:        req.Key(),
		claimKeys:  req.Identifiers,
		hash:       hash,
		receivedAt: s.now(),
		patientRef: referenceOf(req.Patient.Reference),
	}
	sub.pendThen, sub.pendDelay, _ = s.rules.PendThen()
	var ds []pas.Decision
	for _, it := range req.Items {
		action := pas.Cancelled
		if !it.Cancelled {
			action = s.rules.Decide(it.ProductOrService)
		}
		ds = append(ds, pas.Decision{Sequence: it.Sequence, Action: action, Number: auth.preAuthRef + "-" + strconv.Itoa(it.Sequence)})
		sub.decisions = append(sub.decisions, itemDecision{sequence: it.Sequence, coding: firstCoding(it), action: action})
	}

	resp, err := pas.BuildResponse(req, pas.Adjudication{ID: sub.id, PreAuthRef: auth.preAuthRef, Created: sub.receivedAt, Decisions: ds})
	if err != nil {
		return nil, err
	}
	sub.response = resp
	sub.outcome = pas.Outcome(ds)
	return sub, nil
}

func firstCoding(it pas.Item) pas.Coding {
	if len(it.ProductOrService) == 0 {
		return pas.Coding{}
	}
	return it.ProductOrService[0]
}

// preAuthRef derives an authorization number such as "PA-3F2A9C0D41B7E655"
// from a fresh UUID: 64 random bits, short enough to read out on a call.
func preAuthRef(uuid string) string {
	hexDigits := strings.ToUpper(strings.ReplaceAll(uuid, "-", ""))
	if len(hexDigits) > 16 {
		hexDigits = hexDigits[len(hexDigits)-16:]
	}
	return "PA-" + hexDigits
}

// fingerprint returns the hex SHA-256 of what a decision depends on. That
// is the partner and the Claim, patient, provider, insurer and prior Claim
// identifiers, plus each item's sequence, productOrService codings,
// certification type and cancellation. Timestamps, narrative and the
// Bundle identifier are left out, so a retry that regenerates them still
// matches.
func fingerprint(req *pas.Request, partner string) string {
	type item struct {
		Sequence      int
		Codes         []pas.Coding
		Certification string
		Cancelled     bool
	}
	fp := struct {
		Partner                    string
		Claim, Prior               []pas.Identifier
		Patient, Provider, Insurer []pas.Identifier
		Items                      []item
	}{
		Partner: partner, Claim: req.Identifiers, Prior: req.Prior,
		Patient: req.Patient.Identifiers, Provider: req.Provider.Identifiers, Insurer: req.Insurer.Identifiers,
	}
	for _, it := range req.Items {
		codes := make([]pas.Coding, 0, len(it.ProductOrService))
		for _, c := range it.ProductOrService {
			codes = append(codes, pas.Coding{System: c.System, Code: c.Code})
		}
		fp.Items = append(fp.Items, item{it.Sequence, codes, it.CertificationType, it.Cancelled})
	}
	b, err := json.Marshal(fp)
	if err != nil {
		panic("payer: fingerprint: " + err.Error()) // strings, ints and bools cannot fail to encode
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// referenceOf returns the reference string of a Reference element, "" when
// it has none. It decodes with JSON v2, as package pas does: member names
// match case-sensitively, so a "Reference" member beside "reference" is
// not read as the reference, which encoding/json would do.
func referenceOf(raw []byte) string {
	var ref struct {
		Reference string `json:"reference"`
	}
	if jsonv2.Unmarshal(raw, &ref) != nil {
		return ""
	}
	return ref.Reference
}
