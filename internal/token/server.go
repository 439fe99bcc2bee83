package token

import (
	"crypto"
	"crypto/ecdsa"
	"encoding/base64"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/cryptosigner"
	"github.com/go-json-experiment/json"
)

// Server is the token endpoint and an http.Handler. A gateway that must
// record each exchange before the response is sent calls Issue and
// WriteResponse itself. A Server is safe for concurrent use.
type Server struct {
	opts      ServerOptions
	signer    jose.Signer
	publicKey *ecdsa.PublicKey
	keyID     string
	// verified is nil when ServerOptions.VerifiedCacheTTL is negative.
	verified *verifiedCache
	// signatureChecks counts the tokens verifySigned checked, so that tests
	// can tell a cached verification from a full one.
	signatureChecks atomic.Int64
}

// NewServer validates opts and returns a Server.
func NewServer(opts ServerOptions) (*Server, error) {
	opts = opts.withDefaults()
	if err := opts.validate(); err != nil {
		return nil, err
	}

	pub := opts.SigningKey.Public().(*ecdsa.PublicKey)
	keyID := opts.KeyID
	if keyID == "" {
		jwk := jose.JSONWebKey{Key: pub}
		sum, err := jwk.Thumbprint(crypto.SHA256)
		if err != nil {
			return nil, fmt.Errorf("token: ServerOptions.SigningKey: computing thumbprint: %w", err)
		}
		keyID = base64.RawURLEncoding.EncodeToString(sum)
	}

	signingKey := jose.SigningKey{Algorithm: jose.ES256, Key: cryptosigner.Opaque(opts.SigningKey)}
	signerOpts := (&jose.SignerOptions{}).WithType(accessTokenType).WithHeader(jose.HeaderKey("kid"), keyID)
	signer, err := jose.NewSigner(signingKey, signerOpts)
	if err != nil {
		return nil, fmt.Errorf("token: ServerOptions.SigningKey: %w", err)
	}

	s := &Server{opts: opts, signer: signer, publicKey: pub, keyID: keyID}
	if opts.VerifiedCacheTTL > 0 {
		s.verified = newVerifiedCache(opts.VerifiedCacheTTL)
	}
	return s, nil
}

// KeyID returns the kid that access tokens carry.
func (s *Server) KeyID() string { return s.keyID }

// PublicKey returns the key that verifies access tokens, for publishing in
// a JWKS.
func (s *Server) PublicKey() *ecdsa.PublicKey { return s.publicKey }

// ServeHTTP handles one token request: Issue, then WriteResponse.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	res, e := s.Issue(r.Context(), r)
	s.WriteResponse(w, res, e)
}

// WriteResponse sends the outcome of Issue: the RFC 6749 section 5.1 token
// response for a Result, or the section 5.2 error response for an Error.
// Both carry Cache-Control: no-store. An invalid_client error also carries
// a WWW-Authenticate challenge, and a rejected method an Allow header.
func (s *Server) WriteResponse(w http.ResponseWriter, res *Result, e *Error) {
	setNoStore(w.Header())
	if res != nil && e == nil {
		w.Header().Set("Content-Type", "application/json;charset=UTF-8")
		writeJSON(w, http.StatusOK, Response{
			AccessToken: res.accessToken,
			TokenType:   "Bearer",
			ExpiresIn:   int64(res.Expiry.Sub(res.IssuedAt).Seconds()),
			Scope:       strings.Join(res.Scopes, " "),
		})
		return
	}

	s.writeError(w, e)
}

// writeError sends the RFC 6749 section 5.2 error response for e, or a
// server_error when e is nil. The caller has set Cache-Control.
func (s *Server) writeError(w http.ResponseWriter, e *Error) {
	if e == nil {
		e = missingOutcome()
	}
	h := w.Header()
	h.Set("Content-Type", "application/json;charset=UTF-8")
	switch e.Status {
	case http.StatusUnauthorized:
		h.Set("WWW-Authenticate", fmt.Sprintf("private_key_jwt realm=%q", s.opts.TokenURL))
	case http.StatusMethodNotAllowed:
		h.Set("Allow", http.MethodPost)
	}
	writeJSON(w, e.Status, errorBody{Error: e.Code, Description: e.Description})
}

// setNoStore marks a response that must not be cached (RFC 6749 section
// 5.1).
func setNoStore(h http.Header) {
	h.Set("Cache-Control", "no-store")
	h.Set("Pragma", "no-cache")
}

type errorBody struct {
	Error       string `json:"error"`
	Description string `json:"error_description,omitempty"`
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		// Only fixed struct types of strings, integers and booleans reach
		// here.
		panic("token: encoding response: " + err.Error())
	}
	w.WriteHeader(status)
	_, _ = w.Write(body)
}
