package console

import (
	"slices"
	"sync"
	"time"

	"github.com/gatehouse-health/gatehouse/internal/record"
)

// Sizes of what Activity keeps.
const (
	feedSize      = 200 // exchanges in the live feed
	chartMinutes  = 60  // one-minute buckets per partner chart
	maxChartLines = 100 // partners charted; later ones are counted under "other partners"
)

// otherPartners collects the partners beyond maxChartLines.
const otherPartners = "other partners"

// FeedItem is one completed exchange as the feed shows it: ids and
// outcome, never the request-target or a body.
type FeedItem struct {
	Seq         int64     `json:"seq"` // position in the feed, increasing
	Time        time.Time `json:"time"`
	ExchangeID  string    `json:"exchange"`
	Record      int64     `json:"record"` // the entry's sequence number in the record
	Direction   string    `json:"direction"`
	Partner     string    `json:"partner"`
	Interaction string    `json:"interaction"`
	Decision    string    `json:"decision"`
	Status      int       `json:"status"`
	Rule        string    `json:"rule"`
}

// Activity keeps the recent exchanges and per-minute counts per partner
// that the feed and the charts show. It implements the ObserveExchange
// method of gateway.Observer and is safe for concurrent use.
//
// NOTE: it counts only the exchanges of this process since it started, so
// replicas sharing a database each show their own.
type Activity struct {
	now func() time.Time

	mu       sync.Mutex
	seq      int64
	feed     []FeedItem // oldest first, at most feedSize
	partners map[string]*minuteCounts
}

// minuteCounts is a ring of per-minute request and denial counts.
type minuteCounts struct {
	minute   [chartMinutes]int64 // Unix minute each slot holds
	requests [chartMinutes]int
	denials  [chartMinutes]int
}

// NewActivity returns an empty Activity; now defaults to time.Now.
func NewActivity(now func() time.Time) *Activity {
	if now == nil {
		now = time.Now
	}
	return &Activity{now: now, partners: map[string]*minuteCounts{}}
}

// ObserveExchange adds a completed exchange to the feed and the charts.
func (a *Activity) ObserveExchange(e *record.Entry) {
	now := a.now()
	partner := e.Partner
	if partner == "" {
		partner = "unidentified"
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	a.seq++
	item := FeedItem{Seq: a.seq, Time: now, ExchangeID: e.ExchangeID, Record: e.Seq, Direction: e.Direction,
		Partner: partner, Interaction: e.Interaction, Decision: string(e.Decision), Status: e.Status, Rule: e.Rule}
	a.feed = append(a.feed, item)
	if len(a.feed) > feedSize {
		a.feed = slices.Delete(a.feed, 0, len(a.feed)-feedSize)
	}

	mc, ok := a.partners[partner]
	if !ok {
		if len(a.partners) >= maxChartLines {
			partner = otherPartners
		}
		if mc, ok = a.partners[partner]; !ok {
			mc = &minuteCounts{}
			a.partners[partner] = mc
		}
	}
	m := now.Unix() / 60
	slot := int(m % chartMinutes)
	if mc.minute[slot] != m {
		mc.minute[slot], mc.requests[slot], mc.denials[slot] = m, 0, 0
	}
	mc.requests[slot]++
	if e.Decision == record.Deny {
		mc.denials[slot]++
	}
}

// Feed returns the exchanges after seq, newest first, at most limit.
func (a *Activity) Feed(after int64, limit int) []FeedItem {
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []FeedItem
	for i := len(a.feed) - 1; i >= 0 && len(out) < limit; i-- {
		if a.feed[i].Seq <= after {
			break
		}
		out = append(out, a.feed[i])
	}
	return out
}

// PartnerSeries is one partner's counts for the last hour, oldest minute
// first.
type PartnerSeries struct {
	Partner  string
	Requests [chartMinutes]int
	Denials  [chartMinutes]int
}

// Series returns every partner's counts for the last chartMinutes
// minutes, ending with the current minute, sorted by partner.
func (a *Activity) Series() []PartnerSeries {
	now := a.now().Unix() / 60
	a.mu.Lock()
	defer a.mu.Unlock()
	out := make([]PartnerSeries, 0, len(a.partners))
	for p, mc := range a.partners {
		s := PartnerSeries{Partner: p}
		for i := range chartMinutes {
			m := now - int64(chartMinutes-1-i)
			slot := int(m % chartMinutes)
			if mc.minute[slot] == m {
				s.Requests[i], s.Denials[i] = mc.requests[slot], mc.denials[slot]
			}
		}
		out = append(out, s)
	}
	slices.SortFunc(out, func(x, y PartnerSeries) int {
		switch {
		case x.Partner < y.Partner:
			return -1
		case x.Partner > y.Partner:
			return 1
		}
		return 0
	})
	return out
}
