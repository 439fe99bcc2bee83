package cli

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// token keygen writes a private JWK that the client-assertion options load
// and a public set with the same key, and never replaces either.
func TestTokenKeygen(t *testing.T) {
	dir := t.TempDir()
	code, stdout, stderr := run(t, context.Background(), "token", "keygen", "--name", "acme-ehr", "--alg", "ES256", "--out", dir)
	if code != 0 {
		t.Fatalf("exit code %d: %s", code, stderr)
	}
	keyPath, setPath := filepath.Join(dir, "acme-ehr.jwk"), filepath.Join(dir, "acme-ehr.jwks.json")
	key, err := loadPrivateKey(keyPath)
	if err != nil {
		t.Fatalf("the private key does not load as --assertion-key: %v", err)
	}
	set, err := loadPublicKeys(setPath)
	if err != nil {
		t.Fatalf("the public set does not load: %v", err)
	}
	if len(set.Keys) != 1 || !set.Keys[0].IsPublic() || set.Keys[0].KeyID != key.KeyID || key.Algorithm != "ES256" {
		t.Errorf("public set %+v does not hold the public half of the ES256 key %s", set.Keys, key.KeyID)
	}
	if !strings.Contains(stdout, key.KeyID) {
		t.Errorf("stdout does not name the kid:\n%s", stdout)
	}
	if info, err := os.Stat(keyPath); err != nil || info.Mode().Perm() != 0o600 {
		t.Errorf("private key file mode %v, %v; want 0600", info.Mode().Perm(), err)
	}

	before, _ := os.ReadFile(keyPath)
	code, _, stderr = run(t, context.Background(), "token", "keygen", "--name", "acme-ehr", "--out", dir)
	if after, _ := os.ReadFile(keyPath); code != 1 || !strings.Contains(stderr, "already exists") || string(after) != string(before) {
		t.Errorf("second keygen: exit code %d, stderr %q; want 1 with the key kept", code, stderr)
	}
	for _, args := range [][]string{
		{"token", "keygen", "--name", "../escape", "--out", dir},
		{"token", "keygen", "--name", "x", "--alg", "HS256", "--out", dir},
	} {
		if code, _, stderr := run(t, context.Background(), args...); code != 2 || !strings.Contains(stderr, "gatehouse: error: invalid") {
			t.Errorf("%v: exit code %d, stderr %q; want a usage error", args[1:], code, stderr)
		}
	}
	code, _, stderr = run(t, context.Background(), "token", "keygen", "--out", dir)
	if code != 2 {
		t.Errorf("keygen without --name: exit code %d, want 2", code)
	}
	if !strings.Contains(stderr, "gatehouse: error: missing --name") {
		t.Errorf("keygen without --name: stderr %q, want a missing --name error", stderr)
	}
}
