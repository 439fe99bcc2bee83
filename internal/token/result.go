package token

import (
	"log/slog"
	"net/http"
	"strings"
	"time"
)

// OAuth error codes a token response can carry (RFC 6749 section 5.2).
// server_error and temporarily_unavailable are borrowed from the
// authorization endpoint codes of RFC 6749 section 4.1.2.1.
const (
	CodeInvalidRequest         = "invalid_request"
	CodeInvalidClient          = "invalid_client"
	CodeUnsupportedGrantType   = "unsupported_grant_type"
	CodeInvalidScope           = "invalid_scope"
	CodeServerError            = "server_error"
	CodeTemporarilyUnavailable = "temporarily_unavailable"

	// CodeUnauthorizedClient refuses a revocation of a token the caller
	// may not revoke (RFC 7009 section 2.1, RFC 6749 section 5.2).
	CodeUnauthorizedClient = "unauthorized_client"
	// CodeUnsupportedTokenType is the error for a revocation request to a server
	// that does not revoke access tokens (RFC 7009 section 2.2.1).
	CodeUnsupportedTokenType = "unsupported_token_type"
)

// Result is a successful token request. It holds the access token text for
// Server.WriteResponse, but no exported field or method returns it.
type Result struct {
	ClientID    string    // authenticated client id
	AssertionID string    // jti of the client assertion
	TokenID     string    // jti of the issued access token
	Scopes      []string  // granted scopes
	IssuedAt    time.Time // iat of the access token
	Expiry      time.Time // exp of the access token
	Thumbprint  string    // cnf x5t#S256: base64url SHA-256 of the client certificate

	accessToken string
}

// Error is a failed token request, in the form RFC 6749 section 5.2 sends.
// Description names the rule that failed. It never contains assertion,
// token or key material, so it is safe to send and to log.
type Error struct {
	Code        string // OAuth error code, one of the Code constants
	Description string // error_description sent to the client
	Status      int    // HTTP status

	// ClientID and AssertionID are the iss and jti read from the assertion
	// before the failure, or empty. They are not authenticated unless the
	// failure came after the signature check.
	ClientID    string
	AssertionID string

	// Err is the underlying cause when it is more than Description, such as
	// a ClientStore failure. It is for server logs and is never sent.
	Err error
}

func (e *Error) Error() string {
	msg := "token: " + e.Code + ": " + e.Description
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg
}

func (e *Error) Unwrap() error { return e.Err }

func newError(status int, code, description string) *Error {
	return &Error{Code: code, Description: description, Status: status}
}

func invalidRequest(description string) *Error {
	return newError(http.StatusBadRequest, CodeInvalidRequest, description)
}

func invalidClient(description string) *Error {
	return newError(http.StatusUnauthorized, CodeInvalidClient, description)
}

func invalidScope(description string) *Error {
	return newError(http.StatusBadRequest, CodeInvalidScope, description)
}

func unavailable(description string, cause error) *Error {
	e := newError(http.StatusServiceUnavailable, CodeTemporarilyUnavailable, description)
	e.Err = cause
	return e
}

func serverError(description string, cause error) *Error {
	e := newError(http.StatusInternalServerError, CodeServerError, description)
	e.Err = cause
	return e
}

// Exchange is the record of one token request that the gateway writes to
// its audit log. It contains ids and codes only, never token or assertion
// text.
type Exchange struct {
	// ClientID is the authenticated client on success. On failure it is the
	// id the assertion claimed, if it could be read, and Authenticated is
	// false.
	ClientID      string
	Authenticated bool
	AssertionID   string
	TokenID       string    // empty unless a token was issued
	Scope         string    // granted scopes, space separated
	Expiry        time.Time // token expiry, zero unless a token was issued
	Status        int       // HTTP status of the response
	ErrorCode     string    // OAuth error code, empty on success
	Description   string    // error_description, empty on success
}

// Summarize returns the Exchange for the outcome of Server.Issue. Exactly
// one of res and e is expected to be non-nil. When both are nil, it
// describes the server_error that WriteResponse sends in that case.
func Summarize(res *Result, e *Error) Exchange {
	if res != nil && e == nil {
		return Exchange{
			ClientID:      res.ClientID,
			Authenticated: true,
			AssertionID:   res.AssertionID,
			TokenID:       res.TokenID,
			Scope:         strings.Join(res.Scopes, " "),
			Expiry:        res.Expiry,
			Status:        http.StatusOK,
		}
	}
	if e == nil {
		e = missingOutcome()
	}
	return Exchange{
		ClientID:    e.ClientID,
		AssertionID: e.AssertionID,
		Status:      e.Status,
		ErrorCode:   e.Code,
		Description: e.Description,
	}
}

// LogValue lets log/slog record an Exchange as a group of its fields.
func (x Exchange) LogValue() slog.Value {
	attrs := []slog.Attr{
		slog.String("client_id", x.ClientID),
		slog.Bool("authenticated", x.Authenticated),
		slog.String("assertion_jti", x.AssertionID),
		slog.Int("status", x.Status),
	}
	if x.ErrorCode != "" {
		attrs = append(attrs, slog.String("error", x.ErrorCode), slog.String("error_description", x.Description))
	} else {
		attrs = append(attrs, slog.String("token_jti", x.TokenID), slog.String("scope", x.Scope), slog.Time("expiry", x.Expiry))
	}
	return slog.GroupValue(attrs...)
}

func missingOutcome() *Error {
	return serverError("token request produced no outcome", nil)
}
