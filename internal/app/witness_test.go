package app_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/gatehouse-health/gatehouse/internal/app"
	"github.com/gatehouse-health/gatehouse/internal/auditlog"
	"github.com/gatehouse-health/gatehouse/internal/config"
	"github.com/gatehouse-health/gatehouse/internal/devmode"
)

// witness is a c2sp.org/tlog-witness server for one log: it checks the
// log's signature, responds with 409 and its size when the submitter's old size
// differs, checks the consistency proof with tlog and cosigns.
type witness struct {
	logKey note.Verifier
	signer note.Signer
	vkey   string

	mu   sync.Mutex
	size int64
	root tlog.Hash
	adds int
}

func newWitness(t *testing.T, logKey note.Verifier) *witness {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	signer, vkey := auditlog.NewCosigner("witness.test/app", priv, time.Now)
	return &witness{logKey: logKey, signer: signer, vkey: vkey}
}

func (w *witness) ServeHTTP(rw http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || r.URL.Path != "/add-checkpoint" {
		http.Error(rw, "not found", http.StatusNotFound)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<16))
	if err != nil {
		http.Error(rw, "unreadable body", http.StatusBadRequest)
		return
	}
	old, proof, text, err := parseAddCheckpoint(body)
	if err != nil {
		http.Error(rw, err.Error(), http.StatusBadRequest)
		return
	}
	cp, _, err := auditlog.OpenCheckpoint(text, w.logKey)
	if err != nil {
		http.Error(rw, "checkpoint not signed by the log's key", http.StatusForbidden)
		return
	}

	w.mu.Lock()
	defer w.mu.Unlock()
	if old != w.size {
		rw.Header().Set("Content-Type", "text/x.tlog.size")
		rw.WriteHeader(http.StatusConflict)
		fmt.Fprintf(rw, "%d\n", w.size)
		return
	}
	if old > 0 && old < cp.Size {
		if err := tlog.CheckTree(proof, cp.Size, cp.Hash, old, w.root); err != nil {
			http.Error(rw, "inconsistent with the cosigned checkpoint", http.StatusConflict)
			return
		}
	}
	w.size, w.root = cp.Size, cp.Hash
	w.adds++
	signed, err := note.Sign(&note.Note{Text: cp.Text()}, w.signer)
	if err != nil {
		http.Error(rw, "signing failed", http.StatusInternalServerError)
		return
	}
	rw.Write(signed[len(cp.Text())+1:])
}

func (w *witness) cosigned() (size int64, adds int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.size, w.adds
}

// parseAddCheckpoint splits an add-checkpoint body into the old size, the
// consistency proof and the signed checkpoint.
func parseAddCheckpoint(body []byte) (int64, tlog.TreeProof, []byte, error) {
	s := bufio.NewScanner(bytes.NewReader(body))
	s.Scan()
	oldText, ok := strings.CutPrefix(s.Text(), "old ")
	old, err := strconv.ParseInt(oldText, 10, 64)
	if !ok || err != nil {
		return 0, nil, nil, fmt.Errorf("invalid old line")
	}
	consumed := len(s.Text()) + 1
	var proof tlog.TreeProof
	for s.Scan() && s.Text() != "" {
		h, err := tlog.ParseHash(s.Text())
		if err != nil {
			return 0, nil, nil, fmt.Errorf("invalid proof line")
		}
		proof = append(proof, h)
		consumed += len(s.Text()) + 1
	}
	if consumed+1 > len(body) {
		return 0, nil, nil, fmt.Errorf("no checkpoint")
	}
	return old, proof, body[consumed+1:], nil
}

// startWitness serves w over TLS on loopback and points the gateway's
// audit.witnesses and egress.allow at it.
func startWitness(t *testing.T, w *witness, cfg *config.File) {
	t.Helper()
	srv := httptest.NewTLSServer(w)
	t.Cleanup(srv.Close)
	caFile := filepath.Join(t.TempDir(), "witness-ca.pem")
	cert := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	if err := os.WriteFile(caFile, cert, 0o600); err != nil {
		t.Fatal(err)
	}
	cfg.Audit.Witnesses = []config.Witness{{URL: srv.URL, Key: w.vkey, CAFile: caFile}}
	cfg.Egress.Allow = append(cfg.Egress.Allow, srv.Listener.Addr().String())
}

// A configured witness cosigns the gateway's checkpoints, and the stored
// checkpoint carries its cosignature, so the log's key holder alone can
// no longer rewrite what the witness has seen.
func TestWitnessCosignsCheckpoints(t *testing.T) {
	var w *witness
	h := newHarness(t, harnessOptions{edit: func(cfg *config.File, layout *devmode.Layout) {
		logKey, err := auditlog.LoadVerifier(auditlog.DevKeyPaths(layout.Dir).VerifierFile)
		if err != nil {
			t.Fatal(err)
		}
		w = newWitness(t, logKey)
		startWitness(t, w, cfg)
		cfg.Audit.CheckpointEvery = 2
	}})

	for range 5 {
		resp := h.send(h.ehr.HTTPClient(), "GET", "/fhir/metadata", nil, nil)
		readBody(t, resp)
	}
	logKey, err := auditlog.LoadVerifier(auditlog.DevKeyPaths(h.layout.Dir).VerifierFile)
	if err != nil {
		t.Fatal(err)
	}
	witnessKey, err := auditlog.NewCosignatureVerifier(w.vkey)
	if err != nil {
		t.Fatal(err)
	}

	// Publication runs beside the exchanges, so wait for the cosignature
	// to be stored.
	var size int64
	var openErr error
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if size, _ = w.cosigned(); size == 0 {
			continue
		}
		var stored []byte
		err := h.rt.DB.QueryRowContext(context.Background(),
			"SELECT note FROM audit_checkpoints WHERE size = ?", size).Scan(&stored)
		if err != nil {
			t.Fatalf("no stored checkpoint of the cosigned size %d: %v", size, err)
		}
		if _, _, openErr = auditlog.OpenCheckpoint(stored, logKey, witnessKey); openErr == nil {
			break
		}
	}
	if size == 0 {
		t.Fatalf("the witness cosigned nothing; gateway log:\n%s", h.logs.String())
	}
	if openErr != nil {
		t.Errorf("the stored checkpoint of size %d lacks the witness's cosignature: %v", size, openErr)
	}
}

// A witness key that does not parse stops start-up with the key's place
// in the configuration.
func TestWitnessInvalidKeyStopsStart(t *testing.T) {
	cfg, _, _, err := app.DevConfig(filepath.Join(t.TempDir(), "data"), "127.0.0.1:0", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg.Egress.Allow = []string{"witness.test:443"}
	cfg.Audit.Witnesses = []config.Witness{{URL: "https://witness.test", Key: "witness.test+1234+notakey"}}
	rt, err := app.Start(context.Background(), cfg, app.Options{})
	if err == nil {
		rt.Close(context.Background())
		t.Fatal("Start accepted an invalid witness key")
	}
	if !strings.Contains(err.Error(), "audit.witnesses[0]") {
		t.Errorf("error %q does not name audit.witnesses[0]", err)
	}
}
