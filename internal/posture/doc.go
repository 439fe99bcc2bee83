// Package posture audits a Gatehouse configuration, and probes a running
// gateway, against the product's security controls (C1 to C13), and
// reports the findings as a table, JSON or SARIF 2.1.0.
//
// The catalogue (Catalogue) is a table of checks. Each has a stable id such
// as GH-TLS-001, the control it serves, a severity, and the rationale and
// remediation texts that docs/posture.md is generated from. A configuration
// check is one function of a *Target; a live check is one function of a
// prober that connects only to the gateway's own host and port.
//
// A check returns one finding per subject (a listener, a partner, a scope,
// a probe) with a status: pass, fail, not-configured or error. Controls
// that the configuration cannot express yet are reported as not-configured
// with severity low; the value each such check will compare lives in one
// place (settingsFrom), so the check becomes a real comparison when the key
// is added.
//
// The package reads the files the configuration names and, for live
// probes, talks to the gateway. It never logs and never writes.
package posture
