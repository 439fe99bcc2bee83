package app_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-health/gatehouse/internal/auditlog"
	"github.com/gatehouse-health/gatehouse/internal/config"
	"github.com/gatehouse-health/gatehouse/internal/devmode"
)

// silentListener accepts TCP connections and never writes to them, as a
// witness that hangs before its TLS handshake does. It closes accepted on
// the first connection.
type silentListener struct {
	ln       net.Listener
	accepted chan struct{}
	once     sync.Once

	mu    sync.Mutex
	conns []net.Conn
}

func newSilentListener(t *testing.T) *silentListener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &silentListener{ln: ln, accepted: make(chan struct{})}
	go s.serve()
	t.Cleanup(s.close)
	return s
}

func (s *silentListener) serve() {
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.mu.Lock()
		s.conns = append(s.conns, c)
		s.mu.Unlock()
		s.once.Do(func() { close(s.accepted) })
		// The ClientHello is discarded.
		go io.Copy(io.Discard, c)
	}
}

func (s *silentListener) close() {
	s.ln.Close()
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range s.conns {
		c.Close()
	}
}

// A witness that accepts the connection and never responds must not stop
// the gateway. Exchanges are still served, and the next witness in
// audit.witnesses still cosigns the checkpoint. Close gives up on the
// silent witness when its shutdown context ends, instead of waiting for
// the publish timeout.
//
// NOTE: the connection to the silent witness outlives Close until the
// TLS handshake times out, because net/http finishes a dial in the
// background after its request is canceled.
func TestSilentWitnessDoesNotBlock(t *testing.T) {
	silent := newSilentListener(t)
	var good *witness
	h := newHarness(t, harnessOptions{edit: func(cfg *config.File, layout *devmode.Layout) {
		logKey, err := auditlog.LoadVerifier(auditlog.DevKeyPaths(layout.Dir).VerifierFile)
		if err != nil {
			t.Fatal(err)
		}
		good = newWitness(t, logKey)
		startWitness(t, good, cfg)

		_, priv, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		_, silentKey := auditlog.NewCosigner("silent.test/app", priv, time.Now)
		// The silent witness comes first, so a publisher that waits for
		// each witness in turn would never reach the good one.
		cfg.Audit.Witnesses = append([]config.Witness{{URL: "https://" + silent.ln.Addr().String(), Key: silentKey}},
			cfg.Audit.Witnesses...)
		cfg.Egress.Allow = append(cfg.Egress.Allow, silent.ln.Addr().String())
		cfg.Audit.CheckpointEvery = 2
	}})

	auth := http.Header{"Authorization": {"Bearer " + h.accessToken()}}
	for i := range 4 {
		resp := h.send(h.ehr.HTTPClient(), "GET", "/fhir/metadata", auth, nil)
		readBody(t, resp)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("request %d: status %d, want 200", i, resp.StatusCode)
		}
	}
	<-silent.accepted

	// Publication runs beside the exchanges, so wait for the cosignature.
	var size int64
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if size, _ = good.cosigned(); size > 0 {
			break
		}
	}
	if size == 0 {
		t.Fatalf("the second witness cosigned nothing while the first was silent; gateway log:\n%s", h.logs.String())
	}

	resp := h.send(h.ehr.HTTPClient(), "GET", "/fhir/metadata", auth, nil)
	readBody(t, resp)
	if resp.StatusCode != http.StatusOK {
		t.Errorf("request while the silent witness holds a publication: status %d, want 200", resp.StatusCode)
	}

	// The window is shorter than the witness client's timeout and the
	// publish timeout, so only the shutdown context can end the request.
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	err := h.rt.Close(ctx)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Close = %v, want an error wrapping context.DeadlineExceeded", err)
	}
	// The sink reports the abandoned publication as canceled. Had Close
	// waited for the publish timeout instead, it would report the
	// timeout's context.DeadlineExceeded.
	canceled := false
	for _, line := range strings.Split(h.logs.String(), "\n") {
		if strings.Contains(line, `msg="checkpoint not published"`) && strings.Contains(line, `sink="witness silent.test/app"`) &&
			strings.Contains(line, "context canceled") {
			canceled = true
		}
	}
	if !canceled {
		t.Errorf("no log of the silent witness's publication canceled by Close; gateway log:\n%s", h.logs.String())
	}
}
