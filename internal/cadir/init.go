package cadir

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/gatehouse-health/gatehouse/internal/pki"
)

// InitOptions configures Init.
type InitOptions struct {
	// KeyType is the algorithm of the root and issuing CA keys. Zero means
	// pki.ECDSAP256.
	KeyType pki.KeyType
	// Organization is the subject O of both CA certificates. Empty means
	// "Gatehouse".
	Organization string
	// Role is the kind of certificate the CA issues, which names it when
	// Name is empty. Empty means RolePartner.
	Role Role
	// Name starts both common names: "Name Root CA" and "Name Issuing
	// CA". Empty means Organization followed by the role's name, such as
	// "Example Health Plan Administrators" for RoleAdmin.
	Name string
	// OfflineRoot writes the root key to OfflineRootKeyFile instead of
	// RootKeyFile.
	OfflineRoot bool
	// Now returns the current time. Nil means time.Now.
	Now func() time.Time
}

// Role is the kind of certificate a CA directory issues. It names the CA
// and decides which gateway setting trusts its root.
type Role string

// The roles of a CA directory.
const (
	// RolePartner issues partner client certificates (tls.client_ca_file).
	RolePartner Role = "partner"
	// RoleAdmin issues administrator certificates (admin.client_ca_file).
	RoleAdmin Role = "admin"
	// RoleEngine issues the payer engine's certificates
	// (outbound.client_ca_file).
	RoleEngine Role = "engine"
)

// roleNames maps each role to the words that end its default CA name.
var roleNames = map[Role]string{
	RolePartner: "Partner",
	RoleAdmin:   "Administrators",
	RoleEngine:  "Engine",
}

// rootSettings maps each role to the gateway setting that trusts its root.
var rootSettings = map[Role]string{
	RolePartner: "tls.client_ca_file",
	RoleAdmin:   "admin.client_ca_file",
	RoleEngine:  "outbound.client_ca_file",
}

// RootSetting returns the gateway setting that trusts the root of a CA
// of role r, or "" when r is not a known role.
func (r Role) RootSetting() string { return rootSettings[r] }

// Init creates a CA directory at path, which must not exist or must be an
// empty directory. It builds everything in a temporary directory beside
// path and renames it into place, so an interrupted Init leaves no
// half-made CA.
func Init(path string, opts InitOptions) (*Dir, error) {
	if err := checkFreePath(path); err != nil {
		return nil, err
	}
	// Parents are made as 'install -d' would, so that one command can
	// create ca/partner beside ca/admin.
	parent := filepath.Dir(filepath.Clean(path))
	if err := os.MkdirAll(parent, 0o700); err != nil {
		return nil, fmt.Errorf("cadir: %w", err)
	}
	tmp, err := os.MkdirTemp(parent, "."+filepath.Base(path)+".init-*")
	if err != nil {
		return nil, fmt.Errorf("cadir: %w", err)
	}
	defer os.RemoveAll(tmp)

	d, err := create(tmp, opts)
	if err != nil {
		return nil, err
	}
	// os.Rename does not replace a directory, not even an empty one, so
	// the empty directory that checkFreePath accepted is removed first.
	// os.Remove fails if a file appeared in it since the check.
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("cadir: cannot replace the empty directory %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return nil, fmt.Errorf("cadir: %w", err)
	}
	d.Path = path
	return d, nil
}

func checkFreePath(path string) error {
	entries, err := os.ReadDir(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("cadir: %w", err)
	}
	if len(entries) > 0 {
		return fmt.Errorf("cadir: %s exists and is not empty", path)
	}
	return nil
}

func create(dir string, opts InitOptions) (*Dir, error) {
	org := opts.Organization
	if org == "" {
		org = "Gatehouse"
	}
	role := opts.Role
	if role == "" {
		role = RolePartner
	}
	roleName, ok := roleNames[role]
	if !ok {
		return nil, fmt.Errorf("cadir: invalid CA role %q: use partner, admin or engine", role)
	}
	name := opts.Name
	if name == "" {
		name = org + " " + roleName
	}
	root, err := pki.NewRoot(pki.RootOptions{CommonName: name + " Root CA", Organization: org,
		KeyType: opts.KeyType, PathLen: 1, Now: opts.Now})
	if err != nil {
		return nil, err
	}
	issuing, err := root.NewIntermediate(pki.IntermediateOptions{CommonName: name + " Issuing CA",
		Organization: org, KeyType: opts.KeyType})
	if err != nil {
		return nil, err
	}
	if err := writeCAFiles(dir, root, issuing, opts.OfflineRoot); err != nil {
		return nil, err
	}

	d := &Dir{Path: dir, Issuing: issuing, Now: opts.Now,
		Root: &pki.Certificate{Leaf: root.Certificate, Chain: [][]byte{root.Certificate.Raw}}}
	d.Meta = Meta{Version: formatVersion, KeyType: keyTypeOrDefault(opts.KeyType), Created: d.now().UTC(), OfflineRoot: opts.OfflineRoot}
	if err := d.saveIndex(&Index{Version: formatVersion}); err != nil {
		return nil, err
	}
	if _, err := d.WriteCRL(0); err != nil {
		return nil, err
	}
	meta, _ := json.MarshalIndent(d.Meta, "", "  ")
	if err := writeAtomic(d.file(MetaFile), append(meta, '\n'), 0o644); err != nil {
		return nil, err
	}
	return d, nil
}

func writeCAFiles(dir string, root, issuing *pki.CA, offline bool) error {
	if err := os.Mkdir(filepath.Join(dir, IssuedDir), 0o755); err != nil {
		return fmt.Errorf("cadir: %w", err)
	}
	rootKey := filepath.Join(dir, RootKeyFile)
	if offline {
		rootKey = filepath.Join(dir, OfflineRootKeyFile)
		if err := os.Mkdir(filepath.Dir(rootKey), 0o700); err != nil {
			return fmt.Errorf("cadir: %w", err)
		}
	}
	if err := root.WriteFiles(filepath.Join(dir, RootCertFile), rootKey); err != nil {
		return err
	}
	return issuing.WriteFiles(filepath.Join(dir, IssuingFile), filepath.Join(dir, IssuingKeyFile))
}

func keyTypeOrDefault(k pki.KeyType) pki.KeyType {
	if k == "" {
		return pki.ECDSAP256
	}
	return k
}
