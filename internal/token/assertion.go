package token

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"math"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
)

// Limits on assertion fields.
const (
	maxClientIDBytes = 256
	maxKeyIDBytes    = 256
	maxJTIBytes      = 256
)

// assertionAlgorithms are the signature algorithms accepted on client
// assertions: the SMART v2 set (RS384, ES384) plus ES256 and PS384. None,
// HMAC and every other algorithm are rejected before any key is chosen.
var assertionAlgorithms = []jose.SignatureAlgorithm{jose.ES256, jose.ES384, jose.RS384, jose.PS384}

// base64URL is the only segment encoding accepted: unpadded, with no
// non-zero trailing bits, so each value has one encoding.
var base64URL = base64.RawURLEncoding.Strict()

// compactJWS is a client assertion split into its parts, with the header
// checked and the payload not yet trusted.
type compactJWS struct {
	raw     string
	alg     jose.SignatureAlgorithm
	kid     string
	payload []byte
}

// assertionClaims are the claims read from an assertion. Unknown claims are
// ignored.
type assertionClaims struct {
	Issuer    string         `json:"iss"`
	Subject   string         `json:"sub"`
	Audience  jsontext.Value `json:"aud"`
	Expiry    *float64       `json:"exp"`
	IssuedAt  *float64       `json:"iat"`
	NotBefore *float64       `json:"nbf"`
	ID        string         `json:"jti"`
}

// authenticatedClient is a client whose assertion passed every check except
// the replay check.
type authenticatedClient struct {
	client *Client
	jti    string
	expiry time.Time // exp of the assertion
}

// annotate adds the client and assertion ids to an error found after
// authentication.
func (a *authenticatedClient) annotate(e *Error) *Error {
	e.ClientID = a.client.ID
	e.AssertionID = a.jti
	return e
}

// authenticate runs the assertion checks of the package documentation:
// structure and header, claims syntax, client lookup, signature, then the
// claim values. formClientID is the optional client_id parameter.
func (s *Server) authenticate(ctx context.Context, raw, formClientID string) (*authenticatedClient, *Error) {
	jws, e := parseJWS(raw)
	if e != nil {
		return nil, e
	}
	claims, e := parseClaims(jws.payload)
	if e != nil {
		return nil, e
	}
	fail := func(e *Error) (*authenticatedClient, *Error) {
		e.ClientID, e.AssertionID = recordable(claims.Issuer), recordable(claims.ID)
		return nil, e
	}

	if e := checkClientID(claims, formClientID); e != nil {
		return fail(e)
	}
	client, e := s.lookupClient(ctx, claims.Issuer, jws.kid)
	if e != nil {
		return fail(e)
	}
	if e := verifySignature(jws, client.Keys); e != nil {
		return fail(e)
	}
	expiry, e := checkClaims(claims, s.opts.TokenURL, s.opts.Now(), s.opts.Skew)
	if e != nil {
		return fail(e)
	}
	return &authenticatedClient{client: client, jti: claims.ID, expiry: expiry}, nil
}

// parseJWS splits a compact JWS and checks its protected header. The header
// is parsed here, strictly, before go-jose parses it again, so that both
// parsers read the same single value of every member.
func parseJWS(raw string) (*compactJWS, *Error) {
	parts := strings.Split(raw, ".")
	if len(parts) != 3 {
		return nil, invalidClient("assertion must be a JWS in compact serialization")
	}
	if parts[2] == "" {
		return nil, invalidClient("assertion is not signed")
	}
	headerJSON, err1 := base64URL.DecodeString(parts[0])
	payload, err2 := base64URL.DecodeString(parts[1])
	_, err3 := base64URL.DecodeString(parts[2])
	if err := errors.Join(err1, err2, err3); err != nil {
		return nil, invalidClient("assertion segments must be unpadded base64url")
	}

	jws := &compactJWS{raw: raw, payload: payload}
	if e := jws.parseHeader(headerJSON); e != nil {
		return nil, e
	}
	return jws, nil
}

