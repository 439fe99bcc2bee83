package app

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gatehouse-health/gatehouse/internal/config"
	"github.com/gatehouse-health/gatehouse/internal/storage"
)

// preflightConfig returns a configuration whose every file exists in a
// temporary directory, with empty content: the preflight reads none.
func preflightConfig(t *testing.T) (*config.File, string) {
	t.Helper()
	dir := t.TempDir()
	file := func(name string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, nil, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	cfg := &config.File{
		TLS:      config.TLS{CertFile: file("server.pem"), KeyFile: file("server-key.pem"), ClientCAFile: file("ca.pem"), CRLFile: file("crl.pem")},
		Admin:    config.Admin{Listen: "127.0.0.1:0"},
		Token:    config.Token{SigningKeyFile: file("token.pem")},
		Audit:    config.Audit{SigningKeyFile: file("checkpoint.key"), RecipientsFile: file("recipients.txt"), CheckpointFile: filepath.Join(dir, "checkpoint.txt")},
		Database: config.Database{Path: filepath.Join(dir, "gatehouse.db")},
		Payer:    config.Payer{RulesFile: file("rules.yaml")},
		Partners: []config.Partner{{ID: "acme", JWKSFile: file("acme.jwks.json")}},
	}
	config.ApplyDefaults(cfg)
	return cfg, dir
}

func TestCheckFilesAllPresent(t *testing.T) {
	cfg, dir := preflightConfig(t)
	if problems := CheckFiles(cfg); len(problems) != 0 {
		t.Errorf("problems %v, want none", problems)
	}
	if _, err := os.Stat(filepath.Join(dir, "gatehouse.db")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the database file exists after the preflight: %v", err)
	}
}

// TestCheckFilesProblems changes one setting of a configuration whose
// files all exist, and checks the one problem CheckFiles reports.
func TestCheckFilesProblems(t *testing.T) {
	tests := []struct {
		name    string
		change  func(t *testing.T, cfg *config.File, dir string)
		key     string
		path    string // relative to the directory
		missing bool   // the error matches fs.ErrNotExist
		dir     string // the missing directory, relative
	}{
		{
			name:    "missing key file",
			change:  func(t *testing.T, cfg *config.File, dir string) { os.Remove(cfg.Token.SigningKeyFile) },
			key:     "token.signing_key_file",
			path:    "token.pem",
			missing: true,
		},
		{
			name:   "directory as JWKS file",
			change: func(t *testing.T, cfg *config.File, dir string) { cfg.Partners[0].JWKSFile = dir },
			key:    "partners[0].jwks_file",
			path:   ".",
		},
		{
			name: "missing database directory",
			change: func(t *testing.T, cfg *config.File, dir string) {
				cfg.Database.Path = filepath.Join(dir, "db", "gatehouse.db")
			},
			key:     "database.path",
			path:    "db/gatehouse.db",
			missing: true,
			dir:     "db",
		},
		{
			name: "SQLite URL",
			change: func(t *testing.T, cfg *config.File, dir string) {
				cfg.Database = config.Database{URL: "sqlite://" + filepath.Join(dir, "db", "gatehouse.db")}
			},
			key:     "database.url",
			path:    "db/gatehouse.db",
			missing: true,
			dir:     "db",
		},
		{
			name: "database path is a directory",
			change: func(t *testing.T, cfg *config.File, dir string) {
				if err := os.Mkdir(cfg.Database.Path, 0o700); err != nil {
					t.Fatal(err)
				}
			},
			key:  "database.path",
			path: "gatehouse.db",
		},
		{
			name: "checkpoint link into a missing directory",
			change: func(t *testing.T, cfg *config.File, dir string) {
				if err := os.Symlink(filepath.Join(dir, "unmounted", "checkpoint.txt"), cfg.Audit.CheckpointFile); err != nil {
					t.Fatal(err)
				}
			},
			key:     "audit.checkpoint_file",
			path:    "unmounted/checkpoint.txt",
			missing: true,
			dir:     "unmounted",
		},
		{
			name: "explicit admin CA file",
			change: func(t *testing.T, cfg *config.File, dir string) {
				cfg.Admin.ClientCAFile = filepath.Join(dir, "admin-ca.pem")
			},
			key:     "admin.client_ca_file",
			path:    "admin-ca.pem",
			missing: true,
		},
		{
			name: "assertion key without outbound listener",
			change: func(t *testing.T, cfg *config.File, dir string) {
				cfg.Outbound.AssertionKeyFile = filepath.Join(dir, "payer.jwk")
			},
			key:     "outbound.assertion_key_file",
			path:    "payer.jwk",
			missing: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, dir := preflightConfig(t)
			tt.change(t, cfg, dir)
			problems := CheckFiles(cfg)
			if len(problems) != 1 {
				t.Fatalf("problems %v, want one", problems)
			}
			p := problems[0]
			if p.Key != tt.key {
				t.Errorf("key %q, want %q", p.Key, tt.key)
			}
			if want := filepath.Join(dir, tt.path); p.Path != want {
				t.Errorf("path %q, want %q", p.Path, want)
			}
			if errors.Is(p, fs.ErrNotExist) != tt.missing {
				t.Errorf("error %q matches fs.ErrNotExist: %v, want %v", p, !tt.missing, tt.missing)
			}
			var dirErr *storage.MissingDirError
			switch {
			case tt.dir == "" && errors.As(p, &dirErr):
				t.Errorf("error %q names a missing directory", p)
			case tt.dir != "" && (!errors.As(p, &dirErr) || dirErr.Dir != filepath.Join(dir, tt.dir)):
				t.Errorf("error %q does not name the missing directory %s", p, tt.dir)
			}
		})
	}
}

