package subscriptions

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	_ "modernc.org/sqlite"

	"github.com/gatehouse-health/gatehouse/internal/clocktest"
	"github.com/gatehouse-health/gatehouse/internal/storage"
	"github.com/gatehouse-health/gatehouse/internal/storage/storagetest"
)

const (
	testPartner = "partner-a"
	hookPath    = "/partners/partner-a/fhir/$subscription-hook"
)

// fakeOutbound replaces the gateway's outbound listener. It records every
// notification and responds 503 while down. dropNext makes it respond 200
// to the next event notification without keeping it, as a receiver that
// loses a message does.
type fakeOutbound struct {
	srv      *httptest.Server
	mu       sync.Mutex
	down     bool
	dropNext bool
	attempts int
	received []notification
}

type notification struct {
	kind   string
	events []string
	count  string
}

func newFakeOutbound(t *testing.T) *fakeOutbound {
	f := &fakeOutbound{}
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		f.mu.Lock()
		defer f.mu.Unlock()
		f.attempts++
		if r.Method != http.MethodPost || r.URL.EscapedPath() != "/partners/partner-a/fhir/$subscription-hook" || r.Header.Get("Content-Type") != "application/fhir+json" {
			w.WriteHeader(http.StatusNotFound)
			return
		}
		if f.down {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		n := parseNotification(t, body)
		if f.dropNext && n.kind == kindEvent {
			f.dropNext = false
			return
		}
		f.received = append(f.received, n)
	}))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeOutbound) set(down, dropNext bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.down, f.dropNext = down, dropNext
}

func (f *fakeOutbound) snapshot() (attempts int, got []notification) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.attempts, slices.Clone(f.received)
}

func parseNotification(t *testing.T, body []byte) notification {
	var b struct {
		Type  string `json:"type"`
		Entry []struct {
			Resource struct {
				Parameter []struct {
					Name        string `json:"name"`
					ValueCode   string `json:"valueCode"`
					ValueString string `json:"valueString"`
					Part        []struct {
						Name        string `json:"name"`
						ValueString string `json:"valueString"`
					} `json:"part"`
				} `json:"parameter"`
			} `json:"resource"`
		} `json:"entry"`
	}
	if err := json.Unmarshal(body, &b); err != nil || b.Type != "history" || len(b.Entry) == 0 {
		t.Errorf("notification is not a history Bundle: %s", body)
		return notification{}
	}
	var n notification
	for _, p := range b.Entry[0].Resource.Parameter {
		switch p.Name {
		case "type":
			n.kind = p.ValueCode
		case "events-since-subscription-start":
			n.count = p.ValueString
		case "notification-event":
			for _, part := range p.Part {
				if part.Name == "event-number" {
					n.events = append(n.events, part.ValueString)
				}
			}
		}
	}
	return n
}

// openDB opens the database at url for t; opening one url twice is how a
// test restarts the Hub.
func openDB(t *testing.T, url string) *storage.DB {
	t.Helper()
	return storagetest.Open(t, url)
}

