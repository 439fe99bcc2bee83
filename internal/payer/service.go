package payer

import (
	"context"
	"crypto/rand"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/gatehouse-health/gatehouse/internal/outcome"
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
}

// Service is the built-in payer: PAS Claim/$submit and Claim/$inquire over
// its own tables. Its methods are safe for concurrent use.
type Service struct {
	store   store
	rules   *Rules
	now     func() time.Time
	newID   func() string
	maxBody int64
	log     *slog.Logger
	started time.Time
}

// New returns a Service storing in db, which may be shared with other
// components: the service touches only tables named payer_*. For SQLite,
// db should have a busy timeout and immediate transactions (as
// internal/sqlitedb sets up), so concurrent submissions wait for each
// other instead of failing. Call Migrate before serving.
func New(db *sql.DB, opts Options) (*Service, error) {
	if db == nil {
		return nil, errors.New("payer: New: db is nil")
	}
	if opts.MaxBodyBytes < 0 {
		return nil, fmt.Errorf("payer: Options.MaxBodyBytes is %d; use 0 for the default or a positive size", opts.MaxBodyBytes)
	}
	s := &Service{
		store:   store{db: db},
		rules:   opts.Rules,
		now:     opts.Now,
		newID:   opts.NewID,
		maxBody: opts.MaxBodyBytes,
		log:     opts.Logger,
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
	return s, nil
}

// Migrate creates the service's tables if they do not exist.
func (s *Service) Migrate(ctx context.Context) error {
	tx, err := s.store.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("payer: migrate: %w", err)
	}
	defer tx.Rollback()
	for _, stmt := range schema {
		if _, err := tx.ExecContext(ctx, stmt); err != nil {
			return fmt.Errorf("payer: migrate: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("payer: migrate: %w", err)
	}
	return nil
}

// Handler returns the FHIR endpoint, rooted at "/":
//
//	POST /Claim/$submit   PAS prior authorization request
//	POST /Claim/$inquire  PAS inquiry about an earlier request
//	GET  /metadata        CapabilityStatement
//
// Every other path gets 404 and every other method 405, each with an
// OperationOutcome.
func (s *Service) Handler() http.Handler {
	type route struct {
		method string
		handle http.HandlerFunc
	}
	routes := map[string]route{
		"/Claim/$submit":  {http.MethodPost, s.handleSubmit},
		"/Claim/$inquire": {http.MethodPost, s.handleInquire},
		"/metadata":       {http.MethodGet, s.handleMetadata},
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rt, ok := routes[r.URL.Path]
		switch {
		case !ok:
			fail(w, http.StatusNotFound, outcome.CodeNotFound, "this payer service serves Claim/$submit, Claim/$inquire and metadata only")
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
