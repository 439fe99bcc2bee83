package auditlog

import (
	"crypto/rand"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/mod/sumdb/note"
)

func TestLoadSigningKeyVerifier(t *testing.T) {
	skey, vkey, err := note.GenerateKey(rand.Reader, "payer.example/log")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "checkpoint.key")
	if err := os.WriteFile(path, []byte(skey+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, v, err := LoadSigningKey(path)
	if err != nil {
		t.Fatalf("LoadSigningKey: %v", err)
	}
	want, _ := note.NewVerifier(vkey)
	if v.Name() != want.Name() || v.KeyHash() != want.KeyHash() {
		t.Errorf("verifier %s/%08x, want %s/%08x", v.Name(), v.KeyHash(), want.Name(), want.KeyHash())
	}
	signer, _ := note.NewSigner(skey)
	msg, err := note.Sign(&note.Note{Text: "hello\n"}, signer)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := note.Open(msg, note.VerifierList(v)); err != nil {
		t.Errorf("the derived verifier rejects the key's signature: %v", err)
	}

	for name, text := range map[string]string{"verifier key": vkey, "garbage": "PRIVATE+KEY+x+00000000+!!", "empty": ""} {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, _, err := LoadSigningKey(p); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
