package app

import (
	"testing"

	"github.com/gatehouse-health/gatehouse/internal/gateway"
	"github.com/gatehouse-health/gatehouse/internal/subscriptions"
)

// TestOutboundTokenRefusalShared keeps the notification sender's match
// equal to the message the outbound listener sends, so that a changed
// message cannot silently turn token failures into POST failures.
func TestOutboundTokenRefusalShared(t *testing.T) {
	if subscriptions.TokenRefusalText != gateway.OutboundTokenRefusal {
		t.Errorf("subscriptions.TokenRefusalText = %q, gateway.OutboundTokenRefusal = %q: they must be equal",
			subscriptions.TokenRefusalText, gateway.OutboundTokenRefusal)
	}
}
