package posture

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"
)

var liveChecks = []Check{
	{
		ID: "GH-LIVE-001", Control: "C6", Severity: High, Mode: ModeLive,
		Title:       "The gateway refuses TLS 1.0 and TLS 1.1",
		Rationale:   "A server that still negotiates TLS 1.0 or 1.1 can be downgraded by an active attacker to protocols with known attacks.",
		Remediation: "Find what terminates TLS in front of the gateway (a load balancer or proxy) and set its minimum version to TLS 1.2; Gatehouse itself never accepts older versions.",
		live:        probeLegacyVersions,
	},
	{
		ID: "GH-LIVE-002", Control: "C6", Severity: High, Mode: ModeLive,
		Title:       "The gateway refuses TLS 1.2 CBC cipher suites",
		Rationale:   "CBC-mode suites in TLS have a long record of padding-oracle and timing attacks (Lucky13).",
		Remediation: "Remove CBC suites from whatever terminates TLS in front of the gateway; keep ECDHE with AES-GCM or ChaCha20-Poly1305.",
		live:        probeCBCSuites,
	},
	{
		ID: "GH-LIVE-003", Control: "C6", Severity: High, Mode: ModeLive,
		Title:       "The gateway refuses TLS 1.2 RSA key exchange",
		Rationale:   "Static RSA key exchange has no forward secrecy: whoever later obtains the server key decrypts every recorded session.",
		Remediation: "Remove TLS_RSA_* suites from whatever terminates TLS in front of the gateway.",
		live:        probeRSAKeyExchange,
	},
	{
		ID: "GH-LIVE-004", Control: "C6", Severity: Medium, Mode: ModeLive,
		Title:       "The gateway negotiates TLS 1.3",
		Rationale:   "TLS 1.3 encrypts more of the handshake, always has forward secrecy and drops every legacy construction.",
		Remediation: "Enable TLS 1.3 on whatever terminates TLS in front of the gateway.",
		live:        probeTLS13,
	},
	{
		ID: "GH-LIVE-005", Control: "C3", Severity: High, Mode: ModeLive,
		Title:       "A connection without a client certificate is refused",
		Rationale:   "Mutual TLS is the first factor of partner authentication; a listener that serves without a client certificate leaves only the token.",
		Remediation: "Terminate TLS at Gatehouse (TCP pass-through on load balancers) so that its listener requires the certificate; never terminate partner TLS on a proxy that does not.",
		live:        probeNoClientCertificate,
	},
	{
		ID: "GH-LIVE-006", Control: "C2", Severity: High, Mode: ModeLive,
		Title:       "A FHIR request without a token gets 401 with an OperationOutcome",
		Rationale:   "Every FHIR request must carry a valid, certificate-bound access token; a certificate alone must not be enough.",
		Remediation: "Make sure requests reach Gatehouse directly and not a route that bypasses its token check.",
		live:        probeNoToken,
	},
	{
		ID: "GH-LIVE-007", Control: "C1", Severity: High, Mode: ModeLive,
		Title:       "$everything with a valid token gets 403",
		Rationale:   "$everything returns a patient's whole record; a partner that was not granted it must be refused even with a valid token.",
		Remediation: "Remove Patient/[id]/$everything from the probing partner's partners[].interactions, or probe with a partner that should not have it.",
		live:        probeEverything,
	},
	{
		ID: "GH-LIVE-008", Control: "C1", Severity: High, Mode: ModeLive,
		Title:       "An encoded path traversal is refused",
		Rationale:   "A path such as /fhir/Patient/..%2F can be normalised differently by the gateway and the upstream, so that the upstream serves a resource the policy never saw.",
		Remediation: "Make sure nothing in front of Gatehouse decodes or normalises paths, and report the finding: Gatehouse itself rejects non-canonical paths.",
		live:        probePathTraversal,
	},
	{
		ID: "GH-LIVE-009", Control: "C5", Severity: High, Mode: ModeLive,
		Title:       "The admin routes are not served on the partner port",
		Rationale:   "GET /killswitch lists the engaged cuts and POST /killswitch engages or releases them, and /metrics exposes traffic per partner; served where partners connect, they let a partner read the payer's incident response or undo a cut against itself.",
		Remediation: "Remove the route that forwards /metrics or /killswitch from the partner port to the admin listener (on the load balancer or proxy in front of Gatehouse), and keep admin.listen on the management network.",
		live:        probeAdminRoutes,
	},
}

// adminProbePaths are routes that only the admin listener serves.
var adminProbePaths = []string{"/killswitch", "/metrics"}

// suitesWhere returns the TLS 1.0-1.2 cipher suites Go implements whose
// names satisfy keep, the insecure ones included.
func suitesWhere(keep func(name string) bool) []uint16 {
	var out []uint16
	for _, s := range slices.Concat(tls.CipherSuites(), tls.InsecureCipherSuites()) {
		if !slices.Contains(s.SupportedVersions, tls.VersionTLS13) && keep(s.Name) {
			out = append(out, s.ID)
		}
	}
	return out
}

