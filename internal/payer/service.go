package payer

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/gatehouse-health/gatehouse/internal/members"
	"github.com/gatehouse-health/gatehouse/internal/outcome"
	"github.com/gatehouse-health/gatehouse/internal/record"
	"github.com/gatehouse-health/gatehouse/internal/storage"
	"github.com/gatehouse-health/gatehouse/internal/subscriptions"
)

// DefaultMaxBodyBytes is the request body cap when Options.MaxBodyBytes
// is zero.
const DefaultMaxBodyBytes = 10 << 20

// PartnerHeader carries the partner id of the gateway's verified client.
// The gateway overwrites it on every forwarded request; the service
// trusts it because it listens on loopback behind the gateway.
const PartnerHeader = "X-Gatehouse-Partner"

// Options configures a Service. The zero value is usable.
type Options struct {
	// Rules decides each item. Nil means DefaultRules().
	Rules *Rules
	// Now returns the current time. Nil means time.Now.
	Now func() time.Time
	// NewID returns a fresh lower-case UUID for ClaimResponse ids and
	// preAuthRef values. Nil means random version 4 UUIDs from
	// crypto/rand. Tests inject a sequence.
	NewID func() string
	// MaxBodyBytes caps request bodies, in bytes. Zero means
	// DefaultMaxBodyBytes.
	MaxBodyBytes int64
	// Logger receives the errors the service handles itself, such as
	// database failures, without request content. Nil means
	// slog.Default().
	Logger *slog.Logger

	// FHIRBase is the public FHIR base URL partners use (the gateway's
	// <public_url>/fhir). Search results and notifications name resources
	// under it. Empty means references relative to the service root.
	FHIRBase string
	// Partners maps partner ids to where their Subscription notifications
	// go. A partner absent here cannot subscribe.
	Partners map[string]subscriptions.Partner
	// Delivery, when set, makes Run send Subscription notifications
	// through the gateway's outbound listener.
	Delivery *subscriptions.Delivery
	// PollInterval is how often Run applies the rule table's later
	// decisions. Zero means one second.
	PollInterval time.Duration
	// MemberSystem is the identifier system of member ids in eligibility
	// and $member-match. Empty means DefaultMemberSystem.
	MemberSystem string
	// EventsPerQuery is the page size of Subscription $events. Zero means
	// subscriptions.MaxEventsPerQuery.
	EventsPerQuery int
	// SubscriptionRetention is how long a deleted or ended Subscription
	// stays readable before it is purged. Zero means
	// subscriptions.DefaultRetention.
	SubscriptionRetention time.Duration
	// Records is the exchange record that receives a control entry for
	// every operator decision (DecideAsOperator). Nil means operator
	// decisions are rejected, but the rule table still decides.
	Records record.Store
}

// DefaultMemberSystem is the identifier system of this payer's member ids
// when Options.MemberSystem is empty.
const DefaultMemberSystem = "urn:gatehouse:payer:member-id"

// Service is the built-in payer: PAS Claim/$submit and Claim/$inquire over
// its own tables. Its methods are safe for concurrent use.
type Service struct {
	store        store
	rules        *Rules
	now          func() time.Time
	newID        func() string
	maxBody      int64
	log          *slog.Logger
	started      time.Time
	subs         *subscriptions.Hub
	delivering   bool
	poll         time.Duration
	members      *members.Store
	fhirBase     string
	memberSystem string
	records      record.Store
}

