package gateway

import (
	"crypto/x509"
	"strings"
	"testing"
)

// An outbound pipeline with partners but no congruence checker would
// forward payloads with unchecked parties, so Outbound returns an error.
func TestOutboundRequiresCongruence(t *testing.T) {
	opts := OutboundOptions{
		Partners: map[string]*OutboundPartner{"demo-ehr": {}},
		EngineOf: func(*x509.Certificate) (string, bool) { return "", false },
	}

	h, err := (&Gateway{}).Outbound(opts)

	if err == nil {
		t.Fatalf("Outbound returned a handler (%T) without a congruence checker", h)
	}
	if !strings.Contains(err.Error(), "OutboundOptions.Congruence is required") {
		t.Errorf("error = %q, want it to name OutboundOptions.Congruence", err)
	}
}
