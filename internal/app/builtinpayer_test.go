package app_test

import (
	"context"
	"net/http"
	"testing"

	"github.com/gatehouse-health/gatehouse/internal/app"
	"github.com/gatehouse-health/gatehouse/internal/config"
	"github.com/gatehouse-health/gatehouse/internal/devmode"
	"github.com/gatehouse-health/gatehouse/internal/ehrclient"
	"github.com/gatehouse-health/gatehouse/internal/members"
	"github.com/gatehouse-health/gatehouse/internal/storage"
)

// enrolledMember is a member of the built-in payer with one coverage.
type enrolledMember struct {
	member   members.Member
	coverage members.Coverage
}

// payerOperation is what the demo partner needs to call one operation of
// the built-in payer service: the allowlist entry, the SMART scope, and
// the role that the gateway grants read access to.
type payerOperation struct {
	interaction, scope, role string
}

// startPayerOperation starts a gateway in front of the built-in payer
// service that lets the demo partner call op, and adds enrolled to the
// payer's members. check, if not nil, reads the configuration before the
// gateway starts. It returns the harness, a partner client granted op's
// scope, and the headers of an authorized FHIR JSON request.
func startPayerOperation(t *testing.T, op payerOperation, check func(*config.File), enrolled []enrolledMember) (*harness, *ehrclient.Client, http.Header) {
	t.Helper()
	var databaseURL string
	h := newHarness(t, harnessOptions{builtinUpstream: true, edit: func(cfg *config.File, _ *devmode.Layout) {
		p := &cfg.Partners[0]
		p.Interactions = append(p.Interactions, op.interaction)
		p.Scopes = append(p.Scopes, op.scope)
		p.Roles[op.role] = "read"
		databaseURL = cfg.DatabaseURL()
		if check != nil {
			check(cfg)
		}
	}})

	ctx := context.Background()
	db, err := storage.Open(ctx, databaseURL)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	store := members.NewStore(db)
	for _, e := range enrolled {
		if err := store.Add(ctx, e.member, []members.Coverage{e.coverage}); err != nil {
			t.Fatal(err)
		}
	}

	client := h.partnerClient(app.DevScopes + " " + op.scope)
	token, err := client.Token(ctx)
	if err != nil {
		t.Fatal(err)
	}
	header := http.Header{"Content-Type": {"application/fhir+json"}, "Authorization": {"Bearer " + token.AccessToken}}
	return h, client, header
}
