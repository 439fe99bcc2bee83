package posture

import "os"

// checkKeyFileModes reports private key files that users other than the
// owner can read or write. os.Stat follows a symbolic link, so a link is
// judged by the file it points to. A key that is not set, or a file that
// is missing, is left to the checks that load it.
func checkKeyFileModes(t *Target) []result {
	c := t.Config
	refs := []fileRef{
		t.ref("tls.key_file", c.TLS.KeyFile),
		t.ref("token.signing_key_file", c.Token.SigningKeyFile),
		t.ref("audit.signing_key_file", c.Audit.SigningKeyFile),
		t.ref("outbound.key_file", c.Outbound.KeyFile),
		t.ref("outbound.assertion_key_file", c.Outbound.AssertionKeyFile),
	}
	var out []result
	for _, ref := range refs {
		if ref.path == "" {
			continue
		}
		info, err := os.Stat(ref.path)
		if err != nil {
			continue
		}
		mode := info.Mode().Perm()
		// Write access lets a user replace the key with one of their own,
		// which the gateway loads at its next start.
		switch {
		case mode&0o006 != 0:
			out = append(out, fail(ref.key, "%s has mode %04o, so every user on the host can read or replace the private key", ref.path, mode))
		case mode&0o060 != 0:
			out = append(out, failAt(Medium, ref.key, "%s has mode %04o, so members of its group can read or replace the private key", ref.path, mode))
		default:
			out = append(out, pass(ref.key, "%s has mode %04o", ref.path, mode))
		}
	}
	return out
}
