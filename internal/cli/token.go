package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/gatehouse-health/gatehouse/internal/app"
	"github.com/gatehouse-health/gatehouse/internal/devmode"
	"github.com/gatehouse-health/gatehouse/internal/ehrclient"
)

const tokenSynopsis = "gatehouse token [--data DIR] [--partner NAME] [--url URL] [--scope SCOPES]"

// token plays the partner side of the SMART Backend Services flow and prints
// the access token alone on stdout, so scripts can capture it.
func (e *env) token(args []string) int {
	if len(args) > 0 && args[0] == "keygen" {
		return e.tokenKeygen(args[1:])
	}
	fs := e.flags("token")
	dataDir := fs.String("data", "./gatehouse-data", "development-mode data `DIR` holding the partner's certificate and key")
	partner := fs.String("partner", "demo-ehr", "partner `NAME` whose credentials to use")
	gatewayURL := fs.String("url", "", "gateway public `URL`; default: the one the running development gateway wrote into DIR")
	scope := fs.String("scope", app.DevScopes, "space-separated `SCOPES` to request")
	if code, ok := e.parse(fs, tokenSynopsis, args); !ok {
		return code
	}

	// Development mode creates one partner, so any other name is a usage
	// error, found before the data directory or the network is touched.
	if *partner != "demo-ehr" {
		e.errorf("unknown partner %q: development mode has only the partner demo-ehr", *partner)
		e.hint("omit --partner, or pass --partner demo-ehr")
		return 2
	}
	layout, err := openDevData(*dataDir)
	if err != nil {
		e.errorf("%v", err)
		// Suggesting development mode in a directory that already holds
		// other files would mix generated keys into it.
		if entries, _ := os.ReadDir(*dataDir); len(entries) > 0 {
			e.hint("token works with development data only; against a gateway with a configuration file, play the partner with 'gatehouse ehr'")
		} else {
			e.hint("start the gateway once with 'gatehouse serve --data %s' to create it", *dataDir)
		}
		return 1
	}
	publicURL := *gatewayURL
	if publicURL == "" {
		if publicURL, err = readPublicURL(layout.Dir); err != nil {
			e.errorf("%v", err)
			e.hint("start the gateway with 'gatehouse serve --data %s', or pass --url", *dataDir)
			return 1
		}
	}
	client, err := ehrclient.DevPartner(layout, publicURL, *scope)
	if err != nil {
		e.errorf("%v", err)
		return 1
	}
	ctx, cancel := context.WithTimeout(e.ctx, 30*time.Second)
	defer cancel()
	resp, err := client.Token(ctx)
	if err != nil {
		e.errorf("%v", err)
		e.hint("%s", ehrclient.TokenHint(err, publicURL))
		return 1
	}
	fmt.Fprintln(e.stdout, resp.AccessToken)
	return 0
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
// it never creates one: a token for a CA nobody runs is of no use.
func openDevData(dir string) (*devmode.Layout, error) {
	if _, err := os.Stat(filepath.Join(dir, devMarkerFile)); err != nil {
		if _, statErr := os.Stat(dir); statErr != nil {
			return nil, fmt.Errorf("%s is not a development data directory: the directory does not exist", dir)
		}
		return nil, fmt.Errorf("%s is not a development data directory: it has no %s, which 'gatehouse serve' without --config writes last", dir, devMarkerFile)
	}
	layout, _, err := devmode.Ensure(dir, devmode.Options{})
	return layout, err
}

// devMarkerFile is the file devmode writes last into a complete data
// directory.
const devMarkerFile = "devmode.json"
