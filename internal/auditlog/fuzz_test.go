package auditlog

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"strings"
	"testing"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/gatehouse-health/gatehouse/internal/record"
)

func seedEntries(f *testing.F) {
	for i := range 6 {
		e := testEntry(i, 0)
		e.RequestBody, e.ResponseBody = nil, nil
		l := &Leaf{Index: int64(i), Entry: *e}
		if i%2 == 0 {
			l.Request = Body{Size: int64(i + 1), SHA256: digest([]byte{byte(i)}), CiphertextSHA256: digest(nil)}
		}
		enc, err := EncodeEntry(l)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(enc)
	}
	// A version 1 entry, a response entry that keeps its request in the
	// request entry, a version 3 entry, and a version 4 entry that commits
	// to its key-encryption key.
	v1 := &Leaf{Version: 1, Index: 7, Entry: *testEntry(7, 0), Request: Body{Size: 1, SHA256: [32]byte{1}, CiphertextSHA256: [32]byte{2}}}
	ref := &Leaf{Index: 8, Entry: *testEntry(8, 0), Request: Body{Size: 1, SHA256: [32]byte{1}}, RequestEntry: 7}
	ref.Entry.Phase = record.PhaseResponse
	v3 := &Leaf{Version: 3, Index: 9, Entry: *testEntry(9, 0)}
	v4 := &Leaf{Index: 10, Entry: *testEntry(10, 0), KEKSHA256: [32]byte{4}}
	for _, l := range []*Leaf{v1, ref, v3, v4} {
		l.Entry.RequestBody, l.Entry.ResponseBody = nil, nil
		enc, err := EncodeEntry(l)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(enc)
	}
	f.Add([]byte(entryPrefix))
	f.Add([]byte{})
}

// FuzzDecodeEntry checks that DecodeEntry never panics and that whatever
// it accepts encodes back to the same bytes (the encoding is canonical).
func FuzzDecodeEntry(f *testing.F) {
	seedEntries(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		l, err := DecodeEntry(data)
		if err != nil {
			return
		}
		back, err := EncodeEntry(l)
		if err != nil {
			t.Fatalf("decoded entry does not encode: %v", err)
		}
		if !bytes.Equal(back, data) {
			t.Fatalf("round trip changed the encoding:\n in  %x\n out %x", data, back)
		}
	})
}

// FuzzParseCheckpoint checks that ParseCheckpoint never panics and that
// what it accepts formats back to the same text.
func FuzzParseCheckpoint(f *testing.F) {
	f.Add("example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n")
	f.Add(Checkpoint{Origin: testOrigin, Size: 0, Hash: tlog.RecordHash(nil)}.Text())
	f.Add("o\n01\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n")
	f.Add("o\n1\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\next\n")
	f.Fuzz(func(t *testing.T, text string) {
		c, err := ParseCheckpoint(text)
		if err != nil {
			return
		}
		if got := c.Text(); got != text {
			t.Fatalf("round trip changed the text:\n in  %q\n out %q", text, got)
		}
	})
}

// FuzzOpenCheckpoint feeds signed notes, valid and damaged, to the
// verifying parser.
func FuzzOpenCheckpoint(f *testing.F) {
	skey, vkey, err := note.GenerateKey(rand.Reader, testOrigin)
	if err != nil {
		f.Fatal(err)
	}
	signer, _ := note.NewSigner(skey)
	verifier, _ := note.NewVerifier(vkey)
	msg, err := SignCheckpoint(Checkpoint{Origin: testOrigin, Size: 7, Hash: tlog.RecordHash([]byte("x"))}, signer)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(msg)
	f.Add(append(append([]byte(nil), msg...), "— witness.example/w1 AAAAAAAA\n"...))
	f.Fuzz(func(t *testing.T, msg []byte) {
		c, n, err := OpenCheckpoint(msg, verifier)
		if err != nil {
			return
		}
		if c.Text() != n.Text || !strings.HasPrefix(string(msg), n.Text) {
			t.Fatalf("accepted checkpoint text %q does not round trip", n.Text)
		}
	})
}

// FuzzParseProof checks the tlog-proof parser never panics and that what
// it accepts formats back to the same text.
func FuzzParseProof(f *testing.F) {
	p := &Proof{Index: 3, LeafHash: tlog.RecordHash([]byte("a")), Hashes: tlog.RecordProof{tlog.RecordHash([]byte("b"))},
		Checkpoint: []byte(Checkpoint{Origin: testOrigin, Size: 4}.Text() + "\n— " + testOrigin + " AAAAAAAA\n")}
	f.Add(p.Format())
	f.Add([]byte("c2sp.org/tlog-proof@v1\nindex 0\n\n"))
	p.Entry = []byte(entryPrefix + "entry")
	f.Add(p.Format())
	f.Fuzz(func(t *testing.T, text []byte) {
		p, err := ParseProof(text)
		if err != nil {
			return
		}
		if back := p.Format(); !bytes.Equal(back, text) {
			t.Fatalf("round trip changed the proof:\n in  %q\n out %q", text, back)
		}
	})
}

