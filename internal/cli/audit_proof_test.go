package cli

import (
	"context"
	"crypto/sha256"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/gatehouse-health/gatehouse/internal/auditlog"
	"github.com/gatehouse-health/gatehouse/internal/record"
)

// proofExchange is a development log of one exchange: its request entry
// (index 0) and its response entry (index 1), which keeps the request in
// entry 0.
type proofExchange struct {
	dir, vkey, identity string
	request, response   []byte
}

func newProofExchange(t *testing.T) *proofExchange {
	t.Helper()
	x := &proofExchange{
		request:  []byte(`{"resourceType":"Bundle","id":"claim-1","type":"collection"}`),
		response: []byte(`{"resourceType":"ClaimResponse","outcome":"queued"}`),
	}
	request := &record.Entry{ExchangeID: "5e1f0c2a9b7d4e3f8a6c1b2d3e4f5a6b", Phase: record.PhaseRequest, Direction: "inbound", Partner: "demo-ehr",
		Method: "POST", Target: "/fhir/Claim/$submit", Interaction: "Claim/$submit", Decision: record.Allow, RequestBody: x.request}
	response := *request
	response.Phase, response.Status, response.RequestSeq, response.ResponseBody = record.PhaseResponse, 200, 1, x.response
	x.dir = devLogDir(t, time.Now, []*record.Entry{request, &response})
	x.vkey = auditlog.DevKeyPaths(x.dir).VerifierFile
	x.identity = auditlog.DevKeyPaths(x.dir).IdentityFile
	return x
}

// prove writes the proof of the entry at index to a file and returns it.
func (x *proofExchange) prove(t *testing.T, index string) (path, text string) {
	t.Helper()
	code, proof, stderr := run(t, context.Background(), "audit", "prove", index, "--data", x.dir)
	if code != 0 {
		t.Fatalf("prove: code %d stderr %q", code, stderr)
	}
	path = filepath.Join(t.TempDir(), "entry-"+index+".proof")
	writeTestFile(t, path, []byte(proof))
	return path, proof
}

// proveWithoutEntry writes the proof of entry 0 without the entry, as
// proofs were before they carried it, and returns its path and text.
func (x *proofExchange) proveWithoutEntry(t *testing.T) (path, receipt string) {
	t.Helper()
	_, text := x.prove(t, "0")
	_, receipt, ok := strings.Cut(text, "\n\n")
	if !ok || !strings.HasPrefix(receipt, "c2sp.org/tlog-proof@v1\n") {
		t.Fatalf("proof %q has no receipt after the entry", text)
	}
	path = filepath.Join(t.TempDir(), "old.tlog-proof")
	writeTestFile(t, path, []byte(receipt))
	return path, receipt
}

