package subscriptions

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/gatehouse-health/gatehouse/internal/fhirreq"
	"github.com/gatehouse-health/gatehouse/internal/storage"
)

// Canonical URLs of the topic and the Backport IG profiles and extensions.
const (
	// TopicPAS is the PAS 2.2.1 SubscriptionTopic for results of pended
	// prior authorizations, the topic the gateway's policy allows by
	// default.
	TopicPAS = fhirreq.PASSubscriptionTopic

	backport               = "http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition/"
	profileSubscription    = backport + "backport-subscription"
	profileNotification    = backport + "backport-subscription-notification-r4"
	profileStatus          = backport + "backport-subscription-status-r4"
	extFilterCriteria      = fhirreq.FilterCriteriaURL
	extPayloadContent      = backport + "backport-payload-content"
	extHeartbeatPeriod     = backport + "backport-heartbeat-period"
	profilePASSubscription = "http://hl7.org/fhir/us/davinci-pas/StructureDefinition/profile-subscription"
)

// MaxEventsPerQuery is the default and the largest number of events one
// $events call returns (Options.EventsPerQuery).
const MaxEventsPerQuery = 100

// DefaultMaxPerPartner is the number of live Subscriptions (status other
// than off, end not passed) a partner may hold when
// Options.MaxPerPartner is zero.
const DefaultMaxPerPartner = 10

// Partner is the payer's record of a partner's receiving side.
type Partner struct {
	// FHIRBase is the partner's FHIR base URL as the gateway's outbound
	// path forwards to it (partners[].outbound.fhir_base).
	FHIRBase string
	// OrganizationSystem and OrganizationValue identify the partner's
	// organisation (partners[].organization). When OrganizationValue is
	// set, a Subscription filter must name it.
	OrganizationSystem string
	OrganizationValue  string
}

// Delivery configures how notifications leave: through the gateway's
// outbound listener, as the payer's integration engine.
type Delivery struct {
	// Client presents an engine certificate (urn:gatehouse:engine: URI
	// SAN) to the outbound listener. It must not follow redirects.
	Client *http.Client
	// OutboundURL is the outbound listener's base URL, such as
	// https://127.0.0.1:9444.
	OutboundURL string
	// MinBackoff is the wait after the first failed attempt; default 1s.
	// Each further failure doubles it, up to MaxBackoff (default 5m).
	MinBackoff, MaxBackoff time.Duration
	// PollInterval is how often Run looks for due notifications and
	// heartbeats; default 1s.
	PollInterval time.Duration
}

// Options configures a Hub.
type Options struct {
	// FHIRBase is the public FHIR base URL partners use, the prefix of the
	// Subscription and ClaimResponse references in notifications.
	FHIRBase string
	// Partners maps partner ids to their receiving side. A partner absent
	// here cannot create a Subscription (422).
	Partners map[string]Partner
	// Delivery, when set, lets Run send notifications. Without it events
	// are still queued, for another process to send.
	Delivery *Delivery
	// Now returns the current time; nil means time.Now.
	Now func() time.Time
	// NewID returns a fresh lower-case UUID; nil means random ones.
	NewID func() string
	// Logger receives delivery failures and database errors, without
	// content. Nil means slog.Default().
	Logger *slog.Logger
	// EventsPerQuery is the page size of $events: a call returns at most
	// this many events, and the client requests the rest from the next number.
	// Zero means MaxEventsPerQuery, and larger values are an error.
	EventsPerQuery int
	// MaxPerPartner caps the live Subscriptions of one partner, because
	// each one multiplies that partner's notifications and heartbeats
	// through the outbound path and the exchange record. Zero means
	// DefaultMaxPerPartner.
	MaxPerPartner int
	// Retention is how long a deleted or ended Subscription is kept, with
	// its stored events, before the sender purges it. Zero means
	// DefaultRetention.
	Retention time.Duration
}