func newTestHub(t *testing.T, db *storage.DB, out *fakeOutbound) *Hub {
	t.Helper()
	opts := Options{
		FHIRBase: "https://gateway.example/fhir",
		Partners: map[string]Partner{testPartner: {FHIRBase: "https://ehr.example/fhir/r4", OrganizationSystem: "http://hl7.org/fhir/sid/us-npi", OrganizationValue: "8189991234"}},
		Logger:   slog.New(slog.DiscardHandler),
	}
	if out != nil {
		opts.Delivery = &Delivery{Client: out.srv.Client(), OutboundURL: out.srv.URL,
			MinBackoff: 10 * time.Millisecond, MaxBackoff: 40 * time.Millisecond, PollInterval: 5 * time.Millisecond}
	}
	h, err := New(db, opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	return h
}

const pasSubscription = `{"resourceType":"Subscription","status":"requested","reason":"PAS results",
 "criteria":"http://hl7.org/fhir/us/davinci-pas/SubscriptionTopic/PASSubscriptionTopic",
 "_criteria":{"extension":[{"url":"http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition/backport-filter-criteria","valueString":"org-identifier=8189991234"}]},
 "channel":{"type":"rest-hook","endpoint":"https://ehr.example/fhir/r4/$subscription-hook","payload":"application/fhir+json",
  "_payload":{"extension":[{"url":"http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition/backport-payload-content","valueCode":"id-only"}]}}}`

// call sends a request to the Hub's handler as the gateway would.
func call(t *testing.T, h *Hub, method, target, body string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(method, target, strings.NewReader(body))
	req.Header.Set(PartnerHeader, testPartner)
	if body != "" {
		req.Header.Set("Content-Type", "application/fhir+json")
	}
	rec := httptest.NewRecorder()
	h.Handler().ServeHTTP(rec, req)
	return rec
}

func subscribe(t *testing.T, h *Hub) string {
	t.Helper()
	rec := call(t, h, http.MethodPost, "/Subscription", pasSubscription)
	if rec.Code != http.StatusCreated {
		t.Fatalf("create: status %d: %s", rec.Code, rec.Body)
	}
	return strings.TrimPrefix(rec.Header().Get("Location"), "Subscription/")
}

// publish raises one event for the partner's provider, in its own
// transaction, as a decision does.
func publish(t *testing.T, h *Hub, db *storage.DB, n int) {
	t.Helper()
	for i := range n {
		tx, err := db.Begin()
		if err != nil {
			t.Fatal(err)
		}
		id := "00000000-0000-4000-8000-00000000000" + string(rune('a'+i))
		ev := Event{
			Partner:       testPartner,
			Organizations: [][2]string{{"http://hl7.org/fhir/sid/us-npi", "8189991234"}},
			Focus:         Resource{FullURL: "urn:uuid:" + id, Type: "ClaimResponse", ID: id, JSON: []byte(`{"resourceType":"ClaimResponse","id":"` + id + `"}`)},
		}
		if matched, err := h.Publish(context.Background(), tx, ev); err != nil || matched != 1 {
			t.Fatalf("Publish matched %d: %v", matched, err)
		}
		if err := tx.Commit(); err != nil {
			t.Fatal(err)
		}
	}
}

// waitFor polls cond until it holds or five seconds pass.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func outboxLen(t *testing.T, db *storage.DB) int {
	var n int
	if err := db.QueryRow(`SELECT COUNT(*) FROM payer_sub_outbox`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func statusOf(t *testing.T, h *Hub, id string) string {
	sub, err := h.get(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return sub.Status
}

// TestDeliveryWhileEndpointDown queues a handshake and three events while
// the endpoint responds 503, restarts the sender on the same database file,
// then lets the endpoint recover: everything arrives once, in order.
func TestDeliveryWhileEndpointDown(t *testing.T) {
	storagetest.Run(t, func(t *testing.T, b storagetest.Backend) {
		path := b.NewURL(t)
		out := newFakeOutbound(t)
		out.set(true, false)
		db := openDB(t, path)
		h := newTestHub(t, db, out)
		id := subscribe(t, h)
		publish(t, h, db, 3)

		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { h.Run(ctx); close(done) }()
		waitFor(t, "three failed attempts", func() bool { n, _ := out.snapshot(); return n >= 3 })
		cancel()
		<-done
		if got := statusOf(t, h, id); got != "requested" {
			t.Errorf("status before the handshake succeeded: %q, expected requested", got)
		}
		if n := outboxLen(t, db); n != 4 {
			t.Fatalf("queue contains %d notifications, expected the handshake and 3 events", n)
		}

		// A new Hub over a new connection to the same file: a restart.
		db2 := openDB(t, path)
		h2 := newTestHub(t, db2, out)
		out.set(false, false)
		ctx2, cancel2 := context.WithCancel(context.Background())
		defer cancel2()
		go h2.Run(ctx2)
		waitFor(t, "the queue to drain", func() bool { return outboxLen(t, db2) == 0 })

		_, got := out.snapshot()
		kinds := []string{}
		var events []string
		for _, n := range got {
			kinds = append(kinds, n.kind)
			events = append(events, n.events...)
		}
		if !slices.Equal(kinds, []string{kindHandshake, kindEvent, kindEvent, kindEvent}) {
			t.Errorf("notification kinds %v, expected handshake then 3 events", kinds)
		}
		if !slices.Equal(events, []string{"1", "2", "3"}) {
			t.Errorf("event numbers %v, expected 1, 2, 3", events)
		}
		if got := statusOf(t, h2, id); got != "active" {
			t.Errorf("status after delivery %q, expected active", got)
		}
	})
}

// TestGapDetectedAndCaughtUp loses one event at the receiver: the next
// event's number shows the gap, and $events returns the missing one.
func TestGapDetectedAndCaughtUp(t *testing.T) {
	storagetest.Run(t, func(t *testing.T, b storagetest.Backend) {
		out := newFakeOutbound(t)
		db := openDB(t, b.NewURL(t))
		h := newTestHub(t, db, out)
		id := subscribe(t, h)
		startHub(t, h)
		waitFor(t, "the handshake", func() bool { return outboxLen(t, db) == 0 })

		publish(t, h, db, 1)
		waitFor(t, "event 1", func() bool { return outboxLen(t, db) == 0 })
		out.set(false, true)
		publish(t, h, db, 1) // event 2, lost by the receiver
		waitFor(t, "event 2", func() bool { return outboxLen(t, db) == 0 })
		publish(t, h, db, 1)
		waitFor(t, "event 3", func() bool { return outboxLen(t, db) == 0 })

		_, got := out.snapshot()
		var seen []string
		for _, n := range got {
			seen = append(seen, n.events...)
		}
		if !slices.Equal(seen, []string{"1", "3"}) {
			t.Fatalf("received events %v, expected 1 and 3 (2 lost)", seen)
		}

		rec := call(t, h, http.MethodGet, "/Subscription/"+id+"/$events?eventsSinceNumber=2&eventsUntilNumber=2", "")
		if rec.Code != http.StatusOK {
			t.Fatalf("$events: status %d: %s", rec.Code, rec.Body)
		}
		caught := parseNotification(t, rec.Body.Bytes())
		if caught.kind != kindQueryEvent || !slices.Equal(caught.events, []string{"2"}) || caught.count != "3" {
			t.Errorf("$events = %+v, expected query-event with event 2 of 3", caught)
		}
		if !bytes.Contains(rec.Body.Bytes(), []byte("https://gateway.example/fhir/ClaimResponse/00000000-0000-4000-8000-00000000000a")) {
			t.Errorf("id-only $events lacks the focus reference: %s", rec.Body)
		}

		rec = call(t, h, http.MethodGet, "/Subscription/"+id+"/$status", "")
		if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), `"valueString":"3"`) || !strings.Contains(rec.Body.String(), kindQueryState) {
			t.Errorf("$status: status %d: %s", rec.Code, rec.Body)
		}
	})
}

func TestHeartbeatOnlyWhenIdle(t *testing.T) {
	storagetest.Run(t, func(t *testing.T, b storagetest.Backend) {
		out := newFakeOutbound(t)
		db := openDB(t, b.NewURL(t))
		clock := clocktest.New(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
		h := newClockedHub(t, db, out, clock)
		body := strings.Replace(pasSubscription, `"type":"rest-hook",`,
			`"extension":[{"url":"http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition/backport-heartbeat-period","valueUnsignedInt":60}],"type":"rest-hook",`, 1)
		if rec := call(t, h, http.MethodPost, "/Subscription", body); rec.Code != http.StatusCreated {
			t.Fatalf("create: %d %s", rec.Code, rec.Body)
		}
		ctx := context.Background()
		h.Tick(ctx) // the handshake
		clock.Advance(time.Minute)
		h.Tick(ctx)
		if _, got := out.snapshot(); !slices.ContainsFunc(got, func(n notification) bool { return n.kind == kindHeartbeat }) {
			t.Fatalf("notifications %v one period after the handshake, want a heartbeat", got)
		}

		// While the endpoint is down, at most one heartbeat waits in the queue.
		out.set(true, false)
		for range 5 {
			clock.Advance(time.Minute)
			h.Tick(ctx)
			if n := outboxLen(t, db); n > 1 {
				t.Fatalf("queue contains %d notifications while the endpoint is down, expected at most one heartbeat", n)
			}
		}
	})
}

func TestCreateRejections(t *testing.T) {
	storagetest.Run(t, func(t *testing.T, b storagetest.Backend) {
		cases := []struct {
			name, from, to string
		}{
			{"another topic", "SubscriptionTopic/PASSubscriptionTopic", "SubscriptionTopic/Other"},
			{"email channel", `"type":"rest-hook"`, `"type":"email"`},
			{"endpoint outside the partner base", "https://ehr.example/fhir/r4/$subscription-hook", "https://evil.example/hook"},
			{"http endpoint", "https://ehr.example/fhir/r4/$subscription-hook", "http://ehr.example/fhir/r4/$subscription-hook"},
			{"another organisation", "org-identifier=8189991234", "org-identifier=1111111111"},
			{"unknown content", `"valueCode":"id-only"`, `"valueCode":"everything"`},
			{"channel headers", `"type":"rest-hook",`, `"type":"rest-hook","header":["Authorization: Bearer x"],`},
			{"contained Bundle", `"channel":`, `"contained":[{"resourceType":"Bundle","id":"b","type":"collection"}],"channel":`},
		}
		db := openDB(t, b.NewURL(t))
		h := newTestHub(t, db, nil)
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				body := strings.Replace(pasSubscription, c.from, c.to, 1)
				if body == pasSubscription {
					t.Fatal("the replacement changed nothing")
				}
				rec := call(t, h, http.MethodPost, "/Subscription", body)
				if rec.Code != http.StatusUnprocessableEntity || !strings.Contains(rec.Body.String(), "OperationOutcome") {
					t.Errorf("status %d: %s", rec.Code, rec.Body)
				}
			})
		}
		t.Run("another partner cannot read it", func(t *testing.T) {
			id := subscribe(t, h)
			req := httptest.NewRequest(http.MethodGet, "/Subscription/"+id, nil)
			req.Header.Set(PartnerHeader, "partner-b")
			rec := httptest.NewRecorder()
			h.Handler().ServeHTTP(rec, req)
			if rec.Code != http.StatusNotFound {
				t.Errorf("status %d, expected 404", rec.Code)
			}
		})
	})
}

