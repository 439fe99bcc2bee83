package cli

import (
	"regexp"
	"strings"
)

// packagePrefix matches the "name: " prefix that a Gatehouse package puts
// before its errors, at the start of the text or after another ": ". The
// list names each package because some configuration keys (admin, alerts,
// audit, egress, payer, policy, token, tracing) share a package's name and
// must stay in the message. Those packages are left out of the list.
var packagePrefix = regexp.MustCompile(`(^|: )(` + strings.Join([]string{
	"auditlog", "cadir", "certreload", "config", "demo", "devmode", "ehrclient", "ehrsim",
	"fhirjson", "fhirpath", "fhirpkg", "fhirxml", "gateway", "killswitch", "loadgen",
	"members", "netguard", "pas", "patientlinks", "pki", "posture", "replay",
	"revocation", "safefile", "storage", "subscriptions", "validate",
}, "|") + `): `)

// errorText returns the message of err without the package prefixes, which
// name Go packages that a user of the command line does not know.
func errorText(err error) string {
	return packagePrefix.ReplaceAllString(err.Error(), "$1")
}
