package ehrsim

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"
)

// Notification is one notification request that reached the rest-hook
// endpoint with valid credentials, accepted or not.
type Notification struct {
	// ExchangeID is the X-Request-Id the gateway set, the id of its
	// outbound exchange record.
	ExchangeID string `json:"exchange_id,omitempty"`
	// Subscription is the Subscription id, empty when the Bundle could
	// not be read.
	Subscription string `json:"subscription,omitempty"`
	// Type is handshake, heartbeat or event-notification.
	Type   string `json:"type,omitempty"`
	Status string `json:"status,omitempty"`
	// EventsSinceStart is the events-since-subscription-start counter.
	EventsSinceStart int64   `json:"events_since_start"`
	Events           []Event `json:"events,omitempty"`
	// New, Duplicates and Dropped split the event numbers: first seen,
	// already seen, and lost on purpose (Options.Drop).
	New        []int64 `json:"new,omitempty"`
	Duplicates []int64 `json:"duplicates,omitempty"`
	Dropped    []int64 `json:"dropped,omitempty"`
	// Gap lists the event numbers found missing when it arrived.
	Gap []int64 `json:"gap,omitempty"`
	// Strict reports that the Bundle passed strict mode and the Backport
	// checks.
	Strict bool `json:"strict"`
	// Accepted reports a 2xx response. StatusCode is the status sent.
	Accepted   bool `json:"accepted"`
	StatusCode int  `json:"status_code"`
	// Problem is the reason it was rejected, without content.
	Problem  string    `json:"problem,omitempty"`
	Received time.Time `json:"received"`
}

// SubscriptionState is the simulator's tracking state of one Subscription.
type SubscriptionState struct {
	ID string `json:"id"`
	// Status is the Subscription status the last notification reported.
	Status string `json:"status"`
	// Highest is the highest event number received.
	Highest int64 `json:"highest"`
	// Received lists every event number received, by notification or
	// catch-up, in order.
	Received []int64 `json:"received"`
	// Missing lists the numbers below Highest (or below a heartbeat's
	// counter) not received yet.
	Missing []int64 `json:"missing,omitempty"`
	// Duplicates counts events received again.
	Duplicates int `json:"duplicates"`
	// CaughtUp lists the numbers recovered through $events.
	CaughtUp []int64 `json:"caught_up,omitempty"`
	// Handshake reports that the handshake arrived.
	Handshake bool `json:"handshake"`
}

// Snapshot is a copy of the simulator's state at one moment.
type Snapshot struct {
	Notifications []Notification
	Subscriptions map[string]SubscriptionState
	// Rejected counts requests to the FHIR listener rejected for their
	// credentials or their target, before any notification was read.
	Rejected int
	// CatchUpErrors counts failed catch-up attempts.
	CatchUpErrors int
}

// Subscription returns the state of the Subscription id, and whether the
// simulator created or received it.
func (s *Snapshot) Subscription(id string) (SubscriptionState, bool) {
	st, ok := s.Subscriptions[id]
	return st, ok
}

type subState struct {
	status     string
	highest    int64
	seen       map[int64]bool
	missing    map[int64]bool
	duplicates int
	caughtUp   []int64
	handshake  bool
}

// state is the simulator's mutable state. changed is closed and replaced
// on every change, so waiters wake without polling.
type state struct {
	mu            sync.Mutex
	changed       chan struct{}
	subs          map[string]*subState
	received      []Notification
	rejected      int
	catchUpErrors int
	down          bool
	// creating counts Subscription creations in flight, because their
	// handshake may arrive before the gateway's response names the new id.
	creating int
}

func (st *state) init() {
	st.changed = make(chan struct{})
	st.subs = map[string]*subState{}
}

// notifyLocked wakes every waiter. The caller must hold st.mu.
func (st *state) notifyLocked() {
	close(st.changed)
	st.changed = make(chan struct{})
}

// track registers a Subscription the simulator created.
func (st *state) track(id string) {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.subs[id] == nil {
		st.subs[id] = &subState{seen: map[int64]bool{}, missing: map[int64]bool{}}
	}
	st.notifyLocked()
}

// creatingDone ends one creation. When the creation succeeded, track has
// already run.
func (st *state) creatingDone() {
	st.mu.Lock()
	defer st.mu.Unlock()
	st.creating--
	st.notifyLocked()
}

func (st *state) startCreating() {
	st.mu.Lock()
	defer st.mu.Unlock()
	st.creating++
}

func (st *state) known(id string) bool {
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.subs[id] != nil
}

// awaitKnown reports whether id is a tracked Subscription, waiting while
// a creation is in flight, until ctx ends.
func (st *state) awaitKnown(ctx context.Context, id string) bool {
	for {
		st.mu.Lock()
		known, creating, changed := st.subs[id] != nil, st.creating > 0, st.changed
		st.mu.Unlock()
		if known || !creating {
			return known
		}
		select {
		case <-ctx.Done():
			return false
		case <-changed:
		}
	}
}