// expectRefused runs one handshake that the gateway must refuse.
func (p *prober) expectRefused(what string, conf *tls.Config) result {
	state, err := p.handshake(conf)
	if err == nil {
		return fail("", "the gateway accepted %s: it negotiated %s with %s", what, tls.VersionName(state.Version), tls.CipherSuiteName(state.CipherSuite))
	}
	if why := refusalOf(err); why != "" {
		return errorResult("", "%s could not be tested: %s", what, why)
	}
	return pass("", "the gateway refused %s", what)
}

func probeLegacyVersions(p *prober) []result {
	all := suitesWhere(func(string) bool { return true })
	return []result{
		p.expectRefused("TLS 1.0", p.withCertificate(tls.VersionTLS10, tls.VersionTLS10, all)),
		p.expectRefused("TLS 1.1", p.withCertificate(tls.VersionTLS11, tls.VersionTLS11, all)),
	}
}

func probeCBCSuites(p *prober) []result {
	cbc := suitesWhere(func(name string) bool { return strings.Contains(name, "_CBC_") })
	return []result{p.expectRefused("TLS 1.2 with only CBC suites", p.withCertificate(tls.VersionTLS12, tls.VersionTLS12, cbc))}
}

func probeRSAKeyExchange(p *prober) []result {
	rsaKex := suitesWhere(func(name string) bool { return strings.HasPrefix(name, "TLS_RSA_") })
	return []result{p.expectRefused("TLS 1.2 with only RSA key exchange suites", p.withCertificate(tls.VersionTLS12, tls.VersionTLS12, rsaKex))}
}

func probeTLS13(p *prober) []result {
	state, err := p.handshake(p.withCertificate(tls.VersionTLS13, tls.VersionTLS13, nil))
	if err != nil {
		if why := refusalOf(err); why != "" {
			return []result{errorResult("", "TLS 1.3 could not be tested: %s", why)}
		}
		return []result{fail("", "the gateway refused TLS 1.3: %v", err)}
	}
	return []result{pass("", "the gateway negotiated TLS 1.3 with %s; TLS 1.2 suites accepted: %s",
		tls.CipherSuiteName(state.CipherSuite), p.acceptedTLS12Suites())}
}

// acceptedTLS12Suites tries each TLS 1.2 suite alone and lists those the
// gateway accepts.
func (p *prober) acceptedTLS12Suites() string {
	var names []string
	for _, id := range suitesWhere(func(string) bool { return true }) {
		if _, err := p.handshake(p.withCertificate(tls.VersionTLS12, tls.VersionTLS12, []uint16{id})); err == nil {
			names = append(names, tls.CipherSuiteName(id))
		}
	}
	if len(names) == 0 {
		return "none"
	}
	return strings.Join(names, ", ")
}

func probeNoClientCertificate(p *prober) []result {
	var out []result
	for _, v := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
		out = append(out, p.requestWithoutCertificate(v))
	}
	return out
}

// requestWithoutCertificate connects without a client certificate and, as
// TLS 1.3 servers reject the missing certificate only after the client's
// handshake has finished, sends one request and reads the answer.
func (p *prober) requestWithoutCertificate(version uint16) result {
	what := tls.VersionName(version) + " without a client certificate"
	conf := &tls.Config{MinVersion: version, MaxVersion: version, NextProtos: []string{"http/1.1"}}
	ctx, cancel := context.WithTimeout(p.ctx, p.opts.Timeout)
	defer cancel()
	raw, err := p.dialContext(ctx, "tcp", "")
	if err != nil {
		return errorResult("", "%s could not be tested: cannot connect: %v", what, err)
	}
	defer raw.Close()
	conf.ServerName, conf.RootCAs = p.base.Hostname(), p.opts.Roots
	conn := tls.Client(raw, conf)
	if err := conn.HandshakeContext(ctx); err != nil {
		if why := refusalOf(err); why != "" {
			return errorResult("", "%s could not be tested: %s", what, why)
		}
		return pass("", "the gateway refused %s", what)
	}
	_ = conn.SetDeadline(time.Now().Add(p.opts.Timeout))
	fmt.Fprintf(conn, "GET /fhir/metadata HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n", p.base.Host)
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		return pass("", "the gateway refused %s", what)
	}
	resp.Body.Close()
	return fail("", "the gateway answered %s with HTTP %d", what, resp.StatusCode)
}

func probeNoToken(p *prober) []result {
	resp, err := p.get("/fhir/Patient/1", "")
	if err != nil {
		return []result{errorResult("", "the request could not be sent: %v", err)}
	}
	if r, ok := resp.unavailable("GET /fhir/Patient/1 without a token"); ok {
		return []result{r}
	}
	switch {
	case resp.status != http.StatusUnauthorized:
		return []result{fail("", "GET /fhir/Patient/1 without a token got HTTP %d, not 401", resp.status)}
	case !resp.isOutcome:
		return []result{failAt(Low, "", "the 401 answer carries no OperationOutcome")}
	case resp.header.Get("WWW-Authenticate") == "":
		return []result{failAt(Low, "", "the 401 answer has no WWW-Authenticate header")}
	}
	return []result{pass("", "GET /fhir/Patient/1 without a token got 401 with an OperationOutcome")}
}

