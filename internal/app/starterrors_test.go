package app_test

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gatehouse-health/gatehouse/internal/app"
	"github.com/gatehouse-health/gatehouse/internal/auditlog"
	"github.com/gatehouse-health/gatehouse/internal/config"
)

// TestStartErrorsNameKeys requires start-up errors to name the
// configuration keys to fix, not the options of internal packages.
func TestStartErrorsNameKeys(t *testing.T) {
	tests := []struct {
		name     string
		edit     func(cfg *config.File, dir string)
		wantText []string
		wantErr  error
	}{
		{"audit origin", func(cfg *config.File, _ string) { cfg.Audit.Origin = "elsewhere.example/audit" },
			[]string{`audit.origin "elsewhere.example/audit"`, "audit.signing_key_file", `the name "` + app.DevAuditOrigin + `"`},
			auditlog.ErrOriginMismatch},
		{"database directory", func(cfg *config.File, dir string) {
			cfg.Database.URL, cfg.Database.Path = "", filepath.Join(dir, "missing", "g.db")
		}, []string{"database.path:", "does not exist"}, fs.ErrNotExist},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			cfg, _, _, err := app.DevConfig(filepath.Join(dir, "data"), "127.0.0.1:0", "")
			if err != nil {
				t.Fatal(err)
			}
			tt.edit(cfg, dir)
			rt, err := app.Start(context.Background(), cfg, app.Options{})
			if err == nil {
				rt.Close(context.Background())
				t.Fatal("Start succeeded")
			}
			for _, want := range tt.wantText {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not contain %q", err, want)
				}
			}
			if !errors.Is(err, tt.wantErr) {
				t.Errorf("error %q does not wrap %v", err, tt.wantErr)
			}
			if strings.Contains(err.Error(), "Options.") {
				t.Errorf("error %q names an internal option", err)
			}
		})
	}
}

// TestStartTLSFileErrorsNameKeys replaces each TLS file with text that is
// not PEM and requires the error to name the key and the file.
func TestStartTLSFileErrorsNameKeys(t *testing.T) {
	// The subtest names differ from the keys because the temporary
	// directory's path contains the subtest name.
	tests := []struct {
		name, key string
		file      func(cfg *config.File) string
	}{
		{"certificate", "tls.cert_file", func(cfg *config.File) string { return cfg.TLS.CertFile }},
		{"private key", "tls.key_file", func(cfg *config.File) string { return cfg.TLS.KeyFile }},
		{"client CAs", "tls.client_ca_file", func(cfg *config.File) string { return cfg.TLS.ClientCAFile }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, _, _, err := app.DevConfig(filepath.Join(t.TempDir(), "data"), "127.0.0.1:0", "")
			if err != nil {
				t.Fatal(err)
			}
			path := tt.file(cfg)
			if err := os.WriteFile(path, []byte("not PEM\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			rt, err := app.Start(context.Background(), cfg, app.Options{})
			if err == nil {
				rt.Close(context.Background())
				t.Fatal("Start succeeded")
			}
			for _, want := range []string{tt.key, path} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not contain %q", err, want)
				}
			}
		})
	}
}
