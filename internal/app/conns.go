package app

import (
	"crypto/tls"
	"net"
	"net/http"
	"sync"

	"github.com/gatehouse-health/gatehouse/internal/killswitch"
	"github.com/gatehouse-health/gatehouse/internal/pki"
)

// connTracker remembers the live inbound connections and the partner each
// one authenticated as, so a kill-switch cut can close them at once: an
// idle keep-alive connection and one carrying a long request alike.
type connTracker struct {
	mu    sync.Mutex
	conns map[net.Conn]string // partner id, "" until the handshake is done
}

func newConnTracker() *connTracker { return &connTracker{conns: map[net.Conn]string{}} }

// track is the http.Server ConnState hook.
func (t *connTracker) track(c net.Conn, state http.ConnState) {
	t.mu.Lock()
	defer t.mu.Unlock()
	switch state {
	case http.StateNew:
		t.conns[c] = ""
	case http.StateActive, http.StateIdle:
		if t.conns[c] == "" {
			t.conns[c] = partnerOfConn(c)
		}
	case http.StateClosed, http.StateHijacked:
		delete(t.conns, c)
	}
}

// partnerOfConn reads the partner from a completed TLS handshake's verified
// chain.
func partnerOfConn(c net.Conn) string {
	tc, ok := c.(*tls.Conn)
	if !ok {
		return ""
	}
	st := tc.ConnectionState()
	if !st.HandshakeComplete || len(st.VerifiedChains) == 0 || len(st.VerifiedChains[0]) == 0 {
		return ""
	}
	id, _ := pki.PartnerFromCertificate(st.VerifiedChains[0][0])
	return id
}

// cut closes every connection a full inbound cut covers and returns how
// many it closed.
func (t *connTracker) cut(cuts []*killswitch.Cut) int {
	t.mu.Lock()
	var victims []net.Conn
	for c, partner := range t.conns {
		for _, k := range cuts {
			if k.Mode != killswitch.Full || k.Direction == killswitch.Outbound {
				continue
			}
			if id, ok := k.Partner(); k.Scope == "all" || (ok && id == partner) {
				victims = append(victims, c)
				break
			}
		}
	}
	t.mu.Unlock()
	for _, c := range victims {
		c.Close()
	}
	return len(victims)
}
