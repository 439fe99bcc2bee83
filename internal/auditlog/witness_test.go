package auditlog

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
	"golang.org/x/mod/sumdb/note"
)

// testWitness is a minimal c2sp.org/tlog-witness server for one log. It
// checks consistency with the transparency-dev verifier, not with tlog.
type testWitness struct {
	logKey note.Verifier
	signer note.Signer
	vkey   string

	mu   sync.Mutex
	size int64
	root []byte
	adds int
}

func newTestWitness(t *testing.T, logKey note.Verifier) *testWitness {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	signer, vkey := NewCosigner("witness.test/w1", priv, time.Now)
	return &testWitness{logKey: logKey, signer: signer, vkey: vkey}
}

func (w *testWitness) ServeHTTP(rw http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || r.URL.Path != "/add-checkpoint" {
		http.Error(rw, "not found", http.StatusNotFound)
		return
	}
	body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<16))
	old, hashes, cpText, err := parseAddCheckpoint(body)
	if err != nil {
		http.Error(rw, err.Error(), http.StatusBadRequest)
		return
	}
	cp, _, err := OpenCheckpoint(cpText, w.logKey)
	if err != nil {
		http.Error(rw, err.Error(), http.StatusForbidden)
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
	if old > 0 {
		err := proof.VerifyConsistency(rfc6962.DefaultHasher, uint64(old), uint64(cp.Size), hashes, w.root, cp.Hash[:])
		if err != nil {
			http.Error(rw, err.Error(), http.StatusUnprocessableEntity)
			return
		}
	}
	w.size, w.root = cp.Size, append([]byte(nil), cp.Hash[:]...)
	w.adds++
	signed, _ := note.Sign(&note.Note{Text: cp.Text()}, w.signer)
	rw.Write(signed[len(cp.Text())+1:])
}

func parseAddCheckpoint(body []byte) (old int64, hashes [][]byte, cp []byte, err error) {
	s := bufio.NewScanner(bytes.NewReader(body))
	s.Scan()
	oldText, ok := strings.CutPrefix(s.Text(), "old ")
	if old, err = strconv.ParseInt(oldText, 10, 64); !ok || err != nil {
		return 0, nil, nil, fmt.Errorf("bad old line")
	}
	consumed := len(s.Text()) + 1
	for s.Scan() && s.Text() != "" {
		h, err := base64.StdEncoding.DecodeString(s.Text())
		if err != nil {
			return 0, nil, nil, err
		}
		hashes = append(hashes, h)
		consumed += len(s.Text()) + 1
	}
	return old, hashes, body[consumed+1:], nil
}

