package devmode

import (
	"bytes"
	"crypto"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/gatehouse-health/gatehouse/internal/pki"
)

// verify loads every file of a complete layout, reissues leaf certificates
// close to expiry, and checks that the pieces belong together.
func (l *Layout) verify(now func() time.Time) error {
	if err := l.readMarker(); err != nil {
		return l.broken(err)
	}
	ca, err := l.loadCA(now())
	if err != nil {
		return l.broken(err)
	}
	ca.Now = now
	l.CAFingerprint = pki.Fingerprint(ca.Certificate)

	for _, spec := range l.leafSpecs() {
		if err := l.ensureLeaf(ca, spec, now()); err != nil {
			return err
		}
	}

	if err := l.verifyAssertionKeys(); err != nil {
		return l.broken(err)
	}
	if _, err := l.TokenSigningKey(); err != nil {
		return l.broken(err)
	}
	return nil
}

func (l *Layout) readMarker() error {
	data, err := readFileCapped(l.MarkerFile, maxJSONFileSize)
	if err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var m marker
	if err := dec.Decode(&m); err != nil {
		return fmt.Errorf("%s: invalid marker: %w", l.MarkerFile, err)
	}
	if m.Format != markerFormat || m.Version != markerVersion || m.Partner != PartnerID {
		return fmt.Errorf("%s: marker has format %q version %d partner %q, want %q version %d partner %q",
			l.MarkerFile, m.Format, m.Version, m.Partner, markerFormat, markerVersion, PartnerID)
	}
	return nil
}

// loadCA loads the development root and checks that it stays valid for
// MinRemainingValidity. An expiring root is not replaced automatically,
// because every certificate and registration built on it would change.
func (l *Layout) loadCA(now time.Time) (*pki.CA, error) {
	ca, err := pki.LoadCA(l.CACertFile, l.CAKeyFile)
	if err != nil {
		return nil, err
	}
	if len(ca.Parents) != 0 {
		return nil, fmt.Errorf("%s is not a self-signed root", l.CACertFile)
	}
	if ca.Certificate.NotAfter.Sub(now) < MinRemainingValidity {
		return nil, fmt.Errorf("development CA %s expires at %s", l.CACertFile,
			ca.Certificate.NotAfter.UTC().Format(time.RFC3339))
	}
	return ca, nil
}

// leafSpec describes one leaf certificate of the layout.
type leafSpec struct {
	certFile, keyFile string
	usage             x509.ExtKeyUsage
	issue             func(ca *pki.CA, pub crypto.PublicKey) (*pki.Certificate, error)
	// check verifies the identity the leaf must carry.
	check func(leaf *x509.Certificate) error
}

func (l *Layout) leafSpecs() []leafSpec {
	return []leafSpec{
		{
			certFile: l.ServerCertFile, keyFile: l.ServerKeyFile,
			usage: x509.ExtKeyUsageServerAuth, issue: issueServer,
			check: checkServerNames,
		},
		{
			certFile: l.ClientCertFile, keyFile: l.ClientKeyFile,
			usage: x509.ExtKeyUsageClientAuth, issue: issueClient,
			check: checkPartnerIdentity,
		},
	}
}

// ensureLeaf loads a leaf and its key, reissues the certificate for the
// same key when it has less than MinRemainingValidity left, and verifies it
// against the CA for its extended key usage.
func (l *Layout) ensureLeaf(ca *pki.CA, spec leafSpec, now time.Time) error {
	tc, err := pki.LoadTLSCertificate(spec.certFile, spec.keyFile)
	if err != nil {
		return l.broken(err)
	}
	leaf := tc.Leaf

	if leaf.NotAfter.Sub(now) < MinRemainingValidity || now.Before(leaf.NotBefore) {
		c, err := spec.issue(ca, leaf.PublicKey)
		if err != nil {
			return l.broken(fmt.Errorf("reissuing %s: %w", spec.certFile, err))
		}
		if err := replaceCertificateFile(spec.certFile, c.Chain); err != nil {
			return err
		}
		l.Reissued = append(l.Reissued, spec.certFile)
		leaf = c.Leaf
	}

	_, err = leaf.Verify(x509.VerifyOptions{
		Roots:       ca.CertPool(),
		CurrentTime: now,
		KeyUsages:   []x509.ExtKeyUsage{spec.usage},
	})
	if err != nil {
		return l.broken(fmt.Errorf("%s does not verify against %s: %w", spec.certFile, l.CACertFile, err))
	}
	if err := spec.check(leaf); err != nil {
		return l.broken(fmt.Errorf("%s: %w", spec.certFile, err))
	}
	return nil
}

func checkServerNames(leaf *x509.Certificate) error {
	for _, host := range []string{"localhost", "127.0.0.1", "::1"} {
		if err := leaf.VerifyHostname(host); err != nil {
			return err
		}
	}
	return nil
}

func checkPartnerIdentity(leaf *x509.Certificate) error {
	id, ok := pki.PartnerFromCertificate(leaf)
	if !ok || id != PartnerID {
		return fmt.Errorf("certificate does not name partner %q in a URI SAN", PartnerID)
	}
	return nil
}

// replaceCertificateFile writes chain next to path and renames it over
// path, so a crash leaves either the old or the new certificate.
func replaceCertificateFile(path string, chain [][]byte) error {
	tmp := path + ".new"
	if err := os.Remove(tmp); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("devmode: removing stale %s: %w", tmp, err)
	}
	if err := pki.WriteCertificateFile(tmp, chain); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("devmode: replacing certificate: %w", err)
	}
	syncDir(filepath.Dir(path))
	return nil
}

func (l *Layout) verifyAssertionKeys() error {
	private, err := l.PartnerAssertionKey()
	if err != nil {
		return err
	}
	set, err := l.PartnerJWKS()
	if err != nil {
		return err
	}
	if err := checkJWKSHasKey(set, private); err != nil {
		return fmt.Errorf("%s: %w", l.JWKSFile, err)
	}
	return nil
}

// permissionWarnings reports a data directory or private key file that
// group or other users can access.
func (l *Layout) permissionWarnings() []string {
	// NOTE: on Windows, Go reports mode bits that do not reflect the ACLs
	// that actually control access, so no check is made there.
	if runtime.GOOS == "windows" {
		return nil
	}
	var warnings []string
	check := func(path string, want os.FileMode) {
		info, err := os.Stat(path)
		if err != nil {
			warnings = append(warnings, fmt.Sprintf("devmode: cannot check the mode of %s: %v", path, err))
			return
		}
		if mode := info.Mode().Perm(); mode&0o077 != 0 {
			warnings = append(warnings, fmt.Sprintf("devmode: %s has mode %04o and is accessible by other users; run chmod %04o %s",
				path, mode, want, path))
		}
	}
	check(l.Dir, 0o700)
	for _, path := range l.privateFiles() {
		check(path, 0o600)
	}
	return warnings
}

// leftoverWarnings reports temporary directories that an interrupted first
// start left next to dir.
func leftoverWarnings(dir string) []string {
	entries, err := os.ReadDir(filepath.Dir(dir))
	if err != nil {
		return nil
	}
	var warnings []string
	for _, e := range entries {
		if e.IsDir() && strings.HasPrefix(e.Name(), partialPrefix(dir)) {
			path := filepath.Join(filepath.Dir(dir), e.Name())
			warnings = append(warnings, fmt.Sprintf("devmode: %s is left over from an interrupted first start and can be deleted", path))
		}
	}
	return warnings
}
