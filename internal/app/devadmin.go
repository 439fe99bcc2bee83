package app

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/gatehouse-health/gatehouse/internal/devmode"
	"github.com/gatehouse-health/gatehouse/internal/pki"
)

// DevAdminName is the administrator development mode issues a certificate
// for.
const DevAdminName = "dev-admin"

// DevAdminFiles returns the development administrator's certificate and key
// paths inside a data directory.
func DevAdminFiles(dataDir string) (certFile, keyFile string) {
	dir := filepath.Join(dataDir, "admin")
	return filepath.Join(dir, "admin.pem"), filepath.Join(dir, "admin-key.pem")
}

// ensureDevAdmin issues the development administrator certificate from the
// development CA on first use.
func ensureDevAdmin(layout *devmode.Layout) error {
	certFile, keyFile := DevAdminFiles(layout.Dir)
	if _, err := os.Stat(certFile); err == nil {
		return nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("admin certificate: %w", err)
	}
	ca, err := pki.LoadCA(layout.CACertFile, layout.CAKeyFile)
	if err != nil {
		return err
	}
	cert, err := ca.IssueAdmin(pki.AdminOptions{Name: DevAdminName})
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(certFile), 0o700); err != nil {
		return fmt.Errorf("admin certificate: %w", err)
	}
	return cert.WriteFiles(certFile, keyFile)
}