// TestCheckFilesSkipsUnreadFiles removes files that start-up does not
// read with the configuration, and requires no problem for them.
func TestCheckFilesSkipsUnreadFiles(t *testing.T) {
	cfg, dir := preflightConfig(t)
	cfg.Upstream.URL = "https://engine.payer.internal/fhir"
	os.Remove(cfg.Payer.RulesFile)
	cfg.Outbound.CertFile = filepath.Join(dir, "outbound.pem")
	cfg.Outbound.KeyFile = filepath.Join(dir, "outbound-key.pem")
	cfg.Database = config.Database{URL: "postgres://gatehouse@db.payer.internal/gatehouse"}
	if problems := CheckFiles(cfg); len(problems) != 0 {
		t.Errorf("problems %v, want none", problems)
	}
}

// TestCheckFilesReportsEachPathOnce names one missing CA file under
// three keys, as the defaults of admin.client_ca_file and
// outbound.client_ca_file do, and requires one problem under the first
// key.
func TestCheckFilesReportsEachPathOnce(t *testing.T) {
	cfg, _ := preflightConfig(t)
	cfg.Outbound.Listen = "127.0.0.1:0"
	os.Remove(cfg.TLS.ClientCAFile)
	problems := CheckFiles(cfg)
	keys := make([]string, len(problems))
	for i, p := range problems {
		keys[i] = p.Key
	}
	if len(problems) != 1 || problems[0].Key != "tls.client_ca_file" {
		t.Errorf("problems under %q, want only tls.client_ca_file", keys)
	}
}

// TestCheckFilesUnreadable makes a key file unreadable by its owner.
// Root opens it anyway, so the test needs another account.
func TestCheckFilesUnreadable(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("root reads files whatever their mode")
	}
	cfg, _ := preflightConfig(t)
	if err := os.Chmod(cfg.TLS.KeyFile, 0); err != nil {
		t.Fatal(err)
	}
	problems := CheckFiles(cfg)
	if len(problems) != 1 {
		t.Fatalf("problems %v, want tls.key_file alone", problems)
	}
	if problems[0].Key != "tls.key_file" {
		t.Errorf("problem names key %s, want tls.key_file", problems[0].Key)
	}
	if !errors.Is(problems[0], fs.ErrPermission) {
		t.Errorf("problem %v, want permission denied", problems[0])
	}
}

