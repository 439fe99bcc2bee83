package cli

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/gatehouse-health/gatehouse/internal/auditlog"
	"github.com/gatehouse-health/gatehouse/internal/safefile"
)

// maxProofFile caps a proof file read by check-proof.
const maxProofFile = int64(auditlog.MaxProofBytes)

const checkProofSynopsis = "gatehouse audit check-proof FILE [--key FILE... | --data DIR] [--leaf HASH] [--witness VKEY] [--request-body FILE] [--response-body FILE]"

// proofBody is a body file given to check-proof, open for reading.
type proofBody struct {
	part string // "request" or "response"
	path string
	file *os.File
}

// auditCheckProof verifies a proof file offline, and the given bodies
// against its entry: exit 0 valid, 1 invalid or a body mismatch, 2 when it
// cannot be checked.
func (e *env) auditCheckProof(args []string) int {
	fs := e.flags("audit check-proof")
	data := fs.String("data", "", "development data `DIR` whose audit/checkpoint.vkey is the log key")
	keys := new(fileList)
	fs.Var(keys, "key", "checkpoint verifier key `FILE` of the log; give it once per key when the log's signing key was rotated, and a checkpoint signed by any of them is accepted")
	leaf := fs.String("leaf", "", "expected base64 leaf `HASH` of the entry (from the exchange's receipt)")
	witness := fs.String("witness", "", "witness cosignature verifier `VKEY` whose cosignature is also required")
	requestBody := fs.String("request-body", "", "`FILE` holding the request body to check against the entry, byte for byte, such as one 'audit show --write-bodies' wrote")
	responseBody := fs.String("response-body", "", "`FILE` holding the response body to check against the entry, byte for byte")
	arg, code, ok := e.parseOne(fs, checkProofSynopsis, args)
	if !ok {
		return code
	}
	if arg == "" {
		return e.usageError(checkProofSynopsis, "missing proof file")
	}

	src := &auditSource{data: data, database: new(string), config: new(string), keys: keys}
	logKeys, ok := e.logKeys(src)
	if !ok {
		return 2
	}
	p, ok := e.readProof(arg)
	if !ok {
		return 2
	}

	var bodies []*proofBody
	for _, b := range []*proofBody{{part: "request", path: *requestBody}, {part: "response", path: *responseBody}} {
		if b.path != "" {
			bodies = append(bodies, b)
		}
	}
	if len(bodies) > 0 && p.Entry == nil {
		e.errorf("%s contains no entry, so no body can be checked against it", arg)
		e.hint("ask the log's operator for a new proof: 'gatehouse audit prove' of this version writes the entry into the proof")
		return 2
	}
	for _, b := range bodies {
		f, err := os.Open(b.path)
		if err != nil {
			e.errorf("--%s-body: %v", b.part, err)
			return 2
		}
		defer f.Close()
		b.file = f
	}
	return e.checkProof(p, logKeys, *leaf, *witness, bodies)
}

func (e *env) readProof(path string) (*auditlog.Proof, bool) {
	data, err := safefile.ReadCapped(path, maxProofFile)
	if err != nil {
		e.errorf("%v", err)
		return nil, false
	}
	p, err := auditlog.ParseProof(data)
	if err != nil {
		e.errorf("%s: %v", path, err)
		return nil, false
	}
	return p, true
}

