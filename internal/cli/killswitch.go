package cli

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/gatehouse-health/gatehouse/internal/app"
	"github.com/gatehouse-health/gatehouse/internal/killswitch"
	"github.com/gatehouse-health/gatehouse/internal/pki"
	"github.com/gatehouse-health/gatehouse/internal/tlspolicy"
)

const killswitchUsage = `Usage:
    gatehouse killswitch status [admin options]
    gatehouse killswitch engage --mode full|read-only|writes-off [--partner ID | --route PATTERN] [--direction inbound|outbound|both] --reason TEXT [admin options]
    gatehouse killswitch release [admin options] ID

Admin options: --data DIR of a development gateway (default ./gatehouse-data),
or --admin URL --cert FILE --key FILE --ca FILE. Run
'gatehouse killswitch engage -h' for the options of one subcommand.
`

const (
	killswitchStatusSynopsis  = "gatehouse killswitch status [--data DIR | --admin URL --cert FILE --key FILE --ca FILE]"
	killswitchEngageSynopsis  = "gatehouse killswitch engage --mode full|read-only|writes-off [--partner ID | --route PATTERN] [--direction inbound|outbound|both] --reason TEXT [--data DIR | --admin URL --cert FILE --key FILE --ca FILE]"
	killswitchReleaseSynopsis = "gatehouse killswitch release [--data DIR | --admin URL --cert FILE --key FILE --ca FILE] ID"
)

// The killswitch commands talk to the admin listener of a running gateway.
// Each checks its own arguments before connecting, so a usage error exits
// 2 without a network call.
var killswitchGroup = &commandGroup{
	name:  "killswitch",
	usage: killswitchUsage,
	commands: map[string]command{
		"status":  {run: (*env).killswitchStatus},
		"engage":  {run: (*env).killswitchEngage},
		"release": {run: (*env).killswitchRelease},
	},
}

// adminFlags locate the admin listener and the administrator's
// certificate. In development mode the data directory supplies them.
type adminFlags struct {
	dataDir, adminURL, certFile, keyFile, caFile *string
}

func addAdminFlags(fs *flag.FlagSet) adminFlags {
	return adminFlags{
		dataDir:  fs.String("data", "./gatehouse-data", "development-mode data `DIR` (admin URL and certificate)"),
		adminURL: fs.String("admin", "", "admin listener `URL`, such as https://gatehouse.internal:9443"),
		certFile: fs.String("cert", "", "administrator certificate `FILE` (PEM)"),
		keyFile:  fs.String("key", "", "administrator key `FILE` (PEM)"),
		caFile:   fs.String("ca", "", "CA bundle `FILE` that verifies the admin listener"),
	}
}

// adminClientOf builds the administrator's client, printing the error on
// failure. The exit code is 2 when the admin options are incomplete or a
// file or the data directory cannot be used, and 1 when the data
// directory names no running gateway with an admin listener.
func (e *env) adminClientOf(f adminFlags) (*http.Client, string, int) {
	if missing := missingAdminOptions(f); len(missing) > 0 {
		e.errorf("missing %s: --admin, --cert, --key and --ca are required together", joinAnd(missing))
		e.hint("pass all four for a gateway with a configuration file, or only --data DIR for a development gateway")
		return nil, "", 2
	}
	if err := checkAdminURL(*f.adminURL); err != nil {
		e.errorf("%v", err)
		e.hint("the admin listener is reached over mutual TLS, at a URL such as https://gatehouse.internal:9443")
		return nil, "", 2
	}
	client, base, err := adminClient(*f.dataDir, *f.adminURL, *f.certFile, *f.keyFile, *f.caFile)
	if err != nil {
		e.errorf("%v", err)
		e.hint("pass --admin, --cert, --key and --ca, or --data for a development gateway")
		return nil, "", exitCode(err)
	}
	return client, base, 0
}

// checkAdminURL rejects an --admin value the client must not use. A
// scheme other than https sends the request without the administrator
// certificate, and a user name sends a password. A query or fragment ends
// up before the route path. An empty value passes, because a development
// data directory then supplies the URL.
func checkAdminURL(raw string) error {
	if raw == "" {
		return nil
	}
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "https" || u.Host == "" || u.User != nil || u.RawQuery != "" || u.ForceQuery || u.Fragment != "" {
		return fmt.Errorf("invalid --admin %q: use an https URL with a host and no query, fragment or user name", redactUserinfo(raw, u))
	}
	return nil
}

