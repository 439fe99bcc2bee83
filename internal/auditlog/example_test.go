package auditlog_test

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"filippo.io/age"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/gatehouse-health/gatehouse/internal/auditlog"
	"github.com/gatehouse-health/gatehouse/internal/record"
	"github.com/gatehouse-health/gatehouse/internal/storage"
)

// The worked example of the entry encoding: a refusal with a 2-byte
// request body and no response body. The output is the specification's
// byte layout, field by field.
func ExampleEncodeEntry() {
	leaf := &auditlog.Leaf{
		Index: 5,
		Entry: record.Entry{
			ExchangeID: "ex1", Phase: record.PhaseRefusal, Direction: "inbound",
			Partner: "p", Method: "GET", Target: "/fhir/Patient", Decision: record.Deny,
			Status: 403, RecordedAt: time.Unix(1, 0), Received: time.Unix(0, 999),
		},
		Request:   auditlog.Body{Size: 2, SHA256: [32]byte{0xaa}, CiphertextSHA256: [32]byte{0xbb}},
		KEKSHA256: [32]byte{0xcc},
	}
	enc, err := auditlog.EncodeEntry(leaf)
	if err != nil {
		panic(err)
	}
	s := hex.EncodeToString(enc)
	prefix := len("gatehouse.audit.entry/v4\n") * 2
	fmt.Printf("prefix   %q\n", enc[:prefix/2])
	fields := []struct {
		name string
		size int
	}{
		{"index", 8}, {"recorded", 8},
		{"exchange_id", 4 + 3}, {"phase", 4 + 7}, {"direction", 4 + 7}, {"partner", 4 + 1},
		{"cert_fingerprint", 4}, {"token_id", 4}, {"source", 4}, {"method", 4 + 3},
		{"target", 4 + 13}, {"interaction", 4}, {"decision", 4 + 4}, {"rule", 4},
		{"reason", 4}, {"request_type", 4},
		{"status", 4}, {"upstream_status", 4}, {"received", 8}, {"upstream_time", 8}, {"total_time", 8},
		{"request", 8 + 64}, {"response", 8}, {"wrapped_key", 32}, {"request_entry", 8},
		{"query_ct", 4}, {"kek_sha256", 32},
	}
	at := prefix
	for _, f := range fields {
		field := s[at : at+2*f.size]
		if len(field) > 40 {
			field = field[:40] + "..."
		}
		fmt.Printf("%-16s %s\n", f.name, field)
		at += 2 * f.size
	}
	fmt.Println("length  ", len(enc), "bytes; consumed", at/2)
	fmt.Println("leaf    ", tlog.RecordHash(enc))

	back, err := auditlog.DecodeEntry(enc)
	if err != nil {
		panic(err)
	}
	fmt.Println("decoded ", back.Entry.Seq, back.Entry.Partner, strings.ToUpper(string(back.Entry.Decision)))
	// Output:
	// prefix   "gatehouse.audit.entry/v4\n"
	// index            0000000000000005
	// recorded         000000003b9aca00
	// exchange_id      00000003657831
	// phase            000000077265667573616c
	// direction        00000007696e626f756e64
	// partner          0000000170
	// cert_fingerprint 00000000
	// token_id         00000000
	// source           00000000
	// method           00000003474554
	// target           0000000d2f666869722f50617469656e74
	// interaction      00000000
	// decision         0000000464656e79
	// rule             00000000
	// reason           00000000
	// request_type     00000000
	// status           00000193
	// upstream_status  00000000
	// received         00000000000003e7
	// upstream_time    0000000000000000
	// total_time       0000000000000000
	// request          0000000000000002aa0000000000000000000000...
	// response         0000000000000000
	// wrapped_key      0000000000000000000000000000000000000000...
	// request_entry    0000000000000000
	// query_ct         00000000
	// kek_sha256       cc00000000000000000000000000000000000000...
	// length   323 bytes; consumed 323
	// leaf     yuPsmk0xgC+39KnNVbIVybaqTnCa+f98wiWYkqYT7jk=
	// decoded  6 p DENY
}