func (jws *compactJWS) parseHeader(data []byte) *Error {
	var members map[string]jsontext.Value
	if err := json.Unmarshal(data, &members); err != nil || members == nil {
		return invalidClient("assertion header must be a JSON object without duplicate members")
	}
	for name := range members {
		switch name {
		case "jwk", "jku", "x5u", "x5c":
			// NOTE: SMART v2 lets a client send jku equal to its registered
			// JWKS URL. Gatehouse rejects it too, so that keys come only
			// from the registration.
			return invalidClient("assertion header must not carry " + name + "; keys come only from the client registration")
		case "crit", "b64":
			return invalidClient("assertion header must not carry " + name)
		}
	}

	var alg, kid, typ string
	if !headerString(members, "alg", &alg) || !allowedAlgorithm(alg) {
		return invalidClient("assertion alg must be one of ES256, ES384, RS384, PS384")
	}
	if !headerString(members, "kid", &kid) || kid == "" || len(kid) > maxKeyIDBytes {
		return invalidClient("assertion header must carry a kid of at most 256 bytes")
	}
	if _, ok := members["typ"]; ok && (!headerString(members, "typ", &typ) || !strings.EqualFold(typ, "JWT")) {
		return invalidClient("assertion typ must be JWT when present")
	}
	jws.alg, jws.kid = jose.SignatureAlgorithm(alg), kid
	return nil
}

// headerString reads member name as a string, reporting false if it is
// missing or not a string.
func headerString(members map[string]jsontext.Value, name string, out *string) bool {
	v, ok := members[name]
	return ok && v.Kind() == '"' && json.Unmarshal(v, out) == nil
}

func allowedAlgorithm(alg string) bool {
	for _, a := range assertionAlgorithms {
		if string(a) == alg {
			return true
		}
	}
	return false
}

// parseClaims decodes the payload as a claims object with no duplicate
// members.
func parseClaims(payload []byte) (*assertionClaims, *Error) {
	var c assertionClaims
	if err := json.Unmarshal(payload, &c); err != nil {
		return nil, invalidClient("assertion claims must be a JSON object of registered JWT claim types")
	}
	return &c, nil
}

// checkClientID checks iss and sub against each other and the client_id
// parameter.
func checkClientID(c *assertionClaims, formClientID string) *Error {
	if c.Issuer == "" || c.Subject == "" {
		return invalidClient("assertion must carry iss and sub")
	}
	if c.Issuer != c.Subject {
		return invalidClient("assertion iss and sub must both be the client id")
	}
	if !printableASCII(c.Issuer) || len(c.Issuer) > maxClientIDBytes {
		return invalidClient("assertion client id must be at most 256 printable ASCII characters")
	}
	if formClientID != "" && formClientID != c.Issuer {
		return invalidClient("client_id does not match the assertion's iss")
	}
	return nil
}

// recordable returns an unauthenticated claim value for the audit record, or
// "" if it is longer than 256 bytes or not printable ASCII, so that no
// client-chosen blob or control character reaches the log.
func recordable(s string) string {
	if len(s) > maxClientIDBytes || !printableASCII(s) {
		return ""
	}
	return s
}

func printableASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x21 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

// lookupClient returns the registration of id. A KeyedClientStore is told
// the assertion's kid, so that it can fetch keys the partner has rotated in.
func (s *Server) lookupClient(ctx context.Context, id, kid string) (*Client, *Error) {
	var client *Client
	var err error
	if keyed, ok := s.opts.Clients.(KeyedClientStore); ok {
		client, err = keyed.ClientForKey(ctx, id, kid)
	} else {
		client, err = s.opts.Clients.Client(ctx, id)
	}
	switch {
	case errors.Is(err, ErrUnknownClient):
		return nil, invalidClient("client is not registered")
	case err != nil:
		return nil, unavailable("client registry is unavailable", err)
	case client == nil || client.ID != id:
		return nil, serverError("client registry returned another client", nil)
	}
	return client, nil
}