// redactUserinfo returns raw with any password replaced, so that the
// error does not print it.
func redactUserinfo(raw string, u *url.URL) string {
	if u == nil || u.User == nil {
		return raw
	}
	return u.Redacted()
}

// joinAnd joins words as a list in a sentence: "a", "a and b", "a, b and c".
func joinAnd(words []string) string {
	return joinList(words, "and")
}

// joinOr joins words as a choice in a sentence: "a", "a or b", "a, b or c".
func joinOr(words []string) string {
	return joinList(words, "or")
}

func joinList(words []string, conjunction string) string {
	if len(words) < 2 {
		return strings.Join(words, "")
	}
	return strings.Join(words[:len(words)-1], ", ") + " " + conjunction + " " + words[len(words)-1]
}

// missingAdminOptions returns the explicit admin options left out once
// any of --cert, --key and --ca is given. --admin alone is complete,
// because it may point at a development gateway whose --data supplies
// the certificate.
func missingAdminOptions(f adminFlags) []string {
	if *f.certFile == "" && *f.keyFile == "" && *f.caFile == "" {
		return nil
	}
	var missing []string
	for _, o := range []struct{ name, value string }{
		{"--admin", *f.adminURL}, {"--cert", *f.certFile}, {"--key", *f.keyFile}, {"--ca", *f.caFile},
	} {
		if o.value == "" {
			missing = append(missing, o.name)
		}
	}
	return missing
}

func (e *env) killswitchStatus(args []string) int {
	fs := e.flags("killswitch status")
	admin := addAdminFlags(fs)
	if code, ok := e.parse(fs, killswitchStatusSynopsis, args); !ok {
		return code
	}
	client, base, code := e.adminClientOf(admin)
	if code != 0 {
		return code
	}
	ctx, cancel := context.WithTimeout(e.ctx, 30*time.Second)
	defer cancel()
	return e.printCuts(ctx, client, base)
}

func (e *env) killswitchEngage(args []string) int {
	fs := e.flags("killswitch engage")
	admin := addAdminFlags(fs)
	mode := fs.String("mode", "", "how much to stop, `MODE`: full, read-only or writes-off (required)")
	partner := fs.String("partner", "", "cut only this partner `ID`")
	route := fs.String("route", "", "cut only this interaction `PATTERN`, such as Claim/$submit")
	direction := fs.String("direction", "both", "`DIRECTION` of the traffic to cut: inbound, outbound or both")
	reason := fs.String("reason", "", "why, as `TEXT` recorded in the audit log (required)")
	if code, ok := e.parse(fs, killswitchEngageSynopsis, args); !ok {
		return code
	}
	if *partner != "" && *route != "" {
		return e.usageError(killswitchEngageSynopsis, "--partner and --route cannot be combined: engage one cut for each")
	}
	scope := "all"
	switch {
	case *partner != "":
		scope = "partner:" + *partner
	case *route != "":
		scope = "route:" + *route
	}

	// The gateway checks the cut again. Checking here first makes a
	// typing mistake a usage error instead of a refused request.
	cut := killswitch.Cut{Mode: killswitch.Mode(*mode), Scope: scope, Direction: killswitch.Direction(*direction), Reason: *reason}
	if *mode == "" {
		return e.usageError(killswitchEngageSynopsis, "missing --mode: use full, read-only or writes-off")
	}
	if err := cut.Validate(); err != nil {
		return e.usageError(killswitchEngageSynopsis, "%s", strings.TrimPrefix(err.Error(), "killswitch: "))
	}

	client, base, code := e.adminClientOf(admin)
	if code != 0 {
		return code
	}
	ctx, cancel := context.WithTimeout(e.ctx, 30*time.Second)
	defer cancel()
	req := killswitch.EngageRequest{Mode: cut.Mode, Scope: scope, Direction: cut.Direction, Reason: *reason}
	return e.adminCall(ctx, client, http.MethodPost, base+"/killswitch", req, "engaged", "")
}