func TestBackoff(t *testing.T) {
	cases := []struct {
		attempts int
		want     time.Duration
	}{{1, time.Second}, {2, 2 * time.Second}, {3, 4 * time.Second}, {10, 60 * time.Second}, {100, 60 * time.Second}}
	for _, c := range cases {
		if got := backoff(c.attempts, time.Second, time.Minute); got != c.want {
			t.Errorf("backoff(%d) = %s, expected %s", c.attempts, got, c.want)
		}
	}
}

func TestEventsByPost(t *testing.T) {
	storagetest.Run(t, func(t *testing.T, b storagetest.Backend) {
		db := openDB(t, b.NewURL(t))
		h := newTestHub(t, db, nil)
		id := subscribe(t, h)
		publish(t, h, db, 3)
		rec := call(t, h, http.MethodPost, "/Subscription/"+id+"/$events",
			`{"resourceType":"Parameters","parameter":[{"name":"eventsSinceNumber","valueString":"2"},{"name":"eventsUntilNumber","valueInteger":3},{"name":"content","valueCode":"full-resource"}]}`)
		if rec.Code != http.StatusOK {
			t.Fatalf("status %d: %s", rec.Code, rec.Body)
		}
		got := parseNotification(t, rec.Body.Bytes())
		if !slices.Equal(got.events, []string{"2", "3"}) {
			t.Errorf("events %v, expected 2 and 3", got.events)
		}
		if !strings.Contains(rec.Body.String(), `"resourceType":"ClaimResponse"`) {
			t.Errorf("full-resource $events lacks the ClaimResponse: %s", rec.Body)
		}
		if rec := call(t, h, http.MethodPost, "/Subscription/"+id+"/$status", `{"resourceType":"Parameters"}`); rec.Code != http.StatusOK {
			t.Errorf("$status by POST: status %d: %s", rec.Code, rec.Body)
		}
	})
}