// verifySignature checks the JWS signature with each registered key whose
// kid equals the header's and whose type fits alg, and succeeds on the first
// that verifies.
func verifySignature(jws *compactJWS, keys jose.JSONWebKeySet) *Error {
	named := keys.Key(jws.kid)
	if len(named) == 0 {
		return invalidClient("assertion kid does not match a registered key")
	}

	parsed, err := jose.ParseSignedCompact(jws.raw, []jose.SignatureAlgorithm{jws.alg})
	if err != nil {
		return invalidClient("assertion is not a valid JWS")
	}

	fitting := 0
	for _, k := range named {
		pub, ok := fittingKey(k, jws.alg)
		if !ok {
			continue
		}
		fitting++
		payload, err := parsed.Verify(pub)
		if err == nil && bytes.Equal(payload, jws.payload) {
			return nil
		}
	}
	if fitting == 0 {
		return invalidClient("the registered key for this kid does not fit alg " + string(jws.alg))
	}
	return invalidClient("assertion signature is invalid")
}

// DescriptionWrongAudience is the error_description of an invalid_client
// response to an assertion whose aud is not this server's token URL.
// Clients match it to tell a wrong gateway URL from an unknown client.
const DescriptionWrongAudience = "assertion aud must be the token endpoint URL"

// checkClaims checks aud, the time claims and jti, and returns exp.
func checkClaims(c *assertionClaims, tokenURL string, now time.Time, skew time.Duration) (time.Time, *Error) {
	if !audienceIs(c.Audience, tokenURL) {
		return time.Time{}, invalidClient(DescriptionWrongAudience)
	}
	if c.Expiry == nil {
		return time.Time{}, invalidClient("assertion must carry exp")
	}

	exp, ok1 := numericDate(*c.Expiry)
	iat, ok2 := optionalDate(c.IssuedAt)
	nbf, ok3 := optionalDate(c.NotBefore)
	if !ok1 || !ok2 || !ok3 {
		return time.Time{}, invalidClient("assertion exp, iat and nbf must be NumericDate values")
	}

	switch {
	case !now.Before(exp.Add(skew)):
		return time.Time{}, invalidClient("assertion has expired")
	case exp.After(now.Add(maxAssertionLifetime + skew)):
		return time.Time{}, invalidClient("assertion exp must be at most 5 minutes ahead")
	case iat.After(now.Add(skew)):
		return time.Time{}, invalidClient("assertion iat is in the future")
	case nbf.After(now.Add(skew)):
		return time.Time{}, invalidClient("assertion is not valid yet (nbf)")
	}

	if c.ID == "" || len(c.ID) > maxJTIBytes || !printableASCII(c.ID) {
		return time.Time{}, invalidClient("assertion must carry a jti of at most 256 printable ASCII characters")
	}
	return exp, nil
}

// audienceIs reports whether aud is want, as a string or an array holding
// only want.
func audienceIs(aud jsontext.Value, want string) bool {
	var single string
	if aud.Kind() == '"' {
		return json.Unmarshal(aud, &single) == nil && single == want
	}
	var list []string
	if aud.Kind() == '[' && json.Unmarshal(aud, &list) == nil {
		return len(list) == 1 && list[0] == want
	}
	return false
}

// maxNumericDate is 9999-12-31T23:59:59Z.
const maxNumericDate = 253402300799

// numericDate converts a JWT NumericDate, dropping any fraction of a second.
func numericDate(v float64) (time.Time, bool) {
	if math.IsNaN(v) || v < 0 || v > maxNumericDate {
		return time.Time{}, false
	}
	return time.Unix(int64(v), 0), true
}

// optionalDate converts an optional NumericDate. An absent one is the zero
// time, which passes every "not in the future" check.
func optionalDate(v *float64) (time.Time, bool) {
	if v == nil {
		return time.Time{}, true
	}
	return numericDate(*v)
}
