package ehrsim

import (
	"crypto/tls"
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/go-jose/go-jose/v4"

	"github.com/gatehouse-health/gatehouse/internal/pki"
)

func TestEventGapDetected(t *testing.T) {
	f := newFixture(t, nil)
	f.sim.state.track("sub-1")
	tok := f.payerToken(t)

	f.mustAccept(t, tok, notification("sub-1", TypeEvent, 1, 1))
	n := lastNotification(t, f.sim)
	if len(n.Gap) != 0 {
		t.Errorf("event 1: gap %v, want none", n.Gap)
	}
	if !slices.Equal(n.New, []int64{1}) {
		t.Errorf("event 1: new %v, want [1]", n.New)
	}

	f.mustAccept(t, tok, notification("sub-1", TypeEvent, 3, 3))
	if n := lastNotification(t, f.sim); !slices.Equal(n.Gap, []int64{2}) {
		t.Errorf("event 3 after 1: gap %v, want [2]", n.Gap)
	}

	// A heartbeat whose counter is above the highest event received
	// reveals events lost after it.
	f.mustAccept(t, tok, notification("sub-1", TypeHeartbeat, 5))
	if n := lastNotification(t, f.sim); !slices.Equal(n.Gap, []int64{4, 5}) {
		t.Errorf("heartbeat with counter 5: gap %v, want [4 5]", n.Gap)
	}

	// The late event closes its part of the gap.
	f.mustAccept(t, tok, notification("sub-1", TypeEvent, 5, 2))
	st, _ := f.sim.Snapshot().Subscription("sub-1")
	if !slices.Equal(st.Missing, []int64{4, 5}) {
		t.Errorf("missing %v, want [4 5]", st.Missing)
	}
	if !slices.Equal(st.Received, []int64{1, 2, 3}) {
		t.Errorf("received %v, want [1 2 3]", st.Received)
	}
	if st.Highest != 3 {
		t.Errorf("highest %d, want 3", st.Highest)
	}
}

func TestDuplicateEventDetected(t *testing.T) {
	f := newFixture(t, nil)
	f.sim.state.track("sub-1")
	tok := f.payerToken(t)

	f.mustAccept(t, tok, notification("sub-1", TypeEvent, 1, 1))
	// At-least-once delivery: the same event again is acknowledged, and
	// counted as a duplicate.
	f.mustAccept(t, tok, notification("sub-1", TypeEvent, 1, 1))

	n := lastNotification(t, f.sim)
	if !slices.Equal(n.Duplicates, []int64{1}) {
		t.Errorf("repeat: duplicates %v, want [1]", n.Duplicates)
	}
	if len(n.New) != 0 {
		t.Errorf("repeat: new %v, want none", n.New)
	}
	if !n.Accepted {
		t.Error("repeat: not accepted, want accepted")
	}
	st, _ := f.sim.Snapshot().Subscription("sub-1")
	if st.Duplicates != 1 {
		t.Errorf("state duplicates %d, want 1", st.Duplicates)
	}
	if !slices.Equal(st.Received, []int64{1}) {
		t.Errorf("state received %v, want [1]", st.Received)
	}
}

func TestDroppedEventLeavesGap(t *testing.T) {
	f := newFixture(t, func(_ string, n int64) bool { return n == 1 })
	f.sim.state.track("sub-1")
	tok := f.payerToken(t)

	f.mustAccept(t, tok, notification("sub-1", TypeEvent, 1, 1))
	if n := lastNotification(t, f.sim); !slices.Equal(n.Dropped, []int64{1}) {
		t.Errorf("dropped %v, want [1]", n.Dropped)
	}
	f.mustAccept(t, tok, notification("sub-1", TypeEvent, 2, 2))
	if n := lastNotification(t, f.sim); !slices.Equal(n.Gap, []int64{1}) {
		t.Errorf("gap %v, want [1]", n.Gap)
	}
}