func TestWitnessCosigns(t *testing.T) {
	keys := newTestKeys(t)
	witness := newTestWitness(t, keys.verifier)
	srv := httptest.NewServer(witness)
	defer srv.Close()

	var publishErrs []error
	open := func(db string) (*Log, *WitnessSink) {
		sink, err := NewWitnessSink(srv.URL, witness.vkey, srv.Client())
		if err != nil {
			t.Fatal(err)
		}
		opts := keys.options()
		opts.CheckpointEvery = 5
		opts.Sinks = []Sink{sink}
		opts.OnPublishError = func(_ string, _ int64, err error) { publishErrs = append(publishErrs, err) }
		l, err := Open(context.Background(), openTestDB(t, db), opts)
		if err != nil {
			t.Fatal(err)
		}
		return l, sink
	}
	path := t.TempDir() + "/audit.db"
	l, _ := open(path)
	appendN(t, l, 12)
	if err := l.Close(context.Background()); err != nil {
		t.Fatal(err)
	}

	// A second process starts with no memory of the witness's size: the
	// witness returns 409 with its size and the sink retries from there.
	l, _ = open(path)
	appendN(t, l, 9)
	if err := l.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if len(publishErrs) != 0 {
		t.Fatalf("publish errors: %v", publishErrs)
	}

	wv, err := NewCosignatureVerifier(witness.vkey)
	if err != nil {
		t.Fatal(err)
	}
	latest, err := l.LatestCheckpoint(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if latest.Size != 21 || witness.size != 21 {
		t.Fatalf("latest checkpoint size %d, witness size %d; want 21", latest.Size, witness.size)
	}
	if _, _, err := OpenCheckpoint(latest.Note, keys.verifier, wv); err != nil {
		t.Errorf("latest checkpoint lacks a valid cosignature: %v", err)
	}
}

func TestNewWitnessSinkRequiresClient(t *testing.T) {
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	_, vkey := NewCosigner("witness.test/w1", priv, time.Now)
	if _, err := NewWitnessSink("https://witness.test", vkey, nil); err == nil {
		t.Error("NewWitnessSink accepted a nil *http.Client")
	}
}

// Verify counts the checkpoints each given witness cosigned, and reports a
// stored cosignature under a witness's key that does not verify.
func TestVerifyWitnessCosignatures(t *testing.T) {
	keys := newTestKeys(t)
	witness := newTestWitness(t, keys.verifier)
	srv := httptest.NewServer(witness)
	defer srv.Close()
	sink, err := NewWitnessSink(srv.URL, witness.vkey, srv.Client())
	if err != nil {
		t.Fatal(err)
	}
	opts := keys.options()
	opts.CheckpointEvery = 5
	opts.Sinks = []Sink{sink}
	db := openTestDB(t, t.TempDir()+"/audit.db")
	l, err := Open(context.Background(), db, opts)
	if err != nil {
		t.Fatal(err)
	}
	appendN(t, l, 12)
	if err := l.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	wv, err := NewCosignatureVerifier(witness.vkey)
	if err != nil {
		t.Fatal(err)
	}

	rep, err := Verify(context.Background(), db, VerifyOptions{LogKey: keys.verifier, Witnesses: []note.Verifier{wv}})
	if err != nil {
		t.Fatal(err)
	}
	if !rep.Intact() {
		t.Fatalf("problems: %v", rep.Problems)
	}
	if len(rep.Witnessed) != 1 || rep.Witnessed[0].Checkpoints == 0 || rep.Witnessed[0].Size != 12 {
		t.Fatalf("Witnessed = %+v, want the witness's cosignatures up to size 12", rep.Witnessed)
	}

	// Change one base64 character of the cosignature's signature bytes, as
	// someone without the witness's key would have to.
	var stored []byte
	if err := db.QueryRowContext(context.Background(), "SELECT note FROM audit_checkpoints WHERE size = 12").Scan(&stored); err != nil {
		t.Fatal(err)
	}
	forged := bytes.Clone(stored)
	at := bytes.LastIndex(forged, []byte("— witness.test/w1 "))
	if at < 0 {
		t.Fatalf("stored checkpoint has no cosignature line:\n%s", stored)
	}
	end := at + bytes.IndexByte(forged[at:], '\n')
	if forged[end-10] == 'A' {
		forged[end-10] = 'B'
	} else {
		forged[end-10] = 'A'
	}
	if _, err := db.ExecContext(context.Background(), "UPDATE audit_checkpoints SET note = ? WHERE size = 12", forged); err != nil {
		t.Fatal(err)
	}
	rep, err = Verify(context.Background(), db, VerifyOptions{LogKey: keys.verifier, Witnesses: []note.Verifier{wv}})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Intact() || !strings.Contains(rep.Problems[0].String(), "invalid cosignature by witness witness.test/w1") {
		t.Errorf("problems = %v, want an invalid cosignature", rep.Problems)
	}
}

// injectingWitness is a witness that returns its valid cosignature
// followed by a signature line it forged under another witness's name.
type injectingWitness struct {
	*testWitness
	forged string
}

func (w *injectingWitness) ServeHTTP(rw http.ResponseWriter, r *http.Request) {
	rec := httptest.NewRecorder()
	w.testWitness.ServeHTTP(rec, r)
	for k, v := range rec.Header() {
		rw.Header()[k] = v
	}
	rw.WriteHeader(rec.Code)
	rw.Write(rec.Body.Bytes())
	if rec.Code == http.StatusOK {
		io.WriteString(rw, w.forged)
	}
}

// A witness may return lines besides its cosignature. Only its own valid
// cosignature is stored, so a line forged under a second witness's name
// cannot make the stored checkpoint fail to verify with that witness's key.
func TestWitnessExtraLinesNotStored(t *testing.T) {
	keys := newTestKeys(t)
	other := newTestWitness(t, keys.verifier)
	ov, err := NewCosignatureVerifier(other.vkey)
	if err != nil {
		t.Fatal(err)
	}
	sig := make([]byte, 4+8+ed25519.SignatureSize)
	hash := ov.KeyHash()
	sig[0], sig[1], sig[2], sig[3] = byte(hash>>24), byte(hash>>16), byte(hash>>8), byte(hash)
	witness := &injectingWitness{testWitness: newTestWitness(t, keys.verifier),
		forged: "— " + ov.Name() + " " + base64.StdEncoding.EncodeToString(sig) + "\n"}
	srv := httptest.NewServer(witness)
	defer srv.Close()

	sink, err := NewWitnessSink(srv.URL, witness.vkey, srv.Client())
	if err != nil {
		t.Fatal(err)
	}
	var publishErrs []error
	opts := keys.options()
	opts.CheckpointEvery = 5
	opts.Sinks = []Sink{sink}
	opts.OnPublishError = func(_ string, _ int64, err error) { publishErrs = append(publishErrs, err) }
	l, err := Open(context.Background(), openTestDB(t, t.TempDir()+"/audit.db"), opts)
	if err != nil {
		t.Fatal(err)
	}
	appendN(t, l, 5)
	if err := l.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if len(publishErrs) != 0 {
		t.Fatalf("publish errors: %v", publishErrs)
	}

	latest, err := l.LatestCheckpoint(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(latest.Note), witness.forged) {
		t.Errorf("the stored checkpoint contains the forged line:\n%s", latest.Note)
	}
	wv, err := NewCosignatureVerifier(witness.vkey)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := OpenCheckpoint(latest.Note, keys.verifier, wv); err != nil {
		t.Errorf("the stored checkpoint lacks the witness's cosignature: %v", err)
	}
	// note.Open rejects a note with a line that names a known key and
	// does not verify, as a verifier with both witnesses' keys would.
	if _, err := note.Open(latest.Note, note.VerifierList(keys.verifier, wv, ov)); err != nil {
		t.Errorf("the stored checkpoint does not verify with both witnesses' keys: %v", err)
	}
}
