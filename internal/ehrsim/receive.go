package ehrsim

import (
	"context"
	"errors"
	"io"
	"net/http"
	"time"

	"github.com/gatehouse-health/gatehouse/internal/outcome"
	"github.com/gatehouse-health/gatehouse/internal/pki"
	"github.com/gatehouse-health/gatehouse/internal/token"
)

// maxNotificationBytes caps one notification body. A full-resource
// notification carries one ClaimResponse and the few resources it names,
// far below this.
const maxNotificationBytes = 8 << 20

// creationWait bounds how long a notification for an unknown Subscription
// waits for a creation in flight to name it.
const creationWait = 10 * time.Second

func (s *Sim) fhirRoutes() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/oauth2/token", s.tokens)
	mux.HandleFunc("/", s.serveFHIR)
	return mux
}

// serveFHIR is the EHR's FHIR API toward the payer: the rest-hook
// endpoint and nothing else. Credentials are checked before the target,
// so that an unauthenticated caller learns nothing about the paths.
func (s *Sim) serveFHIR(w http.ResponseWriter, r *http.Request) {
	if status, oo := s.authenticate(r); oo != nil {
		s.state.rejectRequest()
		s.log.Warn("ehrsim: request rejected", "status", status, "reason", oo.Issue[0].Diagnostics)
		outcome.Write(w, status, oo)
		return
	}
	if r.Method != http.MethodPost || r.URL.Path != "/fhir/"+HookPath {
		s.state.rejectRequest()
		s.log.Warn("ehrsim: request rejected: not the rest-hook endpoint", "method", r.Method, "path", r.URL.Path)
		outcome.Write(w, http.StatusNotFound, outcome.New(outcome.CodeNotSupported, "this EHR accepts only POST [base]/"+HookPath))
		return
	}
	if s.isDown() {
		outcome.Write(w, http.StatusServiceUnavailable, outcome.New(outcome.CodeTransient, "the EHR is down for maintenance; retry later"))
		return
	}

	exchangeID := r.Header.Get("X-Request-Id")
	body, err := io.ReadAll(io.LimitReader(r.Body, maxNotificationBytes+1))
	if err != nil {
		s.log.Warn("ehrsim: reading the notification body failed", "exchange", exchangeID, "error", err)
		outcome.Write(w, http.StatusBadRequest, outcome.New(outcome.CodeStructure, "the notification body could not be read"))
		return
	}
	if len(body) > maxNotificationBytes {
		s.log.Warn("ehrsim: notification body too large", "exchange", exchangeID, "max_bytes", maxNotificationBytes)
		outcome.Write(w, http.StatusRequestEntityTooLarge, outcome.New(outcome.CodeTooLong, "the notification body is too large"))
		return
	}

	status, oo := s.receive(r.Context(), body, exchangeID)
	if oo != nil {
		outcome.Write(w, status, oo)
		return
	}
	w.WriteHeader(status)
}

// authenticate accepts a request only from the payer: a verified client
// certificate naming PayerClientID and an access token this EHR issued,
// bound to that certificate. It returns the rejection, or a nil outcome.
func (s *Sim) authenticate(r *http.Request) (int, *outcome.OperationOutcome) {
	if r.TLS == nil || len(r.TLS.VerifiedChains) == 0 {
		return http.StatusUnauthorized, outcome.New(outcome.CodeLogin, "a verified client certificate is required")
	}
	leaf := r.TLS.VerifiedChains[0][0]
	if id, ok := pki.PartnerFromCertificate(leaf); !ok || id != s.opts.PayerClientID {
		return http.StatusForbidden, outcome.New(outcome.CodeSecurity, "the client certificate does not name the payer this EHR receives notifications from")
	}
	raw, err := token.BearerToken(r)
	if err != nil {
		return http.StatusUnauthorized, outcome.New(outcome.CodeLogin, "a bearer access token from this EHR's token endpoint is required")
	}
	if _, err := s.tokens.VerifyContext(r.Context(), raw, leaf); err != nil {
		return http.StatusUnauthorized, outcome.New(outcome.CodeLogin, "the access token is invalid, expired or bound to another certificate")
	}
	return 0, nil
}

// receive checks a notification, applies its events and returns the
// response status with its OperationOutcome, or 200 and nil when it is
// accepted.
func (s *Sim) receive(ctx context.Context, body []byte, exchangeID string) (int, *outcome.OperationOutcome) {
	n := &Notification{ExchangeID: exchangeID, Received: time.Now()}
	status, oo := s.check(ctx, body, n)
	n.StatusCode = status
	if oo != nil {
		n.Problem = oo.Issue[0].Diagnostics
		s.state.recordRejected(n)
		s.log.Warn("ehrsim: notification rejected", "exchange", exchangeID, "status", status, "reason", n.Problem)
		return status, oo
	}
	n.Accepted = true
	s.state.record(n, n.Type != TypeEvent, s.opts.Drop)
	if len(s.state.missingRanges()) > 0 {
		s.wakeCatchUp()
	}
	return status, nil
}

// check runs strict mode and the Backport checks, and fills n from the
// SubscriptionStatus.
func (s *Sim) check(ctx context.Context, body []byte, n *Notification) (int, *outcome.OperationOutcome) {
	oo, err := s.opts.Strict.CheckRequest(HookPath, body)
	if err != nil {
		s.log.Error("ehrsim: strict mode check failed", "exchange", n.ExchangeID, "error", err)
		return rejection(http.StatusInternalServerError, outcome.CodeException, "the notification could not be validated; retry later")
	}
	if oo != nil {
		return rejection(http.StatusUnprocessableEntity, outcome.CodeInvalid,
			"the notification does not conform to FHIR R4 and the profiles it declares; it was not accepted", oo.Issue...)
	}
	st, err := parseNotification(body, "history")
	if err != nil {
		return rejection(http.StatusUnprocessableEntity, outcome.CodeInvalid, problemText(err))
	}
	n.Strict = true
	n.Subscription, n.Type, n.Status = st.subscriptionID, st.kind, st.code
	n.EventsSinceStart, n.Events = st.eventsSinceStart, st.events
	if st.kind == TypeQueryEvent || st.kind == TypeQueryStatus {
		return rejection(http.StatusUnprocessableEntity, outcome.CodeInvalid, "a "+st.kind+" Bundle is the response to a query, not a notification")
	}
	// The handshake can arrive before the gateway's response to the creation.
	wait, cancel := context.WithTimeout(ctx, creationWait)
	defer cancel()
	if !s.state.awaitKnown(wait, st.subscriptionID) {
		return rejection(http.StatusNotFound, outcome.CodeNotFound, "the notification names a Subscription this EHR did not create")
	}
	return http.StatusOK, nil
}

// problemText is the message of a rejection, without the package prefix.
func problemText(err error) string {
	if errors.Is(err, errNotification) {
		msg := err.Error()
		return "the notification is not a valid Subscriptions Backport notification" + msg[len(errNotification.Error()):]
	}
	return err.Error()
}
