// Package devmode creates and reuses the data directory that `gatehouse
// serve` uses when it runs without a configuration file, so that a first run
// needs nothing but the binary.
//
// The directory contains a private root CA and everything issued from it, for
// one demo partner. Paths are relative to the data directory:
//
//	devmode.json                          marker, written last
//	ca/ca.pem, ca/ca-key.pem              root CA, ECDSA P-256
//	server/server.pem, server-key.pem     TLS server certificate for localhost, 127.0.0.1 and ::1
//	partners/demo-ehr/client.pem          demo partner's TLS client certificate, with
//	partners/demo-ehr/client-key.pem        URI SANs urn:gatehouse:partner:demo-ehr and the partner's NPI
//	partners/demo-ehr/assertion-key.jwk   demo partner's private ES384 JWK for signing client assertions
//	partners/demo-ehr/jwks.json           the matching public JWK set, which the gateway registers
//	token/signing-key.pem                 gateway's ECDSA P-256 key for signing access tokens
//
// The data directory and its subdirectories have mode 0700 and private keys
// mode 0600. A first start builds the whole tree in a temporary directory
// next to the data directory and renames it into place, so an interrupted
// start leaves either nothing or a temporary directory that Ensure reports.
// Later starts reuse every key. Only leaf certificates close to expiry are
// reissued, from the existing CA and for the existing keys.
//
// Development mode is for one machine: the server certificate names only
// loopback addresses, and the CA key is stored next to the certificates it
// signs.
package devmode

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Fixed values of the development setup.
const (
	// DefaultDir is the data directory the CLI uses when --data is not set.
	DefaultDir = "gatehouse-data"
	// PartnerID is the demo partner's id.
	PartnerID = "demo-ehr"
	// PartnerNPI is the demo partner's organisation NPI: the requesting
	// provider in the Da Vinci PAS example bundles.
	PartnerNPI = "8189991234"
	// AssertionAlgorithm is the JWS algorithm of the demo partner's
	// assertion key: ECDSA with P-384 and SHA-384.
	AssertionAlgorithm = "ES384"
	// MinRemainingValidity is how long the server and client certificates
	// must stay valid at start-up. Below it they are reissued.
	MinRemainingValidity = 24 * time.Hour
)

// Options configures Ensure.
type Options struct {
	// Now returns the current time. Nil means time.Now. Tests set it to
	// simulate later starts.
	Now func() time.Time
}

// Layout is a complete, verified development data directory. All paths are
// absolute.
type Layout struct {
	Dir        string
	MarkerFile string

	CACertFile string
	CAKeyFile  string

	ServerCertFile string
	ServerKeyFile  string

	ClientCertFile   string
	ClientKeyFile    string
	AssertionKeyFile string
	JWKSFile         string

	TokenKeyFile string

	// CAFingerprint is the SHA-256 fingerprint of the CA certificate, as
	// pki.Fingerprint returns it.
	CAFingerprint string
	// Reissued lists the certificate files that this Ensure call reissued
	// because they had expired or had less than MinRemainingValidity left.
	Reissued []string
	// Warnings are problems that do not stop start-up, such as a data
	// directory readable by other users. The CLI prints them.
	Warnings []string
}

// Ensure returns the development layout in dir, creating it when dir is
// missing or empty, and created reports whether it did. Ensure verifies that
// every file loads and reissues leaf certificates that are close to expiry.
// It returns an error for a directory that contains other files, for an
// incomplete layout, and for files that fail verification. Each error names
// the path and what to do.
func Ensure(dir string, opts Options) (layout *Layout, created bool, err error) {
	if dir == "" {
		return nil, false, errors.New("devmode: data directory path is empty")
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, false, fmt.Errorf("devmode: resolving data directory %q: %w", dir, err)
	}
	now := opts.Now
	if now == nil {
		now = time.Now
	}

	state, err := inspect(abs)
	if err != nil {
		return nil, false, err
	}
	switch state {
	case stateForeign:
		return nil, false, fmt.Errorf("devmode: %s is not empty and is not a Gatehouse data directory; choose another --data directory", abs)
	case stateMissing, stateEmpty:
		if created, err = create(abs, now); err != nil {
			return nil, false, err
		}
	}

	layout = newLayout(abs)
	if err := layout.checkComplete(); err != nil {
		return nil, false, err
	}
	if err := layout.verify(now); err != nil {
		return nil, false, err
	}
	layout.Warnings = layout.permissionWarnings()
	layout.Warnings = append(layout.Warnings, leftoverWarnings(abs)...)
	return layout, created, nil
}