// TestNonconformingNotificationRejected sends notifications that fail
// strict mode or the Backport rules: each gets an OperationOutcome and
// changes no event state.
func TestNonconformingNotificationRejected(t *testing.T) {
	f := newFixture(t, nil)
	f.sim.state.track("sub-1")
	tok := f.payerToken(t)

	valid := string(notification("sub-1", TypeEvent, 1, 1))
	tests := []struct {
		name   string
		body   string
		status int
		want   string
	}{
		{"unknown element", strings.Replace(valid, `"type":"history"`, `"type":"history","bogus":true`, 1), 422, "does not conform to FHIR R4"},
		{"not JSON", `{"resourceType":"Bundle",`, 422, "does not conform"},
		{"no subscription parameter", strings.Replace(valid, `{"name":"subscription","valueReference":{"reference":"https://gateway.example/fhir/Subscription/sub-1"}},`, ``, 1), 422, `subscription\" is missing`},
		{"event without events", string(notification("sub-1", TypeEvent, 1)), 422, "carries no notification-event"},
		{"other topic", strings.Replace(valid, "PASSubscriptionTopic", "OtherTopic", 1), 422, "is not the PAS topic"},
		{"unknown type", strings.Replace(valid, `"valueCode":"event-notification"`, `"valueCode":"surprise"`, 1), 422, "is not a notification type"},
		{"zero event number", strings.Replace(valid, `"name":"event-number","valueString":"1"`, `"name":"event-number","valueString":"0"`, 1), 422, "is not a positive integer"},
		{"unknown Subscription", string(notification("sub-2", TypeEvent, 1, 1)), 404, "did not create"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, body, err := f.post(t, f.payer, tok, []byte(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			if status != tt.status || !hasOutcome(body, tt.want) {
				t.Errorf("status %d, body %s; want %d with an OperationOutcome containing %q", status, body, tt.status, tt.want)
			}
			if n := lastNotification(t, f.sim); n.Accepted || n.StatusCode != tt.status || n.Problem == "" {
				t.Errorf("recorded %+v, want a rejected notification", n)
			}
		})
	}
	if st, _ := f.sim.Snapshot().Subscription("sub-1"); len(st.Received) != 0 {
		t.Errorf("rejected notifications changed the event state: %+v", st)
	}
}

// TestSenderOtherThanGatewayRejected checks that only the payer's
// certificate, from the trusted CA, with a token bound to it may deliver.
func TestSenderOtherThanGatewayRejected(t *testing.T) {
	f := newFixture(t, nil)
	f.sim.state.track("sub-1")
	tok := f.payerToken(t)
	body := notification("sub-1", TypeEvent, 1, 1)

	otherCA, err := pki.NewRoot(pki.RootOptions{CommonName: "other CA"})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		client *http.Client
		tok    string
		status int // 0: the TLS handshake must fail
		want   string
	}{
		{"no client certificate", clientWith(t, f.ca, tls.Certificate{}), tok, 0, ""},
		{"certificate from another CA", clientWith(t, f.ca, issueClient(t, otherCA, "dev-payer")), tok, 0, ""},
		{"another partner's certificate", clientWith(t, f.ca, issueClient(t, f.ca, "demo-ehr")), tok, 403, "does not name the payer"},
		{"payer certificate without token", f.payer, "", 401, "bearer access token"},
		{"payer certificate with a forged token", f.payer, "eyJhbGciOiJub25lIn0.e30.", 401, "invalid, expired or bound"},
		{"token bound to another payer certificate", clientWith(t, f.ca, issueClient(t, f.ca, "dev-payer")), tok, 401, "invalid, expired or bound"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := f.sim.Snapshot().Rejected
			status, resp, err := f.post(t, tt.client, tt.tok, body)
			if tt.status == 0 {
				if err == nil {
					t.Fatalf("the TLS handshake succeeded with status %d", status)
				}
				return
			}
			if err != nil || status != tt.status || !hasOutcome(resp, tt.want) {
				t.Fatalf("status %d (%v), body %s; want %d mentioning %q", status, err, resp, tt.status, tt.want)
			}
			if after := f.sim.Snapshot().Rejected; after != before+1 {
				t.Errorf("rejected count %d -> %d, want one more", before, after)
			}
		})
	}
	if n := f.sim.Snapshot().Notifications; len(n) != 0 {
		t.Errorf("rejected requests were read as notifications: %+v", n)
	}

	t.Run("the payer is accepted", func(t *testing.T) {
		f.mustAccept(t, tok, body)
	})
}

func TestJWKSServedWithoutClientCertificate(t *testing.T) {
	f := newFixture(t, nil)
	resp, err := clientWith(t, f.ca, tls.Certificate{}).Get(f.sim.JWKSURL())
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(body, &set); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d (%v): %s", resp.StatusCode, err, body)
	}
	if len(set.Keys) != 1 || !set.Keys[0].IsPublic() || set.Keys[0].KeyID != f.sim.key.KeyID {
		t.Errorf("served keys %+v, want the simulator's public key alone", set.Keys)
	}
	if resp.Header.Get("Cache-Control") != "max-age=60" {
		t.Errorf("Cache-Control %q", resp.Header.Get("Cache-Control"))
	}
}

func TestStartRejectsMissingOptions(t *testing.T) {
	_, err := Start(Options{PartnerID: "demo-ehr"})
	if err == nil || !strings.Contains(err.Error(), "PayerClientID") || !strings.Contains(err.Error(), "ServerCertificate") {
		t.Errorf("Start with missing options: %v", err)
	}
	f := newFixture(t, nil)
	opts := f.sim.opts
	opts.FHIRAddr = "192.0.2.1:0"
	if _, err := Start(opts); err == nil || !strings.Contains(err.Error(), "not a loopback IP address") {
		t.Errorf("Start on a non-loopback host: %v", err)
	}
}
