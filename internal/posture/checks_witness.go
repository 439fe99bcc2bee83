package posture

import (
	"encoding/base64"
	"fmt"
	"net/netip"
	"net/url"
	"strings"

	"github.com/gatehouse-health/gatehouse/internal/auditlog"
)

// checkWitnessIndependence checks that each witness can catch the payer
// rewriting its own log. A witness cosigning with the log's own Ed25519 key,
// two witnesses sharing one key, or a witness on this host is in the hands
// of the gateway's operator, so its cosignature proves nothing. Loading
// a configuration file rejects plain-http URLs, hosts outside egress.allow
// and identical key lines; this check repeats those for configurations
// built in code and also compares the keys' Ed25519 public keys, which
// differently named key lines can share.
func checkWitnessIndependence(t *Target) []result {
	list := t.Config.Audit.Witnesses
	if len(list) == 0 {
		return []result{pass("audit.witnesses", "no witness is configured (GH-LOG-002 reports that)")}
	}
	logKey := logPublicKey(t)
	firstWithKey := map[string]int{}
	var out []result
	for i, w := range list {
		at := fmt.Sprintf("audit.witnesses[%d]", i)
		failed := false
		if err := t.Config.CheckOutboundEndpoint(w.URL); err != nil {
			out = append(out, fail(at+".url", "%v", err))
			failed = true
		} else if onThisHost(w.URL) {
			out = append(out, fail(at+".url", "the witness runs on this host, so whoever controls the gateway controls the witness too"))
			failed = true
		}
		key, err := witnessPublicKey(w.Key)
		switch {
		case err != nil:
			out = append(out, fail(at+".key", "%v", err))
			failed = true
		case logKey != "" && key == logKey:
			out = append(out, failAt(High, at+".key", "the witness key is the log's own checkpoint key (audit.signing_key_file), so its cosignature proves nothing the log's signature does not"))
			failed = true
		default:
			if j, seen := firstWithKey[key]; seen {
				out = append(out, fail(at+".key", "the same Ed25519 key as audit.witnesses[%d]: one key holder counts as one witness", j))
				failed = true
			} else {
				firstWithKey[key] = i
			}
		}
		if !failed {
			out = append(out, pass(at, "the witness at %s has its own key, apart from the log's", w.URL))
		}
	}
	return out
}

// witnessPublicKey returns the Ed25519 public key of a witness verifier
// key line, base64 encoded.
func witnessPublicKey(vkey string) (string, error) {
	v, err := auditlog.NewCosignatureVerifier(strings.TrimSpace(vkey))
	if err != nil {
		return "", fmt.Errorf("invalid witness key: %v", err)
	}
	return typedKeyBody(strings.TrimSpace(vkey), v.Name())
}

// logPublicKey returns the Ed25519 public key of audit.signing_key_file,
// base64 encoded, or "" when the key cannot be read, because configuration
// validation reports that.
func logPublicKey(t *Target) string {
	v := currentVerifier(t)
	if v == nil {
		return ""
	}
	vkey, err := auditlog.VerifierKeyOf(t.Config.Resolve(t.Config.Audit.SigningKeyFile))
	if err != nil {
		return ""
	}
	key, err := typedKeyBody(vkey, v.Name())
	if err != nil {
		return ""
	}
	return key
}

// typedKeyBody returns the key of a name+hash+base64(type || key) line
// without its one-byte type, base64 encoded. The type differs between a
// note signature (1) and a cosignature (4) over the same Ed25519 key.
func typedKeyBody(vkey, name string) (string, error) {
	rest := strings.TrimPrefix(vkey, name+"+")
	_, encoded, _ := strings.Cut(rest, "+")
	raw, err := base64.StdEncoding.DecodeString(encoded)
	if err != nil || len(raw) < 2 {
		return "", fmt.Errorf("invalid key of %s", name)
	}
	return base64.StdEncoding.EncodeToString(raw[1:]), nil
}

// onThisHost reports whether raw names localhost or a loopback address.
func onThisHost(raw string) bool {
	u, err := url.Parse(raw)
	if err != nil {
		return false
	}
	host := strings.ToLower(strings.TrimSuffix(u.Hostname(), "."))
	if host == "localhost" || strings.HasSuffix(host, ".localhost") {
		return true
	}
	addr, err := netip.ParseAddr(host)
	return err == nil && addr.Unmap().IsLoopback()
}
