package killswitch

import (
	"context"
	"errors"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-health/gatehouse/internal/fhirreq"
	"github.com/gatehouse-health/gatehouse/internal/storage/storagetest"
)

func parse(t *testing.T, method, path string) *fhirreq.Request {
	t.Helper()
	req, err := fhirreq.Parse(httptest.NewRequest(method, "https://gw"+path, nil), "/fhir")
	if err != nil {
		t.Fatal(err)
	}
	return req
}

func TestCutModes(t *testing.T) {
	submit := func(t *testing.T) *fhirreq.Request { return parse(t, "POST", "/fhir/Claim/$submit") }
	inquire := func(t *testing.T) *fhirreq.Request { return parse(t, "POST", "/fhir/Claim/$inquire") }
	read := func(t *testing.T) *fhirreq.Request { return parse(t, "GET", "/fhir/Claim/1") }
	tests := []struct {
		name    string
		cut     Cut
		partner string
		req     func(*testing.T) *fhirreq.Request
		blocked bool
	}{
		{"full all blocks a read", Cut{Mode: Full, Scope: "all"}, "a", read, true},
		{"full partner blocks that partner", Cut{Mode: Full, Scope: "partner:a"}, "a", inquire, true},
		{"full partner spares another", Cut{Mode: Full, Scope: "partner:a"}, "b", inquire, false},
		{"read-only blocks $submit", Cut{Mode: ReadOnly, Scope: "all"}, "a", submit, true},
		{"read-only blocks $inquire", Cut{Mode: ReadOnly, Scope: "all"}, "a", inquire, true},
		{"read-only passes a read", Cut{Mode: ReadOnly, Scope: "all"}, "a", read, false},
		{"writes-off blocks $submit", Cut{Mode: WritesOff, Scope: "all"}, "a", submit, true},
		{"writes-off passes $inquire", Cut{Mode: WritesOff, Scope: "all"}, "a", inquire, false},
		{"route cut blocks its route", Cut{Mode: Full, Scope: "route:Claim/$submit"}, "b", submit, true},
		{"route cut spares other routes", Cut{Mode: Full, Scope: "route:Claim/$submit"}, "b", inquire, false},
		{"outbound cut spares inbound", Cut{Mode: Full, Scope: "all", Direction: Outbound}, "a", read, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := tt.cut
			c.Reason = "test"
			if err := c.Validate(); err != nil {
				t.Fatal(err)
			}
			if got := c.blocks(tt.partner, Inbound, tt.req(t), false); got != tt.blocked {
				t.Errorf("blocks = %v, want %v", got, tt.blocked)
			}
		})
	}
}

// Outbound, a partial cut refuses every request that sends the partner
// content, and still passes a GET read or search.
func TestCutModesOutboundContent(t *testing.T) {
	search := func(t *testing.T) *fhirreq.Request { return parse(t, "GET", "/fhir/Patient?identifier=s|v") }
	read := func(t *testing.T) *fhirreq.Request { return parse(t, "GET", "/fhir/Patient/1") }
	validate := func(t *testing.T) *fhirreq.Request { return parse(t, "POST", "/fhir/Patient/$validate") }
	tests := []struct {
		name    string
		mode    Mode
		req     func(*testing.T) *fhirreq.Request
		body    bool
		blocked bool
	}{
		{"read-only passes a GET search", ReadOnly, search, false, false},
		{"read-only passes a GET read", ReadOnly, read, false, false},
		{"read-only blocks a GET with a body", ReadOnly, read, true, true},
		{"writes-off passes a GET search", WritesOff, search, false, false},
		{"writes-off blocks $validate", WritesOff, validate, true, true},
		{"writes-off blocks $validate by method", WritesOff, validate, false, true},
		{"writes-off blocks a GET with a body", WritesOff, search, true, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := Cut{Mode: tt.mode, Scope: "all", Reason: "test"}
			if err := c.Validate(); err != nil {
				t.Fatal(err)
			}
			if got := c.blocks("a", Outbound, tt.req(t), tt.body); got != tt.blocked {
				t.Errorf("blocks = %v, want %v", got, tt.blocked)
			}
		})
	}

	inbound := Cut{Mode: WritesOff, Scope: "all", Reason: "test"}
	if err := inbound.Validate(); err != nil {
		t.Fatal(err)
	}
	if inbound.blocks("a", Inbound, validate(t), true) {
		t.Error("writes-off blocks an inbound $validate, want it to pass: the body is the partner's")
	}
}

// A POST _search sends its criteria as a form body, so an outbound
// read-only cut refuses it while the same search by GET passes.
func TestCutReadOnlyOutboundSearchPost(t *testing.T) {
	form := httptest.NewRequest("POST", "https://gw/fhir/Patient/_search", strings.NewReader("identifier=s%7Cv"))
	form.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req, err := fhirreq.ParseWithBody(form, "/fhir", []byte("identifier=s%7Cv"))
	if err != nil {
		t.Fatal(err)
	}
	c := Cut{Mode: ReadOnly, Scope: "all", Reason: "test"}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if !c.blocks("a", Outbound, req, true) {
		t.Error("read-only passes an outbound POST _search, want it refused")
	}
}