func (e *env) killswitchRelease(args []string) int {
	fs := e.flags("killswitch release")
	admin := addAdminFlags(fs)
	idArg, code, ok := e.parseOne(fs, killswitchReleaseSynopsis, args)
	if !ok {
		return code
	}
	if idArg == "" {
		e.errorf("missing cut ID: release takes the ID of one engaged cut")
		e.hint("run 'gatehouse killswitch status' to list engaged cuts and their ids")
		return 2
	}
	id, err := strconv.ParseInt(idArg, 10, 64)
	if err != nil || id <= 0 {
		e.errorf("invalid cut id %q: use the positive number in the ID column", idArg)
		e.hint("run 'gatehouse killswitch status' to list engaged cuts and their ids")
		return 2
	}
	client, base, code := e.adminClientOf(admin)
	if code != 0 {
		return code
	}
	ctx, cancel := context.WithTimeout(e.ctx, 30*time.Second)
	defer cancel()
	return e.adminCall(ctx, client, http.MethodPost, fmt.Sprintf("%s/killswitch/%d/release", base, id), nil, "released", fmt.Sprintf("cut %d", id))
}

func (e *env) printCuts(ctx context.Context, client *http.Client, base string) int {
	body, code := e.adminRequest(ctx, client, http.MethodGet, base+"/killswitch", nil, "")
	if code != 0 {
		return code
	}
	var st struct{ Cuts []killswitch.Cut }
	if err := json.Unmarshal(body, &st); err != nil {
		e.errorf("unexpected answer from the admin listener: %v", err)
		return 1
	}
	if len(st.Cuts) == 0 {
		fmt.Fprintln(e.stdout, "no cut engaged: the link is open")
		return 0
	}
	tw := tabwriter.NewWriter(e.stdout, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tMODE\tSCOPE\tDIRECTION\tENGAGED\tBY\tREASON")
	for _, c := range st.Cuts {
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\n", c.ID, c.Mode, c.Scope, c.Direction, c.EngagedAt.UTC().Format(time.RFC3339), c.EngagedBy, c.Reason)
	}
	tw.Flush()
	return 0
}

func (e *env) adminCall(ctx context.Context, client *http.Client, method, url string, payload any, done, subject string) int {
	body, code := e.adminRequest(ctx, client, method, url, payload, subject)
	if code != 0 {
		return code
	}
	var cut killswitch.Cut
	if json.Unmarshal(body, &cut) == nil && cut.ID > 0 {
		fmt.Fprintf(e.stdout, "%s cut %d: mode %s, scope %s, direction %s\n", done, cut.ID, cut.Mode, cut.Scope, cut.Direction)
		return 0
	}
	// A release returns {"released": ID}.
	var released struct{ Released int64 }
	if json.Unmarshal(body, &released) == nil && released.Released > 0 {
		fmt.Fprintf(e.stdout, "%s cut %d\n", done, released.Released)
		return 0
	}
	fmt.Fprintf(e.stdout, "%s: %s\n", done, bytes.TrimSpace(body))
	return 0
}

// adminRequest sends one request and reports a failure as an error line.
// subject names what the request acts on, such as "cut 3", so that the
// error for a 404 names the missing one. It is empty for a request on no
// object.
func (e *env) adminRequest(ctx context.Context, client *http.Client, method, url string, payload any, subject string) ([]byte, int) {
	var rd io.Reader = http.NoBody
	if payload != nil {
		b, _ := json.Marshal(payload)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, rd)
	if err != nil {
		e.errorf("%v", err)
		return nil, 1
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		e.errorf("admin listener: %v", err)
		if isCertificateVerificationError(err) {
			e.hint("the admin listener presents the gateway's server certificate (tls.cert_file): --ca must be the CA that issued it, and the host of --admin must be one of its names ('gatehouse pki issue server --dns NAME,... --ip ADDR,...')")
		} else if isTLSAlertFromServer(err) {
			e.hint("the admin listener rejected the administrator certificate: --cert must be an admin certificate ('gatehouse pki issue admin') from a CA in admin.client_ca_file (default tls.client_ca_file), not revoked, and --key must be its key")
		} else {
			e.hint("check that the gateway runs with an admin listener and that --admin is its URL")
		}
		return nil, 1
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode >= 300 {
		e.printAdminError(resp.StatusCode, body, subject)
		return nil, 1
	}
	return body, 0
}

// printAdminError prints the error and hint for an admin listener response
// with an error status. subject names the cut that the request releases,
// such as "cut 3", and is empty for an engage or a listing.
func (e *env) printAdminError(status int, body []byte, subject string) {
	var msg struct {
		Error        string    `json:"error"`
		ReleasedBy   string    `json:"released_by"`
		ReleasedAt   time.Time `json:"released_at"`
		ResourceType string    `json:"resourceType"`
	}
	json.Unmarshal(body, &msg)
	// The gateway's messages carry its package prefix, which means
	// nothing to an operator.
	reason := strings.TrimPrefix(msg.Error, "killswitch: ")
	switch {
	case msg.ResourceType == "OperationOutcome":
		// Only the FHIR listeners respond with an OperationOutcome, so
		// --admin names the inbound (public_url) or outbound listener.
		e.errorf("the gateway rejected the request (HTTP %d): --admin names a FHIR listener, not the admin listener", status)
		e.hint("set --admin to the URL of the admin listener (admin.listen in the configuration), not public_url or outbound.listen")
	case status == http.StatusConflict && subject != "" && msg.ReleasedBy != "":
		e.errorf("%s is already released: %s released it at %s", subject, msg.ReleasedBy, msg.ReleasedAt.UTC().Format(time.RFC3339))
		e.hint("nothing to do: the cut no longer blocks traffic; 'gatehouse audit show --interaction killswitch.release' shows the release")
	case status == http.StatusConflict && subject != "":
		// Another administrator's release has claimed the cut and not
		// finished, so its outcome is not known yet.
		e.errorf("%s was not released by this command: %s", subject, reason)
		e.hint("run 'gatehouse killswitch status' in a moment to see whether the other release finished")
	case status == http.StatusNotFound && subject != "":
		e.errorf("%s is not engaged: %s", subject, reason)
		e.hint("run 'gatehouse killswitch status' to list engaged cuts and their ids")
	default:
		if reason == "" {
			reason = "no reason given"
		}
		e.errorf("the gateway rejected the request (HTTP %d): %s", status, reason)
		switch status {
		case http.StatusUnauthorized, http.StatusForbidden:
			e.hint("use an administrator certificate ('gatehouse pki issue admin') chained to admin.client_ca_file")
		case http.StatusBadRequest:
			// The CLI checks mode, direction and reason itself, so the
			// gateway rejects with 400 only what it alone can check: the partner id.
			e.hint("correct the value named above: --partner takes a partners[].id of the gateway's configuration, as listed there")
		}
	}
}

// isCertificateVerificationError reports whether the client rejected the
// server certificate, for example for an unknown issuer or a host name the
// certificate does not name. crypto/tls wraps every such x509 error in a
// *tls.CertificateVerificationError.
func isCertificateVerificationError(err error) bool {
	var verification *tls.CertificateVerificationError
	return errors.As(err, &verification)
}

// isTLSAlertFromServer reports whether the server ended the handshake
// with a TLS alert. The admin listener sends one when it rejects the client
// certificate, or when the client sent none because no certificate of
// --cert's CA was among the CAs the listener requested.
func isTLSAlertFromServer(err error) bool {
	var opErr *net.OpError
	return errors.As(err, &opErr) && opErr.Op == "remote error"
}

// adminClient builds the administrator's mutual-TLS client, from explicit
// files or from a development data directory.
func adminClient(dataDir, adminURL, certFile, keyFile, caFile string) (*http.Client, string, error) {
	if certFile == "" {
		layout, err := openDevData(dataDir)
		if err != nil && adminURL != "" {
			// The data directory matters only as the source of the
			// certificate, so the error names the remote URL alone.
			return nil, "", unusableInput(fmt.Errorf("missing --cert, --key and --ca: a remote admin URL (--admin %s) needs the administrator's certificate, key and CA", adminURL))
		}
		if err != nil {
			return nil, "", err
		}
		certFile, keyFile = app.DevAdminFiles(layout.Dir)
		caFile = layout.CACertFile
		if adminURL == "" {
			ep, err := readEndpoint(layout.Dir)
			if err != nil {
				return nil, "", err
			}
			if ep.AdminURL == "" {
				return nil, "", fmt.Errorf("the gateway using %s runs without an admin listener", layout.Dir)
			}
			adminURL = ep.AdminURL
		}
	}
	if adminURL == "" || keyFile == "" || caFile == "" {
		return nil, "", fmt.Errorf("--admin, --cert, --key and --ca are required together")
	}
	cert, err := pki.LoadTLSCertificate(certFile, keyFile)
	if err != nil {
		return nil, "", unusableInput(err)
	}
	roots, err := pki.LoadCertPool(caFile)
	if err != nil {
		return nil, "", unusableInput(err)
	}
	tr := &http.Transport{TLSClientConfig: tlspolicy.Client(roots, &cert)}
	return &http.Client{Transport: tr, Timeout: 30 * time.Second}, strings.TrimRight(adminURL, "/"), nil
}