func probeEverything(p *prober) []result {
	tok, err := p.accessToken()
	if err != nil {
		return []result{errorResult("", "no access token to probe with: %v", err)}
	}
	resp, err := p.get("/fhir/Patient/1/$everything", tok)
	if err != nil {
		return []result{errorResult("", "the request could not be sent: %v", err)}
	}
	if r, ok := resp.unavailable("GET /fhir/Patient/1/$everything"); ok {
		return []result{r}
	}
	switch {
	case resp.status == http.StatusForbidden:
		return []result{pass("", "GET /fhir/Patient/1/$everything with a valid token got 403")}
	case resp.status == http.StatusUnauthorized:
		return []result{errorResult("", "the gateway did not accept the probe's access token (HTTP 401), so authorization was not tested")}
	case resp.status < 400:
		return []result{fail("", "GET /fhir/Patient/1/$everything with a valid token got HTTP %d", resp.status)}
	}
	return []result{failAt(Medium, "", "GET /fhir/Patient/1/$everything got HTTP %d instead of 403", resp.status)}
}

func probePathTraversal(p *prober) []result {
	tok, err := p.accessToken()
	if err != nil {
		return []result{errorResult("", "no access token to probe with: %v", err)}
	}
	const path = "/fhir/Patient/..%2F"
	resp, err := p.get(path, tok)
	if err != nil {
		return []result{errorResult("", "the request could not be sent: %v", err)}
	}
	if r, ok := resp.unavailable("GET " + path); ok {
		return []result{r}
	}
	switch {
	case resp.status < 400:
		return []result{fail("", "GET %s got HTTP %d", path, resp.status)}
	case resp.status >= 500:
		return []result{failAt(Medium, "", "GET %s got HTTP %d: it reached a component that failed instead of being refused", path, resp.status)}
	case !resp.isOutcome:
		return []result{failAt(Low, "", "GET %s got HTTP %d without an OperationOutcome", path, resp.status)}
	}
	return []result{pass("", "GET %s got HTTP %d with an OperationOutcome", path, resp.status)}
}

// probeAdminRoutes requests each admin route on the partner port with the
// partner's certificate and token. Only 404 passes, because any other status
// means something on the partner port serves the path.
func probeAdminRoutes(p *prober) []result {
	tok, err := p.accessToken()
	if err != nil {
		return []result{errorResult("", "no access token to probe with: %v", err)}
	}
	var out []result
	for _, path := range adminProbePaths {
		resp, err := p.get(path, tok)
		if err != nil {
			out = append(out, errorResult("", "GET %s could not be sent: %v", path, err))
			continue
		}
		if r, ok := resp.unavailable("GET " + path); ok {
			out = append(out, r)
			continue
		}
		switch {
		case resp.status == http.StatusNotFound:
			out = append(out, pass("", "GET %s on the partner port got 404", path))
		case resp.status < 400:
			out = append(out, fail("", "GET %s on the partner port got HTTP %d: an admin route is reachable from the partner side", path, resp.status))
		default:
			out = append(out, failAt(Medium, "", "GET %s on the partner port got HTTP %d instead of 404: something on the partner port handles the path", path, resp.status))
		}
	}
	return out
}

// unavailable returns an error result when the gateway responded with 503.
// A kill-switch cut, like an overloaded gateway, rejects every request of
// the partner with 503 before the token and policy checks run. So the
// response shows nothing about the control the probe tests.
func (r *probeResponse) unavailable(what string) (result, bool) {
	if r.status != http.StatusServiceUnavailable {
		return result{}, false
	}
	why := "the gateway is not serving the probing partner"
	if r.killSwitch {
		why = "a kill-switch cut covers the probing partner"
	}
	return errorResult("", "%s got HTTP 503 (%s), so the control was not tested: find the cut with 'gatehouse killswitch status', release it with 'gatehouse killswitch release ID' for the audit, and probe again", what, why), true
}

// isOperationOutcome reports whether body is a JSON OperationOutcome.
func isOperationOutcome(body []byte) bool {
	var r struct {
		ResourceType string `json:"resourceType"`
	}
	return json.Unmarshal(body, &r) == nil && r.ResourceType == "OperationOutcome"
}

// namesKillSwitch reports whether body is an OperationOutcome whose
// diagnostics name the kill switch, as the gateway's rejection under an
// engaged cut does. The wording is the gateway's, not a stable field, so
// it only refines a message and decides no status.
func namesKillSwitch(body []byte) bool {
	var r struct {
		Issue []struct {
			Diagnostics string `json:"diagnostics"`
		} `json:"issue"`
	}
	if json.Unmarshal(body, &r) != nil {
		return false
	}
	for _, i := range r.Issue {
		if strings.Contains(i.Diagnostics, "kill switch") {
			return true
		}
	}
	return false
}