// New returns a Service storing in db, which may be shared with other
// components: the service touches only tables named payer_*. On SQLite
// concurrent submissions wait for each other (storage begins write
// transactions with the write lock); on PostgreSQL they run concurrently,
// and the optimistic checks and unique keys make the loser plan again.
// Call Migrate before serving.
func New(db *storage.DB, opts Options) (*Service, error) {
	if db == nil {
		return nil, errors.New("payer: New: db is nil")
	}
	if opts.MaxBodyBytes < 0 {
		return nil, fmt.Errorf("payer: Options.MaxBodyBytes is %d; use 0 for the default or a positive size", opts.MaxBodyBytes)
	}
	s := &Service{
		store:   store{db: db, stmts: storage.NewStatements(db)},
		rules:   opts.Rules,
		now:     opts.Now,
		newID:   opts.NewID,
		maxBody: opts.MaxBodyBytes,
		log:     opts.Logger,
		records: opts.Records,
	}
	if s.rules == nil {
		s.rules = DefaultRules()
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.newID == nil {
		s.newID = randomUUID
	}
	if s.maxBody == 0 {
		s.maxBody = DefaultMaxBodyBytes
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	s.started = s.now()
	return s, s.attach(db, opts)
}

// attach sets up the Subscription hub, the member store and Run.
func (s *Service) attach(db *storage.DB, opts Options) error {
	hub, err := subscriptions.New(db, subscriptions.Options{
		FHIRBase: opts.FHIRBase, Partners: opts.Partners, Delivery: opts.Delivery,
		Now: s.now, NewID: s.newID, Logger: s.log, EventsPerQuery: opts.EventsPerQuery,
		Retention: opts.SubscriptionRetention,
	})
	if err != nil {
		return fmt.Errorf("payer: %w", err)
	}
	s.subs, s.delivering = hub, opts.Delivery != nil
	s.members = members.NewStore(db)
	s.fhirBase = strings.TrimRight(opts.FHIRBase, "/")
	s.poll = opts.PollInterval
	if s.poll <= 0 {
		s.poll = time.Second
	}
	s.memberSystem = opts.MemberSystem
	if s.memberSystem == "" {
		s.memberSystem = DefaultMemberSystem
	}
	return nil
}

// Members returns the service's member store, which the loader fills.
func (s *Service) Members() *members.Store { return s.members }

// Migrate creates the service's tables if they do not exist.
func (s *Service) Migrate(ctx context.Context) error {
	if err := s.store.db.CreateSchema(ctx, schema); err != nil {
		return fmt.Errorf("payer: migrate: %w", err)
	}
	if err := s.subs.Migrate(ctx); err != nil {
		return err
	}
	return s.members.Migrate(ctx)
}

// Handler returns the FHIR endpoint, rooted at "/":
//
//	POST /Claim/$submit                        PAS prior authorization request
//	POST /Claim/$inquire                       PAS inquiry about an earlier request
//	GET  /ClaimResponse?identifier=&patient=&created=   claim status search
//	GET  /ClaimResponse/{id}                   one ClaimResponse version
//	POST /CoverageEligibilityRequest/$submit   eligibility
//	POST /Patient/$member-match                HRex member match
//	     /Subscription...                      see internal/subscriptions
//	GET  /metadata                             CapabilityStatement
//
// Every other path gets 404 and every other method 405, each with an
// OperationOutcome.
func (s *Service) Handler() http.Handler {
	type route struct {
		method string
		handle http.HandlerFunc
	}
	routes := map[string]route{
		"/Claim/$submit":                      {http.MethodPost, s.handleSubmit},
		"/Claim/$inquire":                     {http.MethodPost, s.handleInquire},
		"/ClaimResponse":                      {http.MethodGet, s.handleSearch},
		"/CoverageEligibilityRequest/$submit": {http.MethodPost, s.handleEligibility},
		"/Patient/$member-match":              {http.MethodPost, s.handleMemberMatch},
		"/metadata":                           {http.MethodGet, s.handleMetadata},
	}
	subs := s.subs.Handler()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rt, ok := routes[r.URL.Path]
		switch {
		case !ok && (r.URL.Path == "/Subscription" || strings.HasPrefix(r.URL.Path, "/Subscription/")):
			subs.ServeHTTP(w, r)
		case !ok && strings.HasPrefix(r.URL.Path, "/ClaimResponse/"):
			s.handleRead(w, r, strings.TrimPrefix(r.URL.Path, "/ClaimResponse/"))
		case !ok:
			fail(w, http.StatusNotFound, outcome.CodeNotFound, "this payer service has no endpoint at this path; see its CapabilityStatement at metadata")
		case r.Method != rt.method:
			w.Header().Set("Allow", rt.method)
			fail(w, http.StatusMethodNotAllowed, outcome.CodeNotSupported, "use "+rt.method+" for this endpoint")
		default:
			rt.handle(w, r)
		}
	})
}

// randomUUID returns a random version 4 UUID in lower case.
func randomUUID() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		// crypto/rand.Read documents that it crashes the program rather
		// than return an error, so this line is not reached.
		panic("payer: crypto/rand: " + err.Error())
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}