func TestDecodeEntryRejects(t *testing.T) {
	good, err := EncodeEntry(&Leaf{Index: 1, Entry: *testEntry(1, 0)})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		data []byte
	}{
		{"empty", nil},
		{"other version", append([]byte("gatehouse.audit.entry/v5\n"), good[len(entryPrefix):]...)},
		{"version 3 with a KEK hash", append([]byte(entryPrefixV3), good[len(entryPrefix):]...)},
		{"truncated", good[:len(good)-1]},
		{"trailing byte", append(append([]byte(nil), good...), 0)},
		{"oversized field", append([]byte(entryPrefix+"\x00\x00\x00\x00\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00\x00\x00"), 0, 1, 0, 1)},
		{"negative index", append([]byte(entryPrefix+"\x80"), good[len(entryPrefix)+1:]...)},
	}
	tests = append(tests, bodyReferenceCases(t)...)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := DecodeEntry(tt.data); err == nil {
				t.Error("DecodeEntry accepted it")
			}
		})
	}
}

// bodyReferenceCases returns encodings whose request or response body
// refers to the request entry where the format forbids it. Each is a valid
// version 2 encoding with one ciphertext hash zeroed, or its prefix
// changed to v1. Version 3 only adds query_ct after request_entry, so the
// cases keep request_entry at the end.
func bodyReferenceCases(t *testing.T) []struct {
	name string
	data []byte
} {
	t.Helper()
	request := Body{Size: 2, SHA256: [32]byte{0xaa}, CiphertextSHA256: [32]byte{0xbb, 0xbb}}
	response := Body{Size: 3, SHA256: [32]byte{0xcc}, CiphertextSHA256: [32]byte{0xdd, 0xdd}}
	encode := func(phase record.Phase) []byte {
		e := *testEntry(1, 0)
		e.Phase = phase
		enc, err := EncodeEntry(&Leaf{Version: 2, Index: 1, Entry: e, Request: request, Response: response})
		if err != nil {
			t.Fatal(err)
		}
		return enc
	}
	zeroed := func(enc []byte, sum [32]byte) []byte {
		at := bytes.Index(enc, sum[:])
		if at < 0 || bytes.Contains(enc[at+1:], sum[:]) {
			t.Fatal("the ciphertext hash is not in the encoding exactly once")
		}
		out := bytes.Clone(enc)
		clear(out[at : at+32])
		return out
	}
	inResponse := zeroed(encode(record.PhaseResponse), request.CiphertextSHA256)
	if _, err := DecodeEntry(inResponse); err != nil {
		t.Fatalf("a response entry keeping its request in the request entry: %v", err)
	}
	// The last 8 bytes are request_entry, which version 1 lacks.
	v1 := append([]byte(entryPrefixV1), inResponse[len(entryPrefixV2):len(inResponse)-8]...)
	notEarlier := bytes.Clone(inResponse)
	binary.BigEndian.PutUint64(notEarlier[len(notEarlier)-8:], 1)
	stray := bytes.Clone(encode(record.PhaseResponse))
	binary.BigEndian.PutUint64(stray[len(stray)-8:], 1)
	return []struct {
		name string
		data []byte
	}{
		{"request body elsewhere in v1", v1},
		{"request body elsewhere in the request entry", zeroed(encode(record.PhaseRequest), request.CiphertextSHA256)},
		{"request body elsewhere in a control entry", zeroed(encode(record.PhaseControl), request.CiphertextSHA256)},
		{"request body elsewhere in an entry of unknown phase", zeroed(encode("bogus"), request.CiphertextSHA256)},
		{"request entry not earlier", notEarlier},
		{"request entry named for a body stored with the entry", stray},
		{"response body elsewhere", zeroed(encode(record.PhaseResponse), response.CiphertextSHA256)},
	}
}

// TestEncodeEntryVersions checks that a version 1 entry keeps its prefix
// through a round trip, and that EncodeEntry refuses a body reference the
// format forbids.
func TestEncodeEntryVersions(t *testing.T) {
	e := *testEntry(1, 0)
	e.Phase = record.PhaseResponse
	leaf := &Leaf{Version: 1, Index: 1, Entry: e, Request: Body{Size: 2, SHA256: [32]byte{1}, CiphertextSHA256: [32]byte{2}}}
	enc, err := EncodeEntry(leaf)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(enc, []byte(entryPrefixV1)) {
		t.Fatalf("version 1 leaf encoded with prefix %q", enc[:len(entryPrefixV1)])
	}
	back, err := DecodeEntry(enc)
	if err != nil || back.Version != 1 {
		t.Fatalf("decoded version %v, err %v; want 1", back, err)
	}

	leaf.Request.CiphertextSHA256 = [32]byte{}
	if _, err := EncodeEntry(leaf); err == nil {
		t.Error("EncodeEntry kept a request body elsewhere in a version 1 entry")
	}
	leaf.Version = 0
	if enc, err = EncodeEntry(leaf); err != nil || !bytes.HasPrefix(enc, []byte(entryPrefix)) {
		t.Fatalf("current version: %q, %v", enc[:min(len(enc), len(entryPrefix))], err)
	}
	if back, err = DecodeEntry(enc); err != nil || back.Entry.RequestSeq != 1 || back.Version != 4 {
		t.Fatalf("decoded %+v, %v; want RequestSeq 1 in version 4", back, err)
	}
	leaf.Entry.Phase = record.PhaseRequest
	if _, err := EncodeEntry(leaf); err == nil {
		t.Error("EncodeEntry kept a request entry's own body elsewhere")
	}
	leaf.Entry.Phase = record.PhaseResponse
	leaf.Request.CiphertextSHA256 = [32]byte{2}
	leaf.Response = Body{Size: 1, SHA256: [32]byte{3}}
	if _, err := EncodeEntry(leaf); err == nil {
		t.Error("EncodeEntry kept a response body elsewhere")
	}
}
