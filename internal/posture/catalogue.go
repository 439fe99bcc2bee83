package posture

import (
	"fmt"
	"io"
	"strings"
)

// catalogueIntro opens docs/posture.md.
const catalogueIntro = `# Posture checks

<!-- Generated from internal/posture by TestCatalogueDoc; do not edit.
     Regenerate with: go test ./internal/posture -run TestCatalogueDoc -update -->

` + "`gatehouse posture`" + ` audits a configuration file (and the certificate, key and
JWK files it names) or probes a running gateway, and reports one finding per
check and subject. Each check has a stable id, the control it serves (C1 to
C14 in the product brief), and a severity.

A finding has one of four statuses:

- **pass**: the control is in place.
- **fail**: the configuration or the gateway breaks the control. Some checks
  report a lower severity than their own for a lesser failure, such as a
  certificate that expires within 30 days rather than one that has expired.
- **not-configured**: this version of Gatehouse has no configuration key for
  the control yet, so it is absent. These findings are low.
- **error**: the check could not run, for example because a probe could not
  connect. These findings are low, but a live run with one fails at every
  threshold, because it does not show that the gateway has the control.

The table ends with a summary in two lines. The first counts the checks run
and the findings they reported. The two differ because a check
reports one finding for each key, partner or probe it examines. The second
splits the findings into passed and not passed, the latter by severity:

    Checks run: 46. Findings: 52 (one for each key, partner or probe a check examined).
    Findings by result: 46 passed, 6 not passed (3 high, 0 medium, 3 low).

The exit status is 1 when a finding that did not pass has a severity at or
above ` + "`--fail-on`" + ` (default medium) or a live probe could not complete, 2 for
usage and configuration errors, and 0 otherwise.

`

// WriteCatalogue writes the check catalogue as a Markdown page, the source
// of docs/posture.md.
func WriteCatalogue(w io.Writer) error {
	var b strings.Builder
	b.WriteString(catalogueIntro)
	for _, mode := range []Mode{ModeConfig, ModeLive} {
		if mode == ModeConfig {
			b.WriteString("## Configuration checks\n\n")
		} else {
			b.WriteString("## Live probes\n\n")
			b.WriteString("Live probes connect only to the host and port of `--live URL`, with the demo\npartner's certificate and key from `--data DIR`, or with a registered partner's\n`--cert`, `--key`, `--ca`, `--client-id` and `--assertion-key`. They start with\none TLS handshake; when it cannot connect or verify the gateway's certificate,\nevery probe reports error. A request that gets 503, as every request does\nwhile a kill-switch cut covers the probing partner, reports error too, because\nthe rejection comes before the token and policy checks it would test.\n\n")
		}
		b.WriteString("| ID | Control | Severity | Check | Why | Fix |\n|---|---|---|---|---|---|\n")
		for _, c := range Catalogue() {
			if c.Mode == mode {
				fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s |\n", c.ID, c.Control, c.Severity,
					cell(c.Title), cell(c.Rationale), cell(c.Remediation))
			}
		}
		b.WriteString("\n")
	}
	_, err := io.WriteString(w, strings.TrimSuffix(b.String(), "\n"))
	return err
}

// cell escapes text for a Markdown table cell.
func cell(s string) string { return strings.ReplaceAll(s, "|", `\|`) }