// A checkpoint's note text, before signing.
func ExampleCheckpoint_Text() {
	c := auditlog.Checkpoint{Origin: "payer.example/gatehouse-audit", Size: 42, Hash: tlog.RecordHash(nil)}
	fmt.Print(c.Text())
	// Output:
	// payer.example/gatehouse-audit
	// 42
	// bjQLnP+zepicpUTmu3gKLHiQHT+zNzh2hRGjBhevoB0=
}

// The worked example of body encryption: one entry is appended, then its
// request body is decrypted by hand, following the package documentation
// and using only the standard library and age.
func Example_decryptBody() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "auditlog-example")
	defer os.RemoveAll(dir)
	db, err := storage.Open(ctx, filepath.Join(dir, "audit.db"))
	if err != nil {
		panic(err)
	}
	defer db.Close()
	skey, _, _ := note.GenerateKey(rand.Reader, "example.org/audit")
	signer, _ := note.NewSigner(skey)
	identity, _ := age.GenerateX25519Identity()
	l, err := auditlog.Open(ctx, db, auditlog.Options{
		Origin: "example.org/audit", Signer: signer, Recipients: []age.Recipient{identity.Recipient()},
	})
	if err != nil {
		panic(err)
	}
	_, err = l.Append(ctx, &record.Entry{
		ExchangeID: "ex1", Phase: record.PhaseRequest, Direction: "inbound", Partner: "p",
		Method: "POST", Target: "/fhir/Claim/$submit", Decision: record.Allow, Status: 200,
		RequestBody: []byte(`{"resourceType":"Bundle"}`),
	})
	if err != nil {
		panic(err)
	}
	l.Close(ctx)
	row, err := l.Row(ctx, 0)
	if err != nil {
		panic(err)
	}

	// 1. The wrapped data key names its key-encryption key.
	wrapped := row.WrappedKey
	kekID := binary.BigEndian.Uint64(wrapped[:8])
	fmt.Println("wrapped key:", len(wrapped), "bytes, KEK", kekID)

	// 2. The KEK is an age file to the recipients.
	var kekFile []byte
	if err := db.QueryRowContext(ctx, `SELECT wrapped FROM audit_keks WHERE id = $1`, kekID).Scan(&kekFile); err != nil {
		panic(err)
	}
	r, err := age.Decrypt(bytes.NewReader(kekFile), identity)
	if err != nil {
		panic(err)
	}
	kek, _ := io.ReadAll(r)

	// 3. The data key is AES-256-GCM under the KEK, bound to the origin,
	// the leaf index and the KEK id.
	str := func(b []byte, s string) []byte { return append(binary.BigEndian.AppendUint32(b, uint32(len(s))), s...) }
	index := uint64(row.Leaf.Index)
	ad := str([]byte("gatehouse.audit.key/v1\n"), "example.org/audit")
	ad = binary.BigEndian.AppendUint64(binary.BigEndian.AppendUint64(ad, index), kekID)
	dataKey, err := gcm(kek).Open(nil, wrapped[8:20], wrapped[20:], ad)
	if err != nil {
		panic(err)
	}

	// 4. The body is AES-256-GCM under the data key, bound to the origin,
	// the index, the exchange id and the part.
	ad = str([]byte("gatehouse.audit.body/v1\n"), "example.org/audit")
	ad = str(str(binary.BigEndian.AppendUint64(ad, index), "ex1"), "request")
	sealed := row.RequestCiphertext
	body, err := gcm(dataKey).Open(nil, sealed[:12], sealed[12:], ad)
	if err != nil {
		panic(err)
	}
	fmt.Printf("request body: %s\n", body)
	// Output:
	// wrapped key: 68 bytes, KEK 1
	// request body: {"resourceType":"Bundle"}
}

func gcm(key []byte) cipher.AEAD {
	block, err := aes.NewCipher(key)
	if err != nil {
		panic(err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		panic(err)
	}
	return aead
}
