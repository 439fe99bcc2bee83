package auditlog

import (
	"bytes"
	"crypto/rand"
	"strings"
	"testing"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
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
		{"other version", append([]byte("gatehouse.audit.entry/v2\n"), good[len(entryPrefix):]...)},
		{"truncated", good[:len(good)-1]},
		{"trailing byte", append(append([]byte(nil), good...), 0)},
		{"oversized field", append([]byte(entryPrefix+"\x00\x00\x00\x00\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00\x00\x00"), 0, 1, 0, 1)},
		{"negative index", append([]byte(entryPrefix+"\x80"), good[len(entryPrefix)+1:]...)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := DecodeEntry(tt.data); err == nil {
				t.Error("DecodeEntry accepted it")
			}
		})
	}
}
