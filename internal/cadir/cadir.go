// Package cadir keeps Gatehouse's private CA in a directory: a root, an
// issuing intermediate that signs every leaf and the CRL, an index of
// issued certificates, and the CRL itself. `gatehouse pki` is its command
// line.
//
// Layout, relative to the directory:
//
//	ca.json                      format version, key type, creation time, offline-root flag
//	root.pem                     root certificate: the trust anchor (tls.client_ca_file)
//	root-key.pem                 root key, mode 0600; absent when the root is kept offline
//	issuing.pem                  issuing CA certificate followed by the root
//	issuing-key.pem              issuing CA key, mode 0600
//	crl.pem                      X.509 v2 CRL signed by the issuing CA (tls.crl_file)
//	index.json                   every issued certificate, its revocation, the last CRL number
//	issued/<serial>.pem          a copy of every issued certificate
//	certs/                       where `gatehouse pki issue` writes certificates and keys by default
//	.lock                        exists while a command changes the directory
//
// With an offline root, Init writes the root key to
// offline-root/root-key.pem, for the operator to move to offline storage;
// nothing this package does afterwards needs it.
//
// Serial numbers are written as lower-case hexadecimal without separators,
// as `openssl x509 -serial` prints them but in lower case.
package cadir

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/gatehouse-health/gatehouse/internal/pki"
	"github.com/gatehouse-health/gatehouse/internal/safefile"
)

// File names inside a CA directory.
const (
	MetaFile       = "ca.json"
	RootCertFile   = "root.pem"
	RootKeyFile    = "root-key.pem"
	IssuingFile    = "issuing.pem"
	IssuingKeyFile = "issuing-key.pem"
	CRLFile        = "crl.pem"
	IndexFile      = "index.json"
	IssuedDir      = "issued"
	lockFile       = ".lock"
	// OfflineRootKeyFile is where Init writes the root key of an offline
	// root.
	OfflineRootKeyFile = "offline-root/root-key.pem"
)

// DefaultCRLValidity is the time from a CRL's ThisUpdate to its NextUpdate.
// A CRL must be re-signed (`gatehouse pki crl`) before then, because the
// gateway refuses partner certificates when their issuer's CRL is stale.
const DefaultCRLValidity = 30 * 24 * time.Hour

const formatVersion = 1

// ErrNotCADir is returned by Open for a directory without ca.json.
var ErrNotCADir = errors.New("cadir: not a CA directory")

// Meta is the content of ca.json.
type Meta struct {
	Version     int         `json:"version"`
	KeyType     pki.KeyType `json:"key_type"`
	Created     time.Time   `json:"created"`
	OfflineRoot bool        `json:"offline_root"`
}

// Dir is an opened CA directory.
type Dir struct {
	// Path is the directory.
	Path string
	// Meta is ca.json.
	Meta Meta
	// Root is the root certificate.
	Root *pki.Certificate
	// Issuing is the issuing CA, with its key.
	Issuing *pki.CA
	// Now returns the current time. Nil means time.Now.
	Now func() time.Time
}

// Open reads the CA directory at path.
func Open(path string) (*Dir, error) {
	data, err := os.ReadFile(filepath.Join(path, MetaFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("%w: %s has no %s", ErrNotCADir, path, MetaFile)
	}
	if err != nil {
		return nil, fmt.Errorf("cadir: %w", err)
	}
	var meta Meta
	if err := decodeStrict(data, &meta); err != nil {
		return nil, fmt.Errorf("cadir: %s: %w", filepath.Join(path, MetaFile), err)
	}
	if meta.Version != formatVersion {
		return nil, fmt.Errorf("cadir: %s: unsupported format version %d", filepath.Join(path, MetaFile), meta.Version)
	}
	issuing, err := pki.LoadCA(filepath.Join(path, IssuingFile), filepath.Join(path, IssuingKeyFile))
	if err != nil {
		return nil, err
	}
	roots, err := pki.LoadCertificates(filepath.Join(path, RootCertFile))
	if err != nil {
		return nil, err
	}
	root := &pki.Certificate{Leaf: roots[0], Chain: [][]byte{roots[0].Raw}}
	return &Dir{Path: path, Meta: meta, Root: root, Issuing: issuing}, nil
}

func (d *Dir) now() time.Time {
	if d.Now == nil {
		return time.Now()
	}
	return d.Now()
}

func (d *Dir) file(name string) string { return filepath.Join(d.Path, name) }

// Lock creates the lock file, so that two commands cannot change the index
// at once. The returned function removes it.
func (d *Dir) Lock() (func(), error) {
	path := d.file(lockFile)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, os.ErrExist) {
		return nil, fmt.Errorf("cadir: %s exists: another command is changing the CA, or one was interrupted (remove the file if no command is running)", path)
	}
	if err != nil {
		return nil, fmt.Errorf("cadir: %w", err)
	}
	fmt.Fprintf(f, "%d\n", os.Getpid())
	f.Close()
	return func() { os.Remove(path) }, nil
}

// writeAtomic replaces path so that readers such as the gateway's reload
// never see a partial file.
func writeAtomic(path string, data []byte, perm os.FileMode) error {
	if err := safefile.WriteAtomic(path, data, perm); err != nil {
		return fmt.Errorf("cadir: %w", err)
	}
	return nil
}

func decodeStrict(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return errors.New("unexpected data after the JSON object")
	}
	return nil
}
