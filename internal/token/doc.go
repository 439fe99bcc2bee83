// Package token is Gatehouse's SMART Backend Services token service: the
// server that authenticates partner clients and issues certificate-bound
// access tokens, and the client side a partner (or the gatehouse CLI) uses to
// obtain them.
//
// # Token request
//
// A partner POSTs an application/x-www-form-urlencoded body over mutual TLS:
//
//	grant_type=client_credentials
//	client_assertion_type=urn:ietf:params:oauth:client-assertion-type:jwt-bearer
//	client_assertion=<JWS compact serialization>
//	scope=system/Claim.read system/Coverage.read
//
// Each parameter may appear once. client_id is optional and, when present,
// must equal the assertion's iss. client_secret and an Authorization header
// are rejected, because a request may use only one client authentication
// method. Parameters in the URL query are rejected so that no assertion lands
// in an access log.
//
// The client assertion (RFC 7523 section 3, SMART App Launch v2
// client-confidential-asymmetric) must satisfy all of the following:
//
//   - JWS compact serialization with canonical unpadded base64url segments,
//     at most ServerOptions.MaxAssertionBytes long;
//   - a protected header with no duplicate members, alg one of ES256, ES384,
//     RS384 or PS384, a kid, typ absent or "JWT", and none of the members
//     jwk, jku, x5u, x5c, crit or b64;
//   - a signature made with a registered key of the client, selected by kid.
//     The key type must fit alg: P-256 for ES256, P-384 for ES384, RSA of
//     2048 to 4096 bits for RS384 and PS384. The JWK "alg" and "use"
//     members, when set, must agree;
//   - iss and sub both equal to the client id, which is at most 256
//     printable ASCII characters;
//   - aud equal to ServerOptions.TokenURL, as a string or a one-element array;
//   - exp present, not passed, and at most five minutes ahead;
//   - iat and nbf, when present, not in the future;
//   - a jti of at most 256 printable ASCII characters that the ReplayCache
//     has not recorded for this client.
//
// Every comparison with the clock allows ServerOptions.Skew.
//
// # Access token
//
// An issued access token is a JWT (RFC 9068 profile) signed with ES256 by
// ServerOptions.SigningKey. Decoded, a token looks like this:
//
//	header  {"alg":"ES256","kid":"gh-2025-01","typ":"at+jwt"}
//	claims  {"iss":"https://gatehouse.example/","sub":"ehr-alpha",
//	         "aud":"https://gatehouse.example/fhir","exp":1767225900,
//	         "iat":1767225600,"jti":"nq2CqkDUw9ZKTm3nlDxwRw",
//	         "scope":"system/Claim.read","client_id":"ehr-alpha",
//	         "cnf":{"x5t#S256":"<base64url SHA-256 of the client certificate DER>"}}
//
// The cnf claim binds the token to the TLS client certificate it was issued
// over (RFC 8705 section 3), so Server.Verify rejects the token when it
// arrives with any other certificate. A token never outlives that
// certificate: exp is the earlier of iat + Lifetime and the certificate's
// NotAfter.
//
// Server.Verify accepts only the form mint writes, so that a token has one
// valid string. The protected header must contain exactly alg, kid and typ
// (no jwk, jku, x5u, x5c or crit). The ES256 signature must be in low-s form
// (s at most n/2), because mint rewrites s to n-s when the signer returns
// the high half. And exp - iat must be at most Lifetime + Skew, so a token
// signed with the gateway key but with a longer exp is rejected. The header
// and signature checks run before a token enters the verified-token cache.
// The lifetime check runs on every request.
//
// # Revocation and introspection
//
// Server.Revoke (RFC 7009) and Server.Introspect (RFC 7662) take a POST of
// a form with one token parameter and an optional token_type_hint, which
// is ignored because the server issues access tokens only:
//
//	token=<access token>&token_type_hint=access_token
//
// The caller is authenticated by its TLS client certificate before either
// is called. A RevocationScope limits the tokens it may revoke to all of
// them (the payer's integration engine) or to those whose cnf is its own
// certificate (a partner). A revoked token id is kept in
// ServerOptions.Revocations until the token's exp plus Skew, and Verify
// rejects it with ErrRevokedToken. A revocation request for a token that is
// malformed, forged or expired succeeds and changes nothing (RFC 7009
// section 2.2). Introspection returns {"active":false} for any token Verify
// would reject, and otherwise the claims of the token, its cnf included,
// never the token itself:
//
//	{"active":true,"scope":"system/Claim.read","client_id":"ehr-alpha",
//	 "token_type":"Bearer","exp":1767225900,"iat":1767225600,
//	 "sub":"ehr-alpha","aud":"https://gatehouse.example/fhir",
//	 "iss":"https://gatehouse.example/","jti":"nq2CqkDUw9ZKTm3nlDxwRw",
//	 "cnf":{"x5t#S256":"<base64url SHA-256 of the client certificate DER>"}}
//
// # Keys from a JWKS URL
//
// RemoteKeys is a ClientStore that fetches the keys of some clients from
// their https JWKS URLs through a caller-supplied HTTP client (the egress
// guard's), with the caching, refresh limits and checks its documentation
// lists.
//
// # Recording
//
// Server.Issue returns the outcome as data (a Result or an Error) before
// anything is written, so the gateway can record the exchange and only then
// call Server.WriteResponse. Revoke and Introspect follow the same pattern
// with WriteRevocation and WriteIntrospection. Summarize flattens a token
// request's outcome into an Exchange that carries ids and codes but never
// token or assertion text, and RedactForm and RedactJSON replace
// credentials in recorded bodies with Fingerprint values.
package token