// record applies an accepted notification's events to its Subscription
// and stores the notification. drop decides which new events to forget.
func (st *state) record(n *Notification, counter bool, drop func(string, int64) bool) {
	st.mu.Lock()
	defer st.mu.Unlock()
	sub := st.subs[n.Subscription]
	sub.status = n.Status
	if n.Type == TypeHandshake {
		sub.handshake = true
	}

	before := maps.Clone(sub.missing)
	for _, ev := range n.Events {
		switch {
		case sub.seen[ev.Number]:
			sub.duplicates++
			n.Duplicates = append(n.Duplicates, ev.Number)
		case drop != nil && drop(n.Subscription, ev.Number):
			n.Dropped = append(n.Dropped, ev.Number)
		default:
			sub.receive(ev.Number)
			n.New = append(n.New, ev.Number)
		}
	}

	// A handshake or heartbeat is sent only when nothing else waits, so a
	// counter above the highest event received means events were lost.
	if counter && n.EventsSinceStart > sub.highest {
		sub.markMissing(sub.highest+1, n.EventsSinceStart+1)
	}

	for num := range sub.missing {
		if !before[num] {
			n.Gap = append(n.Gap, num)
		}
	}
	slices.Sort(n.Gap)

	st.received = append(st.received, *n)
	st.notifyLocked()
}

// receive marks num seen, and the numbers it skips over missing.
func (s *subState) receive(num int64) {
	s.seen[num] = true
	delete(s.missing, num)
	if num > s.highest {
		s.markMissing(s.highest+1, num)
		s.highest = num
	}
}

// markMissing marks the unseen numbers in [from, to) missing.
func (s *subState) markMissing(from, to int64) {
	for n := from; n < to; n++ {
		if !s.seen[n] {
			s.missing[n] = true
		}
	}
}

// openGap marks the numbers up to counter not received missing, and
// returns the ones that were not missing before.
func (st *state) openGap(id string, counter int64) []int64 {
	st.mu.Lock()
	defer st.mu.Unlock()
	sub := st.subs[id]
	var gap []int64
	for n := int64(1); n <= counter; n++ {
		if !sub.seen[n] && !sub.missing[n] {
			sub.missing[n] = true
			gap = append(gap, n)
		}
	}
	st.notifyLocked()
	return gap
}

// recordRejected stores a notification that was not accepted.
func (st *state) recordRejected(n *Notification) {
	st.mu.Lock()
	defer st.mu.Unlock()
	st.received = append(st.received, *n)
	st.notifyLocked()
}

func (st *state) rejectRequest() {
	st.mu.Lock()
	defer st.mu.Unlock()
	st.rejected++
	st.notifyLocked()
}

// missingRanges returns, per Subscription, the lowest and highest missing
// numbers.
func (st *state) missingRanges() map[string][2]int64 {
	st.mu.Lock()
	defer st.mu.Unlock()
	out := map[string][2]int64{}
	for id, sub := range st.subs {
		if len(sub.missing) == 0 {
			continue
		}
		nums := slices.Sorted(maps.Keys(sub.missing))
		out[id] = [2]int64{nums[0], nums[len(nums)-1]}
	}
	return out
}

// recover marks events fetched through $events received.
func (st *state) recover(id string, events []Event) {
	st.mu.Lock()
	defer st.mu.Unlock()
	sub := st.subs[id]
	for _, ev := range events {
		if sub.missing[ev.Number] {
			sub.caughtUp = append(sub.caughtUp, ev.Number)
		}
		if !sub.seen[ev.Number] {
			sub.receive(ev.Number)
		}
	}
	st.notifyLocked()
}

func (st *state) catchUpFailed() {
	st.mu.Lock()
	defer st.mu.Unlock()
	st.catchUpErrors++
	st.notifyLocked()
}

// snapshotLocked copies the state. The caller must hold st.mu.
func (st *state) snapshotLocked() *Snapshot {
	snap := &Snapshot{
		Notifications: slices.Clone(st.received),
		Subscriptions: map[string]SubscriptionState{},
		Rejected:      st.rejected,
		CatchUpErrors: st.catchUpErrors,
	}
	for id, sub := range st.subs {
		snap.Subscriptions[id] = SubscriptionState{
			ID: id, Status: sub.status, Highest: sub.highest, Duplicates: sub.duplicates,
			Received: slices.Sorted(maps.Keys(sub.seen)), Missing: slices.Sorted(maps.Keys(sub.missing)),
			CaughtUp: slices.Clone(sub.caughtUp), Handshake: sub.handshake,
		}
	}
	return snap
}

// Snapshot returns a copy of the current state.
func (s *Sim) Snapshot() *Snapshot {
	s.state.mu.Lock()
	defer s.state.mu.Unlock()
	return s.state.snapshotLocked()
}

// Wait blocks until cond holds for the state, or ctx ends. what names the
// condition in the error, such as "the handshake".
func (s *Sim) Wait(ctx context.Context, what string, cond func(*Snapshot) bool) (*Snapshot, error) {
	for {
		s.state.mu.Lock()
		snap, changed := s.state.snapshotLocked(), s.state.changed
		s.state.mu.Unlock()
		if cond(snap) {
			return snap, nil
		}
		select {
		case <-ctx.Done():
			return snap, fmt.Errorf("ehrsim: stopped waiting for %s: %w", what, context.Cause(ctx))
		case <-changed:
		}
	}
}

// SetDown makes the rest-hook endpoint respond 503 while down is true,
// like an EHR in maintenance, so that the gateway's retries show.
func (s *Sim) SetDown(down bool) {
	s.state.mu.Lock()
	defer s.state.mu.Unlock()
	s.state.down = down
}

func (s *Sim) isDown() bool {
	s.state.mu.Lock()
	defer s.state.mu.Unlock()
	return s.state.down
}