// TestCheckFilesDirectoryIsFile names a regular file as the directory of
// the database and of the checkpoint file. The problem is real for root
// too: nothing can be created under a regular file.
func TestCheckFilesDirectoryIsFile(t *testing.T) {
	cfg, dir := preflightConfig(t)
	notDir := cfg.Payer.RulesFile
	cfg.Database.Path = filepath.Join(notDir, "gatehouse.db")
	cfg.Audit.CheckpointFile = filepath.Join(notDir, "checkpoint.txt")

	problems := CheckFiles(cfg)
	if len(problems) != 2 {
		t.Fatalf("problems %v, want database.path and audit.checkpoint_file", problems)
	}
	for i, key := range []string{"database.path", "audit.checkpoint_file"} {
		p := problems[i]
		if p.Key != key {
			t.Errorf("problem %d names key %s, want %s", i, p.Key, key)
		}
		var dirErr *DirError
		if !errors.As(p, &dirErr) || dirErr.Dir != notDir {
			t.Errorf("problem %q does not name %s as the directory", p, notDir)
		}
		if errors.Is(p, fs.ErrNotExist) {
			t.Errorf("problem %q reports the directory as missing, but it exists as a file", p)
		}
		if want := notDir + " is not a directory"; !strings.Contains(p.Error(), want) {
			t.Errorf("problem %q lacks %q", p, want)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "gatehouse.db")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a database file was created: %v", err)
	}
}

// TestCheckFilesUnwritable makes the database directory, the checkpoint
// directory and an existing database file read-only. Root writes them
// anyway, so the test needs another account; TestCheckFilesDirectoryIsFile
// covers a directory problem that root meets too.
func TestCheckFilesUnwritable(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("root writes into any directory whatever its mode")
	}
	tests := []struct {
		name   string
		change func(t *testing.T, cfg *config.File, dir string) string // returns the key
		dir    bool                                                    // a *DirError, not the file
	}{
		{
			name: "database directory",
			change: func(t *testing.T, cfg *config.File, dir string) string {
				cfg.Database.Path = filepath.Join(readOnlyDir(t, dir, "db"), "gatehouse.db")
				return "database.path"
			},
			dir: true,
		},
		{
			name: "checkpoint directory",
			change: func(t *testing.T, cfg *config.File, dir string) string {
				cfg.Audit.CheckpointFile = filepath.Join(readOnlyDir(t, dir, "witness"), "checkpoint.txt")
				return "audit.checkpoint_file"
			},
			dir: true,
		},
		{
			name: "database file",
			change: func(t *testing.T, cfg *config.File, dir string) string {
				if err := os.WriteFile(cfg.Database.Path, nil, 0o400); err != nil {
					t.Fatal(err)
				}
				return "database.path"
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, dir := preflightConfig(t)
			key := tt.change(t, cfg, dir)
			problems := CheckFiles(cfg)
			if len(problems) != 1 {
				t.Fatalf("problems %v, want one for %s", problems, key)
			}
			p := problems[0]
			if p.Key != key {
				t.Errorf("problem names key %s, want %s", p.Key, key)
			}
			if !errors.Is(p, fs.ErrPermission) {
				t.Errorf("problem %q, want permission denied", p)
			}
			var dirErr *DirError
			if errors.As(p, &dirErr) != tt.dir {
				t.Errorf("problem %q is a *DirError: %v, want %v", p, !tt.dir, tt.dir)
			}
		})
	}
}

// readOnlyDir creates dir/name with mode 0500 and returns its path.
func readOnlyDir(t *testing.T, dir, name string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.Mkdir(p, 0o500); err != nil {
		t.Fatal(err)
	}
	// TempDir's cleanup needs to remove what is inside.
	t.Cleanup(func() { os.Chmod(p, 0o700) })
	return p
}