func TestEndpointMustBeOperation(t *testing.T) {
	storagetest.Run(t, func(t *testing.T, b storagetest.Backend) {
		db := openDB(t, b.NewURL(t))
		h := newTestHub(t, db, nil)
		for _, endpoint := range []string{"https://ehr.example/fhir/r4/notify/pas", "https://ehr.example/fhir/r4/$", "https://ehr.example/fhir/r4/$a/b", "https://ehr.example/fhir/r4/../$hook"} {
			t.Run(endpoint, func(t *testing.T) {
				body := strings.Replace(pasSubscription, "https://ehr.example/fhir/r4/$subscription-hook", endpoint, 1)
				if rec := call(t, h, http.MethodPost, "/Subscription", body); rec.Code != http.StatusUnprocessableEntity {
					t.Errorf("status %d: %s", rec.Code, rec.Body)
				}
			})
		}
	})
}

// TestEndpointURLMessages checks that each defect of the endpoint URL is
// named in the OperationOutcome, not reported as another one.
func TestEndpointURLMessages(t *testing.T) {
	storagetest.Run(t, func(t *testing.T, b storagetest.Backend) {
		db := openDB(t, b.NewURL(t))
		h := newTestHub(t, db, nil)
		cases := []struct{ endpoint, want string }{
			{"https://user:pw@ehr.example/fhir/r4/$subscription-hook", "must not carry a user name or password"},
			{"https://ehr.example/fhir/r4/$subscription-hook#x", "must not carry a fragment"},
			{"https://ehr.example/fhir/r4/$subscription-hook?a=1", "must not carry a query"},
			{"http://ehr.example/fhir/r4/$subscription-hook", "must be an absolute https URL"},
		}
		for _, c := range cases {
			t.Run(c.endpoint, func(t *testing.T) {
				body := strings.Replace(pasSubscription, "https://ehr.example/fhir/r4/$subscription-hook", c.endpoint, 1)
				rec := call(t, h, http.MethodPost, "/Subscription", body)
				if rec.Code != http.StatusUnprocessableEntity {
					t.Errorf("status %d, expected 422: %s", rec.Code, rec.Body)
				}
				if !strings.Contains(rec.Body.String(), c.want) {
					t.Errorf("body %s lacks %q", rec.Body, c.want)
				}
			})
		}
	})
}