// checkProof runs the checks in order and prints each one that passed on
// stdout. A failed check of the proof stops the run, but every body is
// checked.
func (e *env) checkProof(p *auditlog.Proof, logKeys []note.Verifier, leaf, witness string, bodies []*proofBody) int {
	var extra []note.Verifier
	if witness != "" {
		v, err := auditlog.NewCosignatureVerifier(witness)
		if err != nil {
			e.errorf("%v", err)
			return 2
		}
		extra = append(extra, v)
	}
	if leaf != "" {
		if h, err := base64.StdEncoding.Strict().DecodeString(leaf); err != nil || len(h) != sha256.Size {
			e.errorf("invalid --leaf %q: want the base64 SHA-256 leaf hash of the entry, 44 characters", leaf)
			e.hint("copy it from the X-Gatehouse-Leaf-Hash header of the exchange's response, or from leaf_hash in 'gatehouse audit export'")
			return 2
		}
		if leaf != p.LeafHash.String() {
			e.errorf("the proof is for leaf hash %s, not %s", p.LeafHash, leaf)
			e.hint("this proof is for another entry: ask the log's operator for the proof of the entry with leaf hash %s", leaf)
			return 1
		}
		fmt.Fprintf(e.stdout, "ok: the proof is for the expected leaf hash %s\n", leaf)
	}

	var entry *auditlog.Leaf
	if p.Entry != nil {
		var err error
		if entry, err = p.OpenEntry(); err != nil {
			e.errorf("invalid proof: %v", err)
			e.hint("the entry in the proof was changed after 'gatehouse audit prove' wrote it: ask the log's operator for a new proof")
			return 1
		}
		fmt.Fprintf(e.stdout, "ok: the entry encoding has the proof's leaf hash %s\n", p.LeafHash)
	}

	cp, err := auditlog.CheckProofByKeys(p, logKeys, extra...)
	if err != nil {
		e.errorf("invalid proof: %v", err)
		e.hint("the proof does not show that entry %d is in the log: check that --key is the verifier key the log's operator published, then ask for a new proof", p.Index)
		return 1
	}
	fmt.Fprintf(e.stdout, "ok: the checkpoint of log %s (%d entries) is signed by the verifier key\n", cp.Origin, cp.Size)
	if witness != "" {
		fmt.Fprintln(e.stdout, "ok: the checkpoint is cosigned by the witness")
	}
	fmt.Fprintf(e.stdout, "ok: the inclusion proof places leaf %d in that checkpoint's tree\n", p.Index)

	if entry == nil {
		fmt.Fprintf(e.stdout, "valid: entry %d with leaf hash %s is in log %s of %d entries\n", p.Index, p.LeafHash, cp.Origin, cp.Size)
		e.warnf("the proof file contains no entry, so it cannot show which bodies the entry records")
		e.hint("for a proof that ties bodies to the log, ask the log's operator for a new proof from 'gatehouse audit prove' of this version")
		if leaf == "" {
			e.warnf("no --leaf given: the proof shows that some entry with the leaf hash above is at index %d, so compare that hash with the expected one", p.Index)
		}
		return 0
	}

	e.printProvedEntry(entry)
	mismatches := 0
	for _, b := range bodies {
		ok, err := e.checkBody(entry, b)
		if err != nil {
			e.errorf("--%s-body: %v", b.part, err)
			return 2
		}
		if !ok {
			mismatches++
		}
	}
	if mismatches > 0 {
		return 1
	}
	fmt.Fprintf(e.stdout, "valid: entry %d with leaf hash %s is in log %s of %d entries\n", p.Index, p.LeafHash, cp.Origin, cp.Size)
	if len(bodies) == 0 {
		e.warnf("no --request-body or --response-body given: the proof shows that the entry above is in the log, not which bodies you hold")
	}
	return 0
}

// printProvedEntry prints the signed fields of a proved entry that name
// the exchange, and the length and SHA-256 of each body it records.
func (e *env) printProvedEntry(l *auditlog.Leaf) {
	x := &l.Entry
	fmt.Fprintf(e.stdout, "entry %d, recorded %s: exchange %s, phase %s, %s partner %s, %s %s -> %s %s\n",
		l.Index, x.RecordedAt.UTC().Format(time.RFC3339Nano), x.ExchangeID, x.Phase, x.Direction, x.Partner,
		x.Method, x.Target, statusText(x.Status), x.Decision)
	fmt.Fprintf(e.stdout, "    request body: %s\n", bodyCommitText(&l.Request))
	fmt.Fprintf(e.stdout, "    response body: %s\n", bodyCommitText(&l.Response))
}

// bodyCommitText describes what an entry records of a body.
func bodyCommitText(b *auditlog.Body) string {
	if b.Size == 0 {
		return "none (0 bytes)"
	}
	return fmt.Sprintf("%d bytes, SHA-256 %s", b.Size, hex.EncodeToString(b.SHA256[:]))
}

// checkBody compares a body file with the length and plaintext SHA-256
// that the entry records. It reads at most one byte more than the recorded
// length, so a device or an oversized file cannot stall it. It returns
// false after printing the mismatch, and an error when the file cannot be
// read.
func (e *env) checkBody(l *auditlog.Leaf, b *proofBody) (bool, error) {
	want := &l.Response
	if b.part == "request" {
		want = &l.Request
	}
	h := sha256.New()
	n, err := io.Copy(h, io.LimitReader(b.file, want.Size+1))
	if err != nil {
		return false, err
	}
	var got [sha256.Size]byte
	h.Sum(got[:0])
	switch {
	case n > want.Size:
		e.errorf("%s body %s does not match entry %d: it is longer than the %d bytes the entry records", b.part, b.path, l.Index, want.Size)
	case n != want.Size || (n > 0 && got != want.SHA256):
		e.errorf("%s body %s does not match entry %d: it has %d bytes with SHA-256 %s, the entry records %s",
			b.part, b.path, l.Index, n, hex.EncodeToString(got[:]), bodyCommitText(want))
	default:
		fmt.Fprintf(e.stdout, "ok: %s body %s matches the entry (%s)\n", b.part, b.path, bodyCommitText(want))
		return true, nil
	}
	if want.Size == 0 && b.part == "response" {
		e.hint("entry %d records no response body: the response of an exchange is in its response entry, which 'gatehouse audit show --exchange ID' lists", l.Index)
	} else {
		e.hint("this is not the %s body recorded in entry %d: compare it byte for byte with the file 'gatehouse audit show --write-bodies' wrote", b.part, l.Index)
	}
	return false, nil
}
