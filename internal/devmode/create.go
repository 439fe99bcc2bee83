package devmode

import (
	"crypto"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/gatehouse-health/gatehouse/internal/pki"
	"github.com/gatehouse-health/gatehouse/internal/safefile"
)

// partialPrefix starts the name of the temporary directory a first start
// builds in, next to the data directory: ".<base>.partial-<random>".
func partialPrefix(dir string) string { return "." + filepath.Base(dir) + ".partial-" }

// create builds a new layout in a temporary directory and renames it to dir,
// which must be missing or empty. It reports false without error when
// another process created dir first.
func create(dir string, now func() time.Time) (created bool, err error) {
	parent := filepath.Dir(dir)
	if err := os.MkdirAll(parent, 0o700); err != nil {
		return false, fmt.Errorf("devmode: creating parent of data directory: %w", err)
	}
	tmp, err := os.MkdirTemp(parent, partialPrefix(dir))
	if err != nil {
		return false, fmt.Errorf("devmode: creating temporary directory next to %s: %w", dir, err)
	}
	defer func() {
		if !created {
			_ = os.RemoveAll(tmp)
		}
	}()

	if err := generate(newLayout(tmp), now); err != nil {
		return false, err
	}
	return moveIntoPlace(tmp, dir)
}

// moveIntoPlace renames tmp to dir. An empty dir is removed first, because
// rename(2) may replace an empty directory but not every system allows it.
func moveIntoPlace(tmp, dir string) (bool, error) {
	if err := os.Remove(dir); err != nil && !errors.Is(err, os.ErrNotExist) {
		if state, _ := inspect(dir); state == stateGatehouse {
			return false, nil
		}
		return false, fmt.Errorf("devmode: replacing empty data directory: %w", err)
	}
	if err := os.Rename(tmp, dir); err != nil {
		if state, _ := inspect(dir); state == stateGatehouse {
			return false, nil
		}
		return false, fmt.Errorf("devmode: moving new data directory into place: %w", err)
	}
	syncDir(filepath.Dir(dir))
	return true, nil
}

// syncDir flushes a directory entry change to disk. It is best effort:
// some systems cannot sync a directory, and the layout is verified on the
// next start anyway.
func syncDir(dir string) {
	if f, err := os.Open(dir); err == nil {
		_ = f.Sync()
		_ = f.Close()
	}
}

// generate writes every file of l, the marker last.
func generate(l *Layout, now func() time.Time) error {
	for _, name := range subdirectories {
		if err := os.Mkdir(filepath.Join(l.Dir, filepath.FromSlash(name)), 0o700); err != nil {
			return fmt.Errorf("devmode: %w", err)
		}
	}

	ca, err := pki.NewRoot(pki.RootOptions{
		CommonName:   "Gatehouse Development Root CA",
		Organization: "Gatehouse development mode",
		KeyType:      pki.ECDSAP256,
		Now:          now,
	})
	if err != nil {
		return err
	}
	if err := ca.WriteFiles(l.CACertFile, l.CAKeyFile); err != nil {
		return err
	}

	server, err := issueServer(ca, nil)
	if err != nil {
		return err
	}
	if err := server.WriteFiles(l.ServerCertFile, l.ServerKeyFile); err != nil {
		return err
	}
	client, err := issueClient(ca, nil)
	if err != nil {
		return err
	}
	if err := client.WriteFiles(l.ClientCertFile, l.ClientKeyFile); err != nil {
		return err
	}

	if err := writeAssertionKeys(l); err != nil {
		return err
	}
	if err := writeTokenKey(l); err != nil {
		return err
	}
	// The marker goes last: its presence means every other file is written.
	return writeMarker(l, now())
}

// serverIPs are the loopback addresses the development server certificate
// names.
var serverIPs = []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback}

// issueServer issues the server certificate, for pub or a new key when pub
// is nil.
func issueServer(ca *pki.CA, pub crypto.PublicKey) (*pki.Certificate, error) {
	return ca.IssueServer(pki.ServerOptions{
		DNSNames:    []string{"localhost"},
		IPAddresses: serverIPs,
		PublicKey:   pub,
	})
}

// issueClient issues the demo partner's client certificate, for pub or a new
// key when pub is nil.
func issueClient(ca *pki.CA, pub crypto.PublicKey) (*pki.Certificate, error) {
	npiURI, err := pki.NPIURI(PartnerNPI)
	if err != nil {
		return nil, err
	}
	return ca.IssueClient(pki.ClientOptions{
		PartnerID:        PartnerID,
		OrganizationURIs: []string{npiURI},
		OrganizationName: "Demo EHR (Gatehouse development mode)",
		PublicKey:        pub,
	})
}

func writeTokenKey(l *Layout) error {
	key, err := pki.GenerateKey(pki.ECDSAP256)
	if err != nil {
		return err
	}
	return pki.WritePrivateKeyFile(l.TokenKeyFile, key)
}

// marker is the content of devmode.json. Its presence marks a complete
// development data directory.
type marker struct {
	Format  string    `json:"format"`
	Version int       `json:"version"`
	Partner string    `json:"partner"`
	Created time.Time `json:"created"`
}

const (
	markerFormat  = "gatehouse-devmode"
	markerVersion = 1
)

func writeMarker(l *Layout, now time.Time) error {
	data, err := json.MarshalIndent(marker{
		Format:  markerFormat,
		Version: markerVersion,
		Partner: PartnerID,
		Created: now.UTC(),
	}, "", "  ")
	if err != nil {
		return fmt.Errorf("devmode: encoding marker: %w", err)
	}
	return writeNewFile(l.MarkerFile, append(data, '\n'), 0o644)
}

// writeNewFile creates path, which must not exist (safefile.WriteNew).
func writeNewFile(path string, data []byte, perm os.FileMode) error {
	if err := safefile.WriteNew(path, data, perm); err != nil {
		return fmt.Errorf("devmode: %w", err)
	}
	return nil
}