func TestValidateRejects(t *testing.T) {
	for _, c := range []Cut{
		{Mode: "pause", Scope: "all", Reason: "x"},
		{Mode: Full, Scope: "everything", Reason: "x"},
		{Mode: Full, Scope: "partner:", Reason: "x"},
		{Mode: Full, Scope: "route:Claim/*", Reason: "x"},
		{Mode: Full, Scope: "all", Reason: " "},
		{Mode: Full, Scope: "all", Reason: "x", Direction: "sideways"},
		// Another administrator reads reasons and scopes in a terminal
		// (killswitch status, audit show), where escape sequences act.
		{Mode: Full, Scope: "all", Reason: "drill\x1b]52;c;ZWNobyBwd25lZA==\a"},
		{Mode: Full, Scope: "all", Reason: "line one\nline two"},
		{Mode: Full, Scope: "all", Reason: "reversed \u202edesrever"},
		{Mode: Full, Scope: "partner:demo-ehr\x1b[2K\rpartner:x", Reason: "x"},
		{Mode: Full, Scope: "route:Claim/$submit\x00", Reason: "x"},
	} {
		if err := c.Validate(); err == nil {
			t.Errorf("Validate accepted mode %q, scope %q, direction %q, reason %q", c.Mode, c.Scope, c.Direction, c.Reason)
		}
	}
}

// TestPersistedAndRevoking engages a cut, reopens the switch on the same
// database, and checks the cut and the token revocation survive, and that
// the revocation outlives the release.
func TestPersistedAndRevoking(t *testing.T) {
	storagetest.Run(t, func(t *testing.T, b storagetest.Backend) {
		ctx := context.Background()
		url := b.NewURL(t)
		db := storagetest.Open(t, url)
		now := time.Unix(1_800_000_000, 0)
		clock := func() time.Time { return now }
		sw, err := Open(ctx, db, clock, nil)
		if err != nil {
			t.Fatal(err)
		}
		var seen []*Cut
		sw.OnEngage(func(added []*Cut) { seen = append(seen, added...) })
		c := &Cut{Mode: Full, Scope: "partner:a", Reason: "incident 7", EngagedBy: "alice"}
		if err := sw.Engage(ctx, c); err != nil {
			t.Fatal(err)
		}
		if len(seen) != 1 || seen[0].ID != c.ID {
			t.Errorf("OnEngage saw %v", seen)
		}
		if sw.Check("a", Inbound, nil) == nil {
			t.Error("full cut does not apply before parsing")
		}

		other, err := Open(ctx, storagetest.Open(t, url), clock, nil) // a second replica
		if err != nil {
			t.Fatal(err)
		}
		if got := other.Cuts(); len(got) != 1 || got[0].Reason != "incident 7" || got[0].EngagedBy != "alice" {
			t.Fatalf("reopened cuts = %+v", got)
		}
		if !other.Revoked("a", now.Add(-time.Second)) || other.Revoked("a", now.Add(time.Second)) || other.Revoked("b", now.Add(-time.Second)) {
			t.Error("revocation does not cover exactly partner a's earlier tokens")
		}
		if _, err := other.Release(ctx, c.ID, "bob"); err != nil {
			t.Fatal(err)
		}
		if err := sw.Reload(ctx); err != nil {
			t.Fatal(err)
		}
		if len(sw.Cuts()) != 0 {
			t.Error("released cut still engaged on the first replica after reload")
		}
		if !sw.Revoked("a", now.Add(-time.Second)) {
			t.Error("release restored tokens issued before the cut")
		}
		_, err = sw.Release(ctx, c.ID, "bob")
		var released *ReleasedError
		if !errors.As(err, &released) || !errors.Is(err, ErrNotEngaged) {
			t.Errorf("second release: %v, want a ReleasedError wrapping ErrNotEngaged", err)
		}
	})
}

// TestEngageUnknownPartner engages cuts once the registered partners are
// known: a cut of another partner id is rejected with the list, so that a
// typo during an incident does not pass for a cut.
func TestEngageUnknownPartner(t *testing.T) {
	ctx := context.Background()
	sw, err := Open(ctx, storagetest.Backends()[0].New(t), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	sw.SetPartners([]string{"demo-ehr", "acme-ehr"})
	err = sw.Engage(ctx, &Cut{Mode: Full, Scope: "partner:demo-erh", Reason: "incident", EngagedBy: "alice"})
	if !errors.Is(err, ErrUnknownPartner) {
		t.Fatalf("Engage of an unknown partner: %v, want ErrUnknownPartner", err)
	}
	if !strings.Contains(err.Error(), `"demo-erh"; registered partners: acme-ehr, demo-ehr`) {
		t.Errorf("error %q does not name the id and the registered partners", err)
	}
	if n := len(sw.Cuts()); n != 0 {
		t.Errorf("%d cuts engaged after the refusal, want 0", n)
	}
	for _, scope := range []string{"partner:demo-ehr", "all", "route:Claim/$submit"} {
		if err := sw.Engage(ctx, &Cut{Mode: Full, Scope: scope, Reason: "incident", EngagedBy: "alice"}); err != nil {
			t.Errorf("Engage %s: %v", scope, err)
		}
	}
}

// TestEngageNoRegisteredPartners gives the switch an empty partner list, as
// a gateway with no partners does: a partner-scoped cut cuts nothing, so it
// is rejected like any other unknown id.
func TestEngageNoRegisteredPartners(t *testing.T) {
	ctx := context.Background()
	sw, err := Open(ctx, storagetest.Backends()[0].New(t), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	sw.SetPartners([]string{})
	err = sw.Engage(ctx, &Cut{Mode: Full, Scope: "partner:demo-ehr", Reason: "incident", EngagedBy: "alice"})
	if !errors.Is(err, ErrUnknownPartner) {
		t.Fatalf("Engage with no registered partners: %v, want ErrUnknownPartner", err)
	}
	if !strings.HasSuffix(err.Error(), "registered partners: none") {
		t.Errorf("error %q does not say that no partner is registered", err)
	}
	if n := len(sw.Cuts()); n != 0 {
		t.Errorf("%d cuts engaged after the refusal, want 0", n)
	}
	if err := sw.Engage(ctx, &Cut{Mode: Full, Scope: "all", Reason: "incident", EngagedBy: "alice"}); err != nil {
		t.Errorf("Engage all: %v", err)
	}
}
