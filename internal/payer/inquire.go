package payer

import (
	"context"
	"net/http"

	"github.com/gatehouse-health/gatehouse/internal/outcome"
	"github.com/gatehouse-health/gatehouse/internal/pas"
)

func (s *Service) handleInquire(w http.ResponseWriter, r *http.Request) {
	body, ok := s.readBody(w, r)
	if !ok {
		return
	}
	inq, err := pas.ParseInquiry(body)
	if err != nil {
		failBundle(w, err)
		return
	}

	stored, err := s.find(r.Context(), inq, r.Header.Get(PartnerHeader))
	if err != nil {
		s.log.Error("payer: $inquire failed", "error", err)
		fail(w, http.StatusInternalServerError, outcome.CodeException, "the inquiry failed; retry later")
		return
	}
	if stored == nil {
		// The response is the same whether the identifier is unknown or
		// belongs to another partner, provider or patient.
		fail(w, http.StatusNotFound, outcome.CodeNotFound, "no prior authorization matches the inquiry")
		return
	}

	resp, err := pas.BuildInquiryResponse(stored, inq, s.now())
	if err != nil {
		s.log.Error("payer: $inquire failed", "error", err)
		fail(w, http.StatusInternalServerError, outcome.CodeException, "the inquiry failed; retry later")
		return
	}
	writeFHIR(w, resp)
}

// find returns the current response Bundle of the authorization an
// inquiry names, or nil when none matches. A match needs a Claim
// identifier bound to the authorization, the same partner, and a patient
// and provider carrying the identifiers recorded at submission.
func (s *Service) find(ctx context.Context, inq *pas.Request, partner string) ([]byte, error) {
	for _, id := range inq.Identifiers {
		auth, err := s.store.authorizationFor(ctx, partner, id)
		if err != nil {
			return nil, err
		}
		if auth == nil {
			continue
		}
		if auth.partner != partner || !hasKey(inq.Patient, auth.patientKey) || !hasKey(inq.Provider, auth.providerKey) {
			return nil, nil
		}
		return s.store.currentResponse(ctx, auth)
	}
	return nil, nil
}

func hasKey(p *pas.Party, key string) bool {
	for _, id := range p.Identifiers {
		if id.Key() == key {
			return true
		}
	}
	return false
}