// TestContainedRejectedWithPath checks that a contained resource is
// rejected with an OperationOutcome naming Subscription.contained.
func TestContainedRejectedWithPath(t *testing.T) {
	storagetest.Run(t, func(t *testing.T, b storagetest.Backend) {
		db := openDB(t, b.NewURL(t))
		h := newTestHub(t, db, nil)
		body := strings.Replace(pasSubscription, `"channel":`, `"contained":[{"resourceType":"Bundle","id":"b","type":"collection"}],"channel":`, 1)
		rec := call(t, h, http.MethodPost, "/Subscription", body)
		if rec.Code != http.StatusUnprocessableEntity {
			t.Errorf("status %d, expected 422: %s", rec.Code, rec.Body)
		}
		for _, want := range []string{`"resourceType":"OperationOutcome"`, "Subscription.contained", "no contained resources"} {
			if !strings.Contains(rec.Body.String(), want) {
				t.Errorf("body %s lacks %q", rec.Body, want)
			}
		}
	})
}

func TestNewRejectsEventsPerQueryOutOfRange(t *testing.T) {
	for _, n := range []int{-1, MaxEventsPerQuery + 1} {
		if _, err := New(&storage.DB{}, Options{EventsPerQuery: n}); err == nil {
			t.Errorf("New accepted EventsPerQuery %d", n)
		}
	}
}

// heartbeatReplicas opens count Hubs on one database, as replicas do, with
// one shared clock, and creates through the first Hub a Subscription with
// a 60-second heartbeat period. It returns the Hubs, the database, the
// Subscription id and a function that moves the clock forward.
func heartbeatReplicas(t *testing.T, url string, out *fakeOutbound, count int) (hubs []*Hub, db *storage.DB, id string, advance func(time.Duration)) {
	t.Helper()
	var clock sync.Mutex
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	readClock := func() time.Time {
		clock.Lock()
		defer clock.Unlock()
		return now
	}
	advance = func(d time.Duration) {
		clock.Lock()
		defer clock.Unlock()
		now = now.Add(d)
	}
	hubs = make([]*Hub, count)
	for i := range hubs {
		hubDB := openDB(t, url)
		if i == 0 {
			db = hubDB
		}
		hubs[i] = newTestHub(t, hubDB, out)
		hubs[i].now = readClock
	}

	body := strings.Replace(pasSubscription, `"type":"rest-hook",`,
		`"extension":[{"url":"http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition/backport-heartbeat-period","valueUnsignedInt":60}],"type":"rest-hook",`, 1)
	rec := call(t, hubs[0], http.MethodPost, "/Subscription", body)
	if rec.Code != http.StatusCreated {
		t.Fatalf("create: %d %s", rec.Code, rec.Body)
	}
	id = strings.TrimPrefix(rec.Header().Get("Location"), "Subscription/")
	return hubs, db, id, advance
}