// Hub stores Subscriptions and their events and delivers notifications.
// Its methods are safe for concurrent use.
type Hub struct {
	db        *storage.DB
	fhirBase  string
	partners  map[string]Partner
	delivery  Delivery
	sending   bool
	now       func() time.Time
	newID     func() string
	log       *slog.Logger
	perQuery  int64
	maxLive   int
	retention time.Duration

	// sendingTo contains the partners whose notifications a goroutine of
	// dispatch is sending, so that a new round skips them.
	sendingMu sync.Mutex
	sendingTo map[string]bool

	// failing contains the Subscriptions whose last attempt failed, for
	// logFailure and logRecovered.
	failMu  sync.Mutex
	failing map[string]*failureState

	// startOnce runs retryAfterStart before the first round.
	startOnce sync.Once

	// lastPurge is when this Hub last started a purge.
	purgeMu   sync.Mutex
	lastPurge time.Time
}

// New returns a Hub over db. Call Migrate before use.
func New(db *storage.DB, opts Options) (*Hub, error) {
	if db == nil {
		return nil, errors.New("subscriptions: New: db is nil")
	}
	if opts.EventsPerQuery < 0 || opts.EventsPerQuery > MaxEventsPerQuery {
		return nil, fmt.Errorf("subscriptions: invalid Options.EventsPerQuery %d: use 0 for the default or 1 to %d", opts.EventsPerQuery, MaxEventsPerQuery)
	}
	if opts.Retention < 0 {
		return nil, fmt.Errorf("subscriptions: invalid Options.Retention %s: use 0 for the default or a positive duration", opts.Retention)
	}
	if opts.MaxPerPartner < 0 {
		return nil, fmt.Errorf("subscriptions: invalid Options.MaxPerPartner %d: use 0 for the default or a positive number", opts.MaxPerPartner)
	}
	h := &Hub{
		db:        db,
		fhirBase:  strings.TrimRight(opts.FHIRBase, "/"),
		partners:  opts.Partners,
		now:       opts.Now,
		newID:     opts.NewID,
		log:       opts.Logger,
		perQuery:  int64(opts.EventsPerQuery),
		maxLive:   opts.MaxPerPartner,
		retention: opts.Retention,
		sendingTo: map[string]bool{},
		failing:   map[string]*failureState{},
	}
	if opts.Delivery != nil {
		if opts.Delivery.Client == nil || opts.Delivery.OutboundURL == "" {
			return nil, errors.New("subscriptions: Delivery needs Client and OutboundURL")
		}
		h.delivery, h.sending = *opts.Delivery, true
		h.delivery.OutboundURL = strings.TrimRight(h.delivery.OutboundURL, "/")
	}
	h.applyDefaults()
	return h, nil
}

func (h *Hub) applyDefaults() {
	if h.now == nil {
		h.now = time.Now
	}
	if h.newID == nil {
		h.newID = randomUUID
	}
	if h.log == nil {
		h.log = slog.Default()
	}
	if h.perQuery == 0 {
		h.perQuery = MaxEventsPerQuery
	}
	if h.maxLive == 0 {
		h.maxLive = DefaultMaxPerPartner
	}
	if h.retention == 0 {
		h.retention = DefaultRetention
	}
	d := &h.delivery
	if d.MinBackoff <= 0 {
		d.MinBackoff = time.Second
	}
	if d.MaxBackoff < d.MinBackoff {
		d.MaxBackoff = max(5*time.Minute, d.MinBackoff)
	}
	if d.PollInterval <= 0 {
		d.PollInterval = time.Second
	}
}

// Migrate creates the Subscription tables if they do not exist.
func (h *Hub) Migrate(ctx context.Context) error {
	if err := h.db.CreateSchema(ctx, schema); err != nil {
		return fmt.Errorf("subscriptions: migrate: %w", err)
	}
	return nil
}

// timeLayout writes UTC times with a fixed width, so that they sort as
// strings.
const timeLayout = "2006-01-02T15:04:05.000000Z"

func (h *Hub) stamp() string { return h.now().UTC().Format(timeLayout) }

// randomUUID returns a random version 4 UUID in lower case.
func randomUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never returns an error
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}
