package cli

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/gatehouse-health/gatehouse/internal/app"
	"github.com/gatehouse-health/gatehouse/internal/devmode"
	"github.com/gatehouse-health/gatehouse/internal/ehrclient"
	"github.com/gatehouse-health/gatehouse/internal/token"
)

const tokenSynopsis = "gatehouse token [--data DIR [--url URL] | --url URL --partner ID --cert FILE --key FILE --ca FILE --assertion-key FILE] [--scope SCOPES]..."

// token plays the partner side of the SMART Backend Services flow and prints
// the access token alone on stdout, so scripts can capture it. The granted
// scopes go to stderr. Without credential options it uses the demo partner
// of a development data directory. With them, it uses a registered partner
// of any gateway.
func (e *env) token(args []string) int {
	if len(args) > 0 && args[0] == "keygen" {
		return e.tokenKeygen(args[1:])
	}
	fs := e.flags("token")
	dataDir := fs.String("data", "./gatehouse-data", "development-mode data `DIR` holding the demo partner's certificate and key")
	partner := fs.String("partner", app.DevPartner, "the partner's OAuth client `ID` at the gateway (partners[].id); required with --cert")
	gatewayURL := fs.String("url", "", "gateway public `URL`; required with --cert; default: the one the running development gateway wrote into DIR")
	scope := scopeFlag(fs, app.DevScopes)
	files := partnerFileFlags(fs)
	if code, ok := e.parse(fs, tokenSynopsis, args); !ok {
		return code
	}

	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	withFiles := files.given(set)
	var (
		opts ehrclient.Options
		code int
	)
	if withFiles {
		opts, code = e.registeredPartnerOptions(tokenPartnerUse, files, set, *gatewayURL, *partner, scope.String())
	} else {
		opts, code = e.tokenDevOptions(*dataDir, *gatewayURL, *partner, scope.String())
	}
	if code != 0 {
		return code
	}

	client, err := ehrclient.New(opts)
	if err != nil {
		e.errorf("%v", err)
		return 1
	}
	defer client.CloseIdle()
	ctx, cancel := context.WithTimeout(e.ctx, 30*time.Second)
	defer cancel()
	resp, err := client.Token(ctx)
	if err != nil {
		e.errorf("%v", err)
		if withFiles {
			e.hint("%s", partnerTokenHint(err, "--url", opts.PublicURL))
		} else {
			e.hint("%s", ehrclient.TokenHint(err, opts.PublicURL))
		}
		return 1
	}
	fmt.Fprintln(e.stdout, resp.AccessToken)
	fmt.Fprintf(e.stderr, "gatehouse: scopes granted: %s (the token expires in %d s)\n", resp.Scope, resp.ExpiresIn)
	return 0
}

// tokenDevOptions returns the demo partner's credentials from the
// development data directory dataDir. A non-zero code is the exit code to
// return.
func (e *env) tokenDevOptions(dataDir, url, partner, scope string) (ehrclient.Options, int) {
	if code := e.checkDevPartner(partner); code != 0 {
		return ehrclient.Options{}, code
	}
	layout, err := openDevData(dataDir)
	if err != nil {
		e.errorf("%v", err)
		// Suggesting development mode in a directory that already holds
		// other files would mix generated keys into it.
		if entries, _ := os.ReadDir(dataDir); len(entries) > 0 {
			e.hint("without --cert, token uses development data; against a gateway with a configuration file, pass --url, --partner, --cert, --key, --ca and --assertion-key")
		} else {
			e.hint("start the gateway once with 'gatehouse serve --data %s' to create it, or pass a registered partner's files with --cert, --key, --ca and --assertion-key", dataDir)
		}
		return ehrclient.Options{}, exitCode(err)
	}
	if url == "" {
		if url, err = readPublicURL(layout.Dir); err != nil {
			e.errorf("%v", err)
			e.hint("start the gateway with 'gatehouse serve --data %s', or pass --url", dataDir)
			return ehrclient.Options{}, 1
		}
	}
	opts, err := layoutClientOptions(layout, url, scope)
	if err != nil {
		e.errorf("%v", err)
		return ehrclient.Options{}, exitCode(err)
	}
	return opts, 0
}