// TestHeartbeatQueuedOnceAcrossHubs runs two Hubs on one database, as
// replicas do. The second Hub acts on a candidate list it read before the
// first one queued, and later sent, the heartbeat, so the heartbeat must
// be queued only if the Subscription is still a candidate under its lock.
func TestHeartbeatQueuedOnceAcrossHubs(t *testing.T) {
	storagetest.Run(t, func(t *testing.T, b storagetest.Backend) {
		ctx := context.Background()
		out := newFakeOutbound(t)
		hubs, db, id, advance := heartbeatReplicas(t, b.NewURL(t), out, 2)
		first, second := hubs[0], hubs[1]
		first.Tick(ctx)
		if n := outboxLen(t, db); n != 0 {
			t.Fatalf("queue contains %d notifications after the handshake, expected none", n)
		}

		advance(61 * time.Second)
		if err := first.queueHeartbeats(ctx); err != nil {
			t.Fatal(err)
		}
		if err := second.queueHeartbeat(ctx, id); err != nil {
			t.Fatal(err)
		}
		if n := outboxLen(t, db); n != 1 {
			t.Errorf("queue contains %d notifications, expected one heartbeat", n)
		}

		first.Tick(ctx)
		if err := second.queueHeartbeat(ctx, id); err != nil {
			t.Fatal(err)
		}
		if n := outboxLen(t, db); n != 0 {
			t.Errorf("queue contains %d notifications right after a heartbeat was sent, expected none", n)
		}
		_, got := out.snapshot()
		heartbeats := 0
		for _, n := range got {
			if n.kind == kindHeartbeat {
				heartbeats++
			}
		}
		if heartbeats != 1 {
			t.Errorf("endpoint received %d heartbeats, expected 1", heartbeats)
		}
	})
}

// TestHeartbeatRaceQueuesOnce runs many Hubs on one database that each
// queue the same due heartbeat at once. Only the row lock taken before
// the candidate check keeps two PostgreSQL transactions from both seeing
// an empty queue and both queueing. SQLite runs write transactions one at
// a time.
func TestHeartbeatRaceQueuesOnce(t *testing.T) {
	storagetest.Run(t, func(t *testing.T, b storagetest.Backend) {
		ctx := context.Background()
		out := newFakeOutbound(t)
		const replicas, rounds = 8, 10
		hubs, db, id, advance := heartbeatReplicas(t, b.NewURL(t), out, replicas)
		hubs[0].Tick(ctx)

		for round := range rounds {
			advance(61 * time.Second)

			start := make(chan struct{})
			var wg sync.WaitGroup
			for _, h := range hubs {
				wg.Go(func() {
					<-start
					if err := h.queueHeartbeat(ctx, id); err != nil {
						t.Errorf("round %d: %v", round, err)
					}
				})
			}
			close(start)
			wg.Wait()
			if n := outboxLen(t, db); n != 1 {
				t.Fatalf("round %d: queue contains %d notifications, expected one heartbeat", round, n)
			}
			hubs[0].Tick(ctx)
			if n := outboxLen(t, db); n != 0 {
				t.Fatalf("round %d: heartbeat not sent, queue contains %d", round, n)
			}
		}
	})
}

// TestHeartbeatLocksRowOnce checks that queueing a heartbeat updates the
// Subscription's row once, for the lock, and not again when it appends to
// the queue under the lock it already holds. A trigger counts the
// updates, so the count is the database's own.
func TestHeartbeatLocksRowOnce(t *testing.T) {
	storagetest.Run(t, func(t *testing.T, b storagetest.Backend) {
		ctx := context.Background()
		out := newFakeOutbound(t)
		hubs, db, id, advance := heartbeatReplicas(t, b.NewURL(t), out, 1)
		hubs[0].Tick(ctx)

		stmts := []string{`CREATE TABLE test_row_updates (n INTEGER NOT NULL)`, `INSERT INTO test_row_updates VALUES (0)`}
		if b.Dialect == storage.PostgreSQL {
			stmts = append(stmts,
				`CREATE FUNCTION test_count_update() RETURNS trigger LANGUAGE plpgsql AS
				 $$BEGIN UPDATE test_row_updates SET n = n + 1; RETURN NEW; END$$`,
				`CREATE TRIGGER test_count_update AFTER UPDATE ON payer_subscriptions
				 FOR EACH ROW EXECUTE FUNCTION test_count_update()`)
		} else {
			stmts = append(stmts, `CREATE TRIGGER test_count_update AFTER UPDATE ON payer_subscriptions
				BEGIN UPDATE test_row_updates SET n = n + 1; END`)
		}
		for _, stmt := range stmts {
			if _, err := db.ExecContext(ctx, stmt); err != nil {
				t.Fatal(err)
			}
		}

		advance(61 * time.Second)
		if err := hubs[0].queueHeartbeat(ctx, id); err != nil {
			t.Fatal(err)
		}
		if n := outboxLen(t, db); n != 1 {
			t.Fatalf("queue contains %d notifications, expected one heartbeat", n)
		}
		var updates int
		if err := db.QueryRowContext(ctx, `SELECT n FROM test_row_updates`).Scan(&updates); err != nil {
			t.Fatal(err)
		}
		if updates != 1 {
			t.Errorf("queueing a heartbeat updated the Subscription row %d times, expected 1", updates)
		}
	})
}
