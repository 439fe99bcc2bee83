package cli

import (
	"regexp"
	"strings"
)

// fileKeyPattern matches a configuration key that names a file, as start
// errors quote it: "tls.cert_file" or "partners[0].jwks_file", after the
// start of the text, a space or a colon, so that a file name such as
// "/etc/x_file.pem" does not match.
var fileKeyPattern = regexp.MustCompile(`(?:^|[\s:])((?:[a-z_]+(?:\[\d+\])?\.)*[a-z_]*_file)\b`)

// fileContents describes what a file key's file must contain, by the
// key's suffix, from the most specific suffix to the least.
var fileContents = []struct{ suffix, contents string }{
	{"audit.signing_key_file", "the signed-note key that 'gatehouse audit keygen' writes as checkpoint.key (not PEM)"},
	{"assertion_key_file", "a private JWK, such as the .jwk file that 'gatehouse token keygen' writes"},
	{"jwks_file", "a JSON Web Key Set"},
	{"crl_file", `PEM "X509 CRL" blocks`},
	{"ca_file", "PEM CA certificates"},
	{"cert_file", "a PEM certificate chain, leaf first"},
	{"key_file", "a PEM private key"},
}

// fileKeyHint returns a hint for a start error that names a file key, or
// "" when the error names none. cfgPath is the configuration file, empty
// in development mode.
func fileKeyHint(err error, cfgPath string) string {
	m := fileKeyPattern.FindStringSubmatch(err.Error())
	if m == nil {
		return ""
	}
	key := m[1]
	what := "a file"
	for _, c := range fileContents {
		if strings.HasSuffix(key, c.suffix) {
			what = "a file that must contain " + c.contents
			break
		}
	}
	if cfgPath == "" {
		return key + " names " + what + " in the development data directory: restore it, or move the directory aside so that 'gatehouse serve' creates new files"
	}
	return key + " names " + what + ": correct that file, or set " + key + " in " + cfgPath + " to the right one"
}