// readEndpoint reads the endpoint file a running development gateway wrote.
func readEndpoint(dir string) (*endpoint, error) {
	data, err := os.ReadFile(filepath.Join(dir, endpointFile))
	if err != nil {
		return nil, fmt.Errorf("no running gateway recorded in %s: %w", dir, err)
	}
	var ep endpoint
	if err := json.Unmarshal(data, &ep); err != nil || ep.PublicURL == "" {
		return nil, fmt.Errorf("%s is not a valid endpoint file", filepath.Join(dir, endpointFile))
	}
	return &ep, nil
}

func readPublicURL(dir string) (string, error) {
	ep, err := readEndpoint(dir)
	if err != nil {
		return "", err
	}
	return ep.PublicURL, nil
}

// openDevData opens an existing development data directory. Unlike serve,
// it never creates one, because a token from a CA no gateway uses is of no
// use. Every error is an inputError, since --data or its default named the
// directory.
func openDevData(dir string) (*devmode.Layout, error) {
	if _, err := os.Stat(filepath.Join(dir, devMarkerFile)); err != nil {
		if _, statErr := os.Stat(dir); statErr != nil {
			return nil, unusableInput(fmt.Errorf("%s is not a development data directory: the directory does not exist", dir))
		}
		return nil, unusableInput(fmt.Errorf("%s is not a development data directory: it has no %s, which 'gatehouse serve' without --config writes last", dir, devMarkerFile))
	}
	layout, _, err := devmode.Ensure(dir, devmode.Options{})
	return layout, unusableInput(err)
}

// devMarkerFile is the file devmode writes last into a complete data
// directory.
const devMarkerFile = "devmode.json"

// http2NotEstablished is the text of net/http's error for an HTTP/2
// connection that closed before it carried its first request (Go 1.26).
// net/http keeps that error unexported, so errors.Is cannot match it.
const http2NotEstablished = "http2: client conn could not be established"

// partnerTokenHint returns the next step for a failed token request made
// with a registered partner's files, naming the option to check.
// urlOption is the option that gave publicURL: --url, or --target for load.
func partnerTokenHint(err error, urlOption, publicURL string) string {
	var (
		responseErr  *token.ResponseError
		authorityErr x509.UnknownAuthorityError
		hostnameErr  x509.HostnameError
		opErr        *net.OpError
	)
	switch {
	case errors.As(err, &responseErr) && responseErr.Code == token.CodeInvalidClient &&
		responseErr.Description == token.DescriptionWrongAudience:
		// Every replica accepts only assertions whose aud is the token URL
		// of the configured public_url, so a replica's own URL is rejected.
		return fmt.Sprintf("the client assertion names %s/oauth/token, which is not the gateway's token endpoint: %s must be the gateway's public_url exactly as configured, which behind a load balancer is the balancer's URL and not a replica's own address", strings.TrimRight(publicURL, "/"), urlOption)
	case errors.As(err, &responseErr) && responseErr.Code == token.CodeInvalidClient:
		return "the gateway does not accept this partner: --partner must be a partners[].id, --cert a certificate issued to that partner by the CA of tls.client_ca_file, and --assertion-key a private key whose public key is in the partner's JWK set"
	case errors.As(err, &authorityErr):
		return "--ca does not verify the gateway's certificate: pass the root of the CA that issued the gateway's tls.cert_file"
	case errors.As(err, &hostnameErr):
		return "the gateway's certificate does not name the host of --url: pass the gateway's public_url"
	case errors.As(err, &opErr) && opErr.Op == "remote error",
		errors.Is(err, syscall.EPIPE), errors.Is(err, syscall.ECONNRESET),
		errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF),
		strings.Contains(err.Error(), http2NotEstablished):
		// With TLS 1.3 the client finishes its handshake before the
		// gateway checks the client certificate. A rejection then arrives
		// as a TLS alert. When the gateway closed the connection first, it
		// arrives as a broken connection, an end of stream before the
		// response, or an HTTP/2 connection that closed before its first
		// request, which net/http reports without the cause.
		return "the gateway closed the connection, as it does when it rejects the client certificate of --cert: the certificate must be issued by the CA of tls.client_ca_file and not revoked, and --key must be its key"
	}
	return ehrclient.TokenHint(err, publicURL)
}
