package ehrclient

import (
	"errors"
	"fmt"

	"github.com/gatehouse-health/gatehouse/internal/token"
)

// TokenHint returns the next step for a failed Token call, chosen by the
// OAuth error code the token endpoint returned. publicURL is the gateway
// the client sent the request to. An error with no OAuth response (the
// gateway is not reachable) gets the hint to check that it is running.
func TokenHint(err error, publicURL string) string {
	var re *token.ResponseError
	if !errors.As(err, &re) {
		return fmt.Sprintf("check that the gateway at %s is running and that its certificate is trusted", publicURL)
	}
	switch re.Code {
	case token.CodeTemporarilyUnavailable:
		return "the payer has suspended this exchange or the gateway cannot record it; retry later (Retry-After: " +
			orUnknown(re.Header.Get("Retry-After")) + " s) or ask the payer's security team"
	case token.CodeInvalidScope:
		return "request only scopes registered for this partner in partners[].scopes, with --scope"
	case token.CodeInvalidClient:
		return "the client certificate, the assertion key or the client id does not match the partner registration; check that the gateway uses the same data directory"
	case token.CodeUnauthorizedClient:
		return "this partner is not allowed the client_credentials grant; check its registration"
	case token.CodeInvalidRequest, token.CodeUnsupportedGrantType:
		return "the token request is malformed; this is a client bug, report it with the error above"
	case token.CodeServerError:
		return "the gateway failed; its log has the details under the exchange id"
	}
	return fmt.Sprintf("the token endpoint at %s returned HTTP %d without a known OAuth error code", publicURL, re.Status)
}

func orUnknown(s string) string {
	if s == "" {
		return "not given"
	}
	return s
}
