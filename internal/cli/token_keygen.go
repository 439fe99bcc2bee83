package cli

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"

	"github.com/go-jose/go-jose/v4"

	"github.com/gatehouse-health/gatehouse/internal/safefile"
	"github.com/gatehouse-health/gatehouse/internal/token"
)

// keygenAlgs are the signing algorithms that token.GenerateKey creates keys for.
var keygenAlgs = []string{"ES256", "ES384", "RS384", "PS384"}

const tokenKeygenSynopsis = "gatehouse token keygen --name NAME [--alg ES256|ES384|RS384|PS384] [--out DIR]"

// tokenKeygen creates a key pair for SMART Backend Services client
// assertions: the private JWK that signs them and the public JWK set that
// the token server registers. The payer uses one for
// outbound.assertion_key_file, and a partner or an operator's probe
// ('posture --live --assertion-key', 'ehr --assertion-key') another. The
// private key file is created with mode 0600 and never replaced.
func (e *env) tokenKeygen(args []string) int {
	fs := e.flags("token keygen")
	name := fs.String("name", "", "base `NAME` of the files: NAME.jwk (private) and NAME.jwks.json (public), such as the partner id")
	alg := fs.String("alg", "ES384", "signing `ALG` of the key: ES256, ES384, RS384 or PS384")
	out := fs.String("out", ".", "`DIR` to write the two files into")
	if code, ok := e.parse(fs, tokenKeygenSynopsis, args); !ok {
		return code
	}
	if *name == "" {
		e.errorf("missing --name: it names the two key files, such as the partner id")
		e.hint("usage: %s", tokenKeygenSynopsis)
		return 2
	}
	if *name != filepath.Base(*name) || *name == "." || *name == ".." {
		e.errorf("invalid --name %q: it names the files and must be a plain file name", *name)
		e.hint("usage: %s", tokenKeygenSynopsis)
		return 2
	}

	if !slices.Contains(keygenAlgs, *alg) {
		e.errorf("invalid --alg %q: use %s", *alg, joinOr(keygenAlgs))
		e.hint("usage: %s", tokenKeygenSynopsis)
		return 2
	}
	key, err := token.GenerateKey(*alg)
	if err != nil {
		e.errorf("cannot generate the %s key: %v", *alg, err)
		return 1
	}
	if st, err := os.Stat(*out); err != nil || !st.IsDir() {
		e.errorf("--out %s is not a directory", *out)
		e.hint("create it first, with mode 0700")
		return 2
	}

	keyPath := filepath.Join(*out, *name+".jwk")
	setPath := filepath.Join(*out, *name+".jwks.json")
	for _, p := range []string{keyPath, setPath} {
		if _, err := os.Lstat(p); err == nil {
			e.errorf("%s already exists", p)
			e.hint("keys are never replaced: remove the old files once no configuration names them, or choose another --name")
			return 1
		}
	}

	if err := writeKeyPair(key, keyPath, setPath); err != nil {
		e.errorf("%v", err)
		return 1
	}
	fmt.Fprintf(e.stdout, "gatehouse: created a client assertion key (%s), kid %s\n", *alg, key.KeyID)
	fmt.Fprintf(e.stdout, "    private key     %s (mode 0600; outbound.assertion_key_file, or --assertion-key)\n", keyPath)
	fmt.Fprintf(e.stdout, "    public key set  %s (the token server's registration: partners[].jwks_file, or served at a JWKS URL)\n", setPath)
	return 0
}

// writeKeyPair writes key to keyPath (mode 0600) and a JWK set of its
// public half to setPath, failing if either exists.
func writeKeyPair(key *jose.JSONWebKey, keyPath, setPath string) error {
	private, err := json.MarshalIndent(key, "", "  ")
	if err != nil {
		return fmt.Errorf("encode the private key: %w", err)
	}
	public, err := json.MarshalIndent(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{key.Public()}}, "", "  ")
	if err != nil {
		return fmt.Errorf("encode the public key set: %w", err)
	}
	if err := safefile.WriteNew(keyPath, append(private, '\n'), 0o600); err != nil {
		return err
	}
	return safefile.WriteNew(setPath, append(public, '\n'), 0o644)
}
