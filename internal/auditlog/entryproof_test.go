package auditlog

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"testing"

	"golang.org/x/mod/sumdb/tlog"
)

// An entry proof carries the entry whose plaintext body hashes a third
// party compares with the bodies it holds, and round-trips through its
// text form.
func TestEntryProofCarriesEntry(t *testing.T) {
	l, _, keys := newTestLog(t, func(o *Options) { o.CheckpointEvery = 4 })
	appended := appendN(t, l, 4)
	p, err := l.EntryProof(context.Background(), 1)
	if err != nil {
		t.Fatal(err)
	}
	text := p.Format()
	if !bytes.HasPrefix(text, []byte(entryProofHeader+"entry ")) {
		t.Fatalf("entry proof text starts %q, want the entry proof header and entry line", text[:40])
	}
	parsed, err := ParseProof(text)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(parsed.Entry, p.Entry) {
		t.Errorf("parsed proof has another entry than the one written")
	}
	if parsed.LeafHash != appended[1].LeafHash {
		t.Errorf("parsed proof has leaf hash %s, want %s", parsed.LeafHash, appended[1].LeafHash)
	}

	if _, err := CheckProof(parsed, keys.verifier); err != nil {
		t.Fatalf("CheckProof: %v", err)
	}
	leaf, err := parsed.OpenEntry()
	if err != nil {
		t.Fatal(err)
	}
	want := testEntry(1, 64)
	if leaf.Request.Size != int64(len(want.RequestBody)) {
		t.Errorf("entry records a request of %d bytes, want %d", leaf.Request.Size, len(want.RequestBody))
	}
	if leaf.Request.SHA256 != digest(want.RequestBody) {
		t.Errorf("entry records request SHA-256 %x, want the plaintext's", leaf.Request.SHA256)
	}
	if leaf.Response.SHA256 != digest(want.ResponseBody) {
		t.Errorf("entry records response SHA-256 %x, want the plaintext's", leaf.Response.SHA256)
	}

	receipt, err := l.Receipt(context.Background(), 1)
	if err != nil {
		t.Fatal(err)
	}
	if receipt.Entry != nil {
		t.Errorf("receipt carries the entry, want a bare c2sp.org/tlog-proof")
	}
	if !bytes.HasPrefix(receipt.Format(), []byte(proofHeader)) {
		t.Errorf("receipt text does not start with the c2sp.org/tlog-proof header")
	}
	if _, err := receipt.OpenEntry(); !errors.Is(err, ErrNoEntry) {
		t.Errorf("OpenEntry of a receipt: err = %v, want ErrNoEntry", err)
	}
}

// CheckProof rejects an entry proof whose entry was edited, whether or not
// the leaf hash was recomputed to match it.
func TestEntryProofRejectsEditedEntry(t *testing.T) {
	l, _, keys := newTestLog(t, func(o *Options) { o.CheckpointEvery = 4 })
	appendN(t, l, 4)
	p, err := l.EntryProof(context.Background(), 1)
	if err != nil {
		t.Fatal(err)
	}
	forged, err := DecodeEntry(p.Entry)
	if err != nil {
		t.Fatal(err)
	}
	forged.Response.SHA256 = digest([]byte(`{"resourceType":"ClaimResponse","outcome":"complete"}`))
	forgedEntry, err := EncodeEntry(forged)
	if err != nil {
		t.Fatal(err)
	}

	edited := *p
	edited.Entry = forgedEntry
	if _, err := CheckProof(&edited, keys.verifier); err == nil || !strings.Contains(err.Error(), "leaf hash") {
		t.Errorf("entry edited, leaf hash kept: err = %v, want a leaf hash mismatch", err)
	}

	edited.LeafHash = tlog.RecordHash(forgedEntry)
	if _, err := CheckProof(&edited, keys.verifier); err == nil || !strings.Contains(err.Error(), "inclusion proof") {
		t.Errorf("entry edited, leaf hash recomputed: err = %v, want the inclusion proof to fail", err)
	}

	moved := *p
	moved.Index = 2
	if _, err := moved.OpenEntry(); err == nil || !strings.Contains(err.Error(), "index 1, not the proof's 2") {
		t.Errorf("proof index changed: err = %v, want an index mismatch", err)
	}
}

// ParseProof rejects an entry proof whose entry line is missing or invalid.
func TestParseProofRejectsEntryLine(t *testing.T) {
	l, _, _ := newTestLog(t, func(o *Options) { o.CheckpointEvery = 4 })
	appendN(t, l, 4)
	p, err := l.EntryProof(context.Background(), 1)
	if err != nil {
		t.Fatal(err)
	}
	good := string(p.Format())
	line, _, _ := strings.Cut(strings.TrimPrefix(good, entryProofHeader), "\n")
	// An entry line one base64 quantum over the cap, in a text still
	// within MaxProofBytes, so that only the entry line check rejects it.
	long := "entry " + strings.Repeat("AAAA", maxEntryBase64/4+1)
	// An entry one byte over the cap, whose base64 fits within
	// maxEntryBase64 because the cap is not a multiple of three.
	oneOver := "entry " + base64.StdEncoding.EncodeToString(make([]byte, MaxEntryBytes+1))
	tests := []struct {
		name, text, want string
	}{
		{"no entry line", strings.Replace(good, line+"\n", "", 1), "expected an entry line and an empty line after the header"},
		{"entry not base64", strings.Replace(good, line, "entry %%%", 1), "the entry line must contain the base64 entry encoding"},
		{"empty entry", strings.Replace(good, line, "entry ", 1), "the entry line must contain the base64 entry encoding"},
		{"no empty line", strings.Replace(good, line+"\n\n", line+"\n", 1), "the entry line must contain the base64 entry encoding"},
		{"entry too long", strings.Replace(good, line, long, 1), fmt.Sprintf("entry longer than %d bytes", MaxEntryBytes)},
		{"entry one byte over", strings.Replace(good, line, oneOver, 1), fmt.Sprintf("entry longer than %d bytes", MaxEntryBytes)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if len(tt.text) > MaxProofBytes {
				t.Fatalf("test text of %d bytes exceeds MaxProofBytes", len(tt.text))
			}
			_, err := ParseProof([]byte(tt.text))
			if err == nil {
				t.Fatalf("ParseProof accepted %q", tt.text[:60])
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not contain %q", err, tt.want)
			}
		})
	}
}
