package ehrclient

import (
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/gatehouse-health/gatehouse/internal/token"
)

func TestTokenHint(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want string
	}{
		{"unreachable", errors.New("dial tcp: connection refused"), "is running"},
		{"kill-switch cut", &token.ResponseError{Status: 503, Code: token.CodeTemporarilyUnavailable,
			Header: http.Header{"Retry-After": {"60"}}}, "Retry-After: 60"},
		{"scope", &token.ResponseError{Status: 400, Code: token.CodeInvalidScope}, "partners[].scopes"},
		{"client", &token.ResponseError{Status: 401, Code: token.CodeInvalidClient}, "partner registration"},
		{"no code", &token.ResponseError{Status: 502}, "HTTP 502"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := TokenHint(tt.err, "https://localhost:8443")
			if !strings.Contains(got, tt.want) {
				t.Errorf("hint = %q, want it to contain %q", got, tt.want)
			}
			if tt.name != "unreachable" && strings.Contains(got, "is running") {
				t.Errorf("hint for an OAuth error tells to check the gateway is running: %q", got)
			}
		})
	}
}
