package posture

import (
	"fmt"
	"os"
	"strings"

	"golang.org/x/mod/sumdb/note"

	"github.com/gatehouse-health/gatehouse/internal/auditlog"
	"github.com/gatehouse-health/gatehouse/internal/safefile"
)

// maxVerifierKeysBytes caps the retired verifier keys file read by
// GH-LOG-007. One verifier key line is under 200 bytes.
const maxVerifierKeysBytes = 1 << 20

// checkRetiredVerifierKeys checks the mode and lines of
// audit.retired_verifier_keys_file. Start-up trusts every key listed there,
// so a user who can write the file can add a key of their own. A line that
// is not a retired key of this log is a mistake that start-up or
// verification reports only later.
func checkRetiredVerifierKeys(t *Target) []result {
	const key = "audit.retired_verifier_keys_file"
	c := t.Config
	if c.Audit.RetiredVerifierKeysFile == "" {
		return []result{pass(key, "not set: the checkpoint signing key has not been rotated, so no retired key is trusted")}
	}
	path := c.Resolve(c.Audit.RetiredVerifierKeysFile)
	info, err := os.Stat(path)
	if err != nil {
		return []result{fail(key, "reading the retired verifier keys file failed: %v", err)}
	}
	if mode := info.Mode().Perm(); mode&0o022 != 0 {
		return []result{fail(key, "%s has mode %04o, so users other than its owner can add a verifier key that start-up then trusts", path, mode)}
	}
	data, err := safefile.ReadCapped(path, maxVerifierKeysBytes)
	if err != nil {
		return []result{fail(key, "reading the retired verifier keys file failed: %v", err)}
	}

	current := currentVerifier(t)
	var out []result
	seen := map[string]int{}
	count := 0
	for i, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		v, err := note.NewVerifier(line)
		if err != nil {
			out = append(out, fail(key, "%s line %d is not a valid note verifier key (name+hash+key)", path, i+1))
			continue
		}
		count++
		label := fmt.Sprintf("%s+%08x", v.Name(), v.KeyHash())
		switch {
		case v.Name() != c.Audit.Origin:
			out = append(out, fail(key, "%s line %d is the key %s, which signs for another log than audit.origin %q", path, i+1, label, c.Audit.Origin))
		case current != nil && v.Name() == current.Name() && v.KeyHash() == current.KeyHash():
			out = append(out, fail(key, "%s line %d is the current verifier key %s, so the rotation it records did not happen", path, i+1, label))
		case seen[label] != 0:
			out = append(out, fail(key, "%s line %d repeats the key %s of line %d", path, i+1, label, seen[label]))
		default:
			seen[label] = i + 1
		}
	}
	if len(out) > 0 {
		return out
	}
	if count == 0 {
		return []result{fail(key, "%s lists no verifier key, so the option is set for nothing", path)}
	}
	return []result{pass(key, "%d retired verifier key(s) of %s, none of them the current key", count, c.Audit.Origin)}
}

// currentVerifier returns the verifier of audit.signing_key_file, or nil
// when the key cannot be read, because configuration validation reports that.
func currentVerifier(t *Target) note.Verifier {
	vkey, err := auditlog.VerifierKeyOf(t.Config.Resolve(t.Config.Audit.SigningKeyFile))
	if err != nil {
		return nil
	}
	v, err := note.NewVerifier(vkey)
	if err != nil {
		return nil
	}
	return v
}