// File names relative to the data directory.
const (
	markerName       = "devmode.json"
	caCertName       = "ca/ca.pem"
	caKeyName        = "ca/ca-key.pem"
	serverCertName   = "server/server.pem"
	serverKeyName    = "server/server-key.pem"
	partnerDirName   = "partners/" + PartnerID
	clientCertName   = partnerDirName + "/client.pem"
	clientKeyName    = partnerDirName + "/client-key.pem"
	assertionKeyName = partnerDirName + "/assertion-key.jwk"
	jwksName         = partnerDirName + "/jwks.json"
	tokenKeyName     = "token/signing-key.pem"
)

// subdirectories in creation order.
var subdirectories = []string{"ca", "server", "partners", partnerDirName, "token"}

// topLevelNames are the entries a first start creates directly in the data
// directory. A directory that contains only some of them is an incomplete
// layout, not a foreign directory.
var topLevelNames = map[string]bool{
	markerName: true, "ca": true, "server": true, "partners": true, "token": true,
}

func newLayout(dir string) *Layout {
	path := func(name string) string { return filepath.Join(dir, filepath.FromSlash(name)) }
	return &Layout{
		Dir:              dir,
		MarkerFile:       path(markerName),
		CACertFile:       path(caCertName),
		CAKeyFile:        path(caKeyName),
		ServerCertFile:   path(serverCertName),
		ServerKeyFile:    path(serverKeyName),
		ClientCertFile:   path(clientCertName),
		ClientKeyFile:    path(clientKeyName),
		AssertionKeyFile: path(assertionKeyName),
		JWKSFile:         path(jwksName),
		TokenKeyFile:     path(tokenKeyName),
	}
}

// files returns every file of the layout, the marker last.
func (l *Layout) files() []string {
	return []string{
		l.CACertFile, l.CAKeyFile, l.ServerCertFile, l.ServerKeyFile,
		l.ClientCertFile, l.ClientKeyFile, l.AssertionKeyFile, l.JWKSFile,
		l.TokenKeyFile, l.MarkerFile,
	}
}

// privateFiles returns the files that hold private keys.
func (l *Layout) privateFiles() []string {
	return []string{l.CAKeyFile, l.ServerKeyFile, l.ClientKeyFile, l.AssertionKeyFile, l.TokenKeyFile}
}

type dirState int

const (
	stateMissing dirState = iota
	stateEmpty
	stateGatehouse // contains the marker, or only names a first start creates
	stateForeign
)

// inspect classifies the data directory without changing it.
func inspect(dir string) (dirState, error) {
	info, err := os.Stat(dir)
	if errors.Is(err, os.ErrNotExist) {
		return stateMissing, nil
	}
	if err != nil {
		return 0, fmt.Errorf("devmode: %w", err)
	}
	if !info.IsDir() {
		return 0, fmt.Errorf("devmode: %s is not a directory; choose another --data directory", dir)
	}

	entries, err := os.ReadDir(dir)
	if err != nil {
		return 0, fmt.Errorf("devmode: reading data directory: %w", err)
	}
	if len(entries) == 0 {
		return stateEmpty, nil
	}
	for _, e := range entries {
		if e.Name() == markerName {
			return stateGatehouse, nil
		}
	}
	for _, e := range entries {
		if !topLevelNames[e.Name()] {
			return stateForeign, nil
		}
	}
	return stateGatehouse, nil
}

// IsDataDir reports whether dir is a development-mode data directory:
// whether it holds the marker file that Ensure writes last.
func IsDataDir(dir string) bool {
	_, err := os.Stat(filepath.Join(dir, markerName))
	return err == nil
}

// checkComplete returns an error naming every missing file.
func (l *Layout) checkComplete() error {
	var missing []string
	for _, path := range l.files() {
		if _, err := os.Lstat(path); errors.Is(err, os.ErrNotExist) {
			missing = append(missing, path)
		} else if err != nil {
			return fmt.Errorf("devmode: %w", err)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	return fmt.Errorf("devmode: data directory %s is incomplete, probably from an interrupted first start: missing %s; delete the directory to create a new one",
		l.Dir, strings.Join(missing, ", "))
}

// broken wraps a verification failure with the way out. Errors from this
// package's own loaders already carry the "devmode: " prefix.
func (l *Layout) broken(err error) error {
	const hint = "; delete %s to create a new development setup"
	if strings.HasPrefix(err.Error(), "devmode: ") {
		return fmt.Errorf("%w"+hint, err, l.Dir)
	}
	return fmt.Errorf("devmode: %w"+hint, err, l.Dir)
}