func writeTestFile(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

// The documented third-party flow: show --write-bodies, prove, and
// check-proof with the body files.
func TestCheckProofBodiesMatch(t *testing.T) {
	x := newProofExchange(t)
	bodies := filepath.Join(t.TempDir(), "bodies")
	code, stdout, stderr := run(t, context.Background(), "audit", "show", "--data", x.dir, "--exchange", "5e1f0c2a9b7d4e3f8a6c1b2d3e4f5a6b",
		"--identity", x.identity, "--write-bodies", bodies)
	if code != 0 {
		t.Fatalf("show --write-bodies: code %d stderr %q", code, stderr)
	}
	if strings.Contains(stdout, "claim-1") {
		t.Errorf("show --write-bodies printed a body: %q", stdout)
	}
	requestFile := filepath.Join(bodies, "entry-1-request.body")
	responseFile := filepath.Join(bodies, "entry-1-response.body")
	for path, want := range map[string][]byte{requestFile: x.request, responseFile: x.response,
		filepath.Join(bodies, "entry-0-request.body"): x.request} {
		got, err := os.ReadFile(path)
		if err != nil || string(got) != string(want) {
			t.Errorf("%s = %q, %v; want the decrypted body %q", path, got, err, want)
		}
		if info, err := os.Stat(path); err == nil && info.Mode().Perm() != 0o600 {
			t.Errorf("%s has mode %v, want 0600 because it holds PHI", path, info.Mode().Perm())
		}
	}

	proof, _ := x.prove(t, "1")
	code, stdout, stderr = run(t, context.Background(), "audit", "check-proof", proof, "--key", x.vkey,
		"--request-body", requestFile, "--response-body", responseFile)
	if code != 0 {
		t.Fatalf("check-proof: code %d stdout %q stderr %q", code, stdout, stderr)
	}
	for _, want := range []string{
		"ok: the entry encoding has the proof's leaf hash",
		"ok: the checkpoint of log " + auditTestOrigin + " (2 entries) is signed by the verifier key",
		"ok: the inclusion proof places leaf 1",
		"exchange 5e1f0c2a9b7d4e3f8a6c1b2d3e4f5a6b, phase response",
		"ok: request body " + requestFile + " matches the entry",
		"ok: response body " + responseFile + " matches the entry",
		"valid: entry 1",
	} {
		if !strings.Contains(stdout, want) {
			t.Errorf("check-proof stdout %q, want %q", stdout, want)
		}
	}
	if stderr != "" {
		t.Errorf("check-proof stderr %q, want none", stderr)
	}

	// Running show again never replaces the body files.
	code, _, stderr = run(t, context.Background(), "audit", "show", "--data", x.dir, "--exchange", "5e1f0c2a9b7d4e3f8a6c1b2d3e4f5a6b",
		"--identity", x.identity, "--write-bodies", bodies)
	if code != 1 {
		t.Errorf("show --write-bodies into a used directory: code %d, want 1\nstderr %q", code, stderr)
	}
	if !strings.Contains(stderr, "file exists") {
		t.Errorf("show --write-bodies into a used directory: stderr %q, want the existing file named", stderr)
	}
}

// A body with one changed byte fails with exit 1, names the body, and
// still checks the other body.
func TestCheckProofBodyChangedByte(t *testing.T) {
	x := newProofExchange(t)
	proof, _ := x.prove(t, "1")
	dir := t.TempDir()
	requestFile := filepath.Join(dir, "request.body")
	writeTestFile(t, requestFile, x.request)
	changed := []byte(strings.Replace(string(x.response), "queued", "queuee", 1))
	responseFile := filepath.Join(dir, "response.body")
	writeTestFile(t, responseFile, changed)

	code, stdout, stderr := run(t, context.Background(), "audit", "check-proof", proof, "--key", x.vkey,
		"--request-body", requestFile, "--response-body", responseFile)
	if code != 1 {
		t.Errorf("exit code = %d, want 1", code)
	}
	if !strings.Contains(stderr, "gatehouse: error: response body "+responseFile+" does not match entry 1") {
		t.Errorf("stderr %q, want the response body named", stderr)
	}
	if !strings.Contains(stderr, "gatehouse: hint: ") {
		t.Errorf("stderr %q, want a hint", stderr)
	}
	if !strings.Contains(stdout, "ok: request body "+requestFile) {
		t.Errorf("stdout %q, want the request body checked too", stdout)
	}
	if strings.Contains(stdout, "valid:") {
		t.Errorf("stdout %q, want no valid line", stdout)
	}

	// A body one byte longer than recorded.
	writeTestFile(t, requestFile, append(append([]byte(nil), x.request...), '\n'))
	code, _, stderr = run(t, context.Background(), "audit", "check-proof", proof, "--key", x.vkey, "--request-body", requestFile)
	if code != 1 {
		t.Errorf("longer request body: code %d, want 1\nstderr %q", code, stderr)
	}
	if !strings.Contains(stderr, "request body "+requestFile+" does not match entry 1: it is longer than") {
		t.Errorf("longer request body: stderr %q, want the body named", stderr)
	}
}

// A proof whose entry encoding was edited fails, whether it claims
// another body hash with the old leaf hash or with a recomputed one.
func TestCheckProofEditedEncoding(t *testing.T) {
	x := newProofExchange(t)
	_, text := x.prove(t, "1")
	p, err := auditlog.ParseProof([]byte(text))
	if err != nil {
		t.Fatal(err)
	}
	forgedBody := []byte(`{"resourceType":"ClaimResponse","outcome":"complete"}`)
	forged, err := auditlog.DecodeEntry(p.Entry)
	if err != nil {
		t.Fatal(err)
	}
	forged.Response = auditlog.Body{Size: int64(len(forgedBody)), SHA256: sha256.Sum256(forgedBody), CiphertextSHA256: forged.Response.CiphertextSHA256}
	if p.Entry, err = auditlog.EncodeEntry(forged); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	bodyFile := filepath.Join(dir, "forged.body")
	writeTestFile(t, bodyFile, forgedBody)
	proofFile := filepath.Join(dir, "edited.proof")
	writeTestFile(t, proofFile, p.Format())

	code, stdout, stderr := run(t, context.Background(), "audit", "check-proof", proofFile, "--key", x.vkey, "--response-body", bodyFile)
	if code != 1 {
		t.Errorf("edited entry: code %d, want 1\nstderr %q", code, stderr)
	}
	if !strings.Contains(stderr, "gatehouse: error: invalid proof: the entry's leaf hash is") {
		t.Errorf("edited entry: stderr %q, want a leaf hash mismatch", stderr)
	}
	if strings.Contains(stdout, "ok: response body") {
		t.Errorf("edited entry: stdout %q, want the body left unchecked", stdout)
	}

	p.LeafHash = tlog.RecordHash(p.Entry)
	writeTestFile(t, proofFile, p.Format())
	code, _, stderr = run(t, context.Background(), "audit", "check-proof", proofFile, "--key", x.vkey, "--response-body", bodyFile)
	if code != 1 {
		t.Errorf("edited entry with its leaf hash: code %d, want 1\nstderr %q", code, stderr)
	}
	if !strings.Contains(stderr, "gatehouse: error: invalid proof: inclusion proof of index 1") {
		t.Errorf("edited entry with its leaf hash: stderr %q, want the inclusion proof failing", stderr)
	}
}

// A proof checked with another deployment's verifier key fails even with
// the right body.
func TestCheckProofOtherDeploymentKey(t *testing.T) {
	x := newProofExchange(t)
	proof, _ := x.prove(t, "0")
	requestFile := filepath.Join(t.TempDir(), "request.body")
	writeTestFile(t, requestFile, x.request)
	other := t.TempDir()
	if code, _, stderr := run(t, context.Background(), "audit", "keygen", "--origin", auditTestOrigin, "--out", other); code != 0 {
		t.Fatalf("keygen: code %d stderr %q", code, stderr)
	}
	code, stdout, stderr := run(t, context.Background(), "audit", "check-proof", proof, "--key", filepath.Join(other, "checkpoint.vkey"),
		"--request-body", requestFile)
	if code != 1 {
		t.Errorf("another deployment's key: code %d, want 1\nstderr %q", code, stderr)
	}
	if !strings.Contains(stderr, "has no signature by the verifier key") {
		t.Errorf("another deployment's key: stderr %q, want the key named", stderr)
	}
	if strings.Contains(stdout, "ok: request body") || strings.Contains(stdout, "valid:") {
		t.Errorf("another deployment's key: stdout %q, want no body checked", stdout)
	}
}

// A proof written before proofs carried the entry still checks, warns
// that it cannot tie bodies to the log, and rejects body files.
func TestCheckProofWithoutEntry(t *testing.T) {
	x := newProofExchange(t)
	proofFile, _ := x.proveWithoutEntry(t)

	code, stdout, stderr := run(t, context.Background(), "audit", "check-proof", proofFile, "--key", x.vkey)
	if code != 0 {
		t.Errorf("old proof: code %d, want 0\nstderr %q", code, stderr)
	}
	if !strings.Contains(stdout, "valid: entry 0") {
		t.Errorf("old proof: stdout %q, want it to contain %q", stdout, "valid: entry 0")
	}
	if !strings.Contains(stderr, "gatehouse: warning: the proof file contains no entry") {
		t.Errorf("old proof: stderr %q, want a warning that bodies cannot be checked", stderr)
	}

	requestFile := filepath.Join(t.TempDir(), "request.body")
	writeTestFile(t, requestFile, x.request)
	code, _, stderr = run(t, context.Background(), "audit", "check-proof", proofFile, "--key", x.vkey, "--request-body", requestFile)
	if code != 2 {
		t.Errorf("old proof with a body: code %d, want 2\nstderr %q", code, stderr)
	}
	if !strings.Contains(stderr, "contains no entry, so no body can be checked against it") {
		t.Errorf("old proof with a body: stderr %q, want the missing entry named", stderr)
	}
}

// A proof without its entry shows only that some entry with its leaf
// hash is in the log, so without --leaf check-proof warns that the
// reader must compare the hash, and with --leaf it compares it.
func TestCheckProofWarnsWithoutLeaf(t *testing.T) {
	x := newProofExchange(t)
	proofFile, receipt := x.proveWithoutEntry(t)
	p, err := auditlog.ParseProof([]byte(receipt))
	if err != nil {
		t.Fatal(err)
	}
	const warning = "gatehouse: warning: no --leaf given: the proof shows that some entry with the leaf hash above is at index 0"

	code, _, stderr := run(t, context.Background(), "audit", "check-proof", proofFile, "--key", x.vkey)
	if code != 0 {
		t.Errorf("without --leaf: code %d, want 0\nstderr %q", code, stderr)
	}
	if !strings.Contains(stderr, warning) {
		t.Errorf("without --leaf: stderr %q, want %q", stderr, warning)
	}

	leaf := p.LeafHash.String()
	code, stdout, stderr := run(t, context.Background(), "audit", "check-proof", proofFile, "--key", x.vkey, "--leaf", leaf)
	if code != 0 {
		t.Errorf("with --leaf: code %d, want 0\nstderr %q", code, stderr)
	}
	if strings.Contains(stderr, "no --leaf given") {
		t.Errorf("with --leaf: stderr %q still warns that --leaf is missing", stderr)
	}
	if want := "ok: the proof is for the expected leaf hash " + leaf; !strings.Contains(stdout, want) {
		t.Errorf("with --leaf: stdout %q, want %q", stdout, want)
	}
}

func TestCheckProofBodyFileMissing(t *testing.T) {
	x := newProofExchange(t)
	proof, _ := x.prove(t, "0")
	missing := filepath.Join(t.TempDir(), "missing.body")
	code, _, stderr := run(t, context.Background(), "audit", "check-proof", proof, "--key", x.vkey, "--request-body", missing)
	if code != 2 {
		t.Errorf("missing body file: code %d, want 2\nstderr %q", code, stderr)
	}
	if !strings.Contains(stderr, "gatehouse: error: --request-body: open "+missing) {
		t.Errorf("missing body file: stderr %q, want the path", stderr)
	}
}

func TestShowWriteBodiesNeedsIdentity(t *testing.T) {
	x := newProofExchange(t)
	code, _, stderr := run(t, context.Background(), "audit", "show", "--data", x.dir, "--write-bodies", t.TempDir())
	if code != 2 {
		t.Errorf("code %d, want 2\nstderr %q", code, stderr)
	}
	if !strings.Contains(stderr, "--write-bodies needs --identity") {
		t.Errorf("stderr %q, want --identity named", stderr)
	}
}
