package pagelink

import (
	"bytes"
	"encoding/base64"
	"errors"
	"strings"
	"testing"
	"time"
)

var testNow = time.Unix(1_800_000_000, 0)

func testSealer(t *testing.T, fill byte) *Sealer {
	t.Helper()
	s, err := New(bytes.Repeat([]byte{fill}, KeySize))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func testPage() Page {
	return Page{
		Search:  "ClaimResponse",
		Query:   "identifier=A1&status=active&_count=100",
		Link:    "/?_getpages=abc&_getpagesoffset=2",
		Expires: testNow.Add(30 * time.Minute).Unix(),
	}
}

func mustSeal(t *testing.T, s *Sealer, direction, partner string, p Page) string {
	t.Helper()
	tok, err := s.Seal(direction, partner, p)
	if err != nil {
		t.Fatalf("seal: %v", err)
	}
	return tok
}

func TestNewRejectsKeySize(t *testing.T) {
	for _, n := range []int{0, 16, 31, 33, 64} {
		if _, err := New(make([]byte, n)); err == nil {
			t.Errorf("New accepted a key of %d bytes", n)
		}
	}
}

func TestSealOpenRoundTrip(t *testing.T) {
	s := testSealer(t, 1)
	want := testPage()
	tok := mustSeal(t, s, "inbound", "demo-ehr", want)

	got, err := s.Open("inbound", "demo-ehr", tok, testNow)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	if got != want {
		t.Errorf("opened %+v, expected %+v", got, want)
	}
	if strings.Contains(tok, "_getpages") || strings.Contains(tok, "identifier") {
		t.Errorf("the token shows its content: %s", tok)
	}
}

func TestSealUsesFreshNonce(t *testing.T) {
	s := testSealer(t, 1)
	a := mustSeal(t, s, "inbound", "demo-ehr", testPage())
	b := mustSeal(t, s, "inbound", "demo-ehr", testPage())
	if a == b {
		t.Error("two seals of one page gave the same token")
	}
}

// Every byte of the sealed form is covered by the AEAD or checked as the
// version, so flipping any bit of any byte must make the token invalid.
func TestOpenRejectsTamperedByte(t *testing.T) {
	s := testSealer(t, 1)
	tok := mustSeal(t, s, "inbound", "demo-ehr", testPage())
	raw, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil {
		t.Fatal(err)
	}
	for i := range raw {
		for _, bit := range []byte{0x01, 0x80} {
			forged := bytes.Clone(raw)
			forged[i] ^= bit
			_, err := s.Open("inbound", "demo-ehr", base64.RawURLEncoding.EncodeToString(forged), testNow)
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("byte %d xor %#x: error %v, expected ErrInvalid", i, bit, err)
			}
		}
	}
}

func TestOpenRejectsExpired(t *testing.T) {
	s := testSealer(t, 1)
	p := testPage()
	tok := mustSeal(t, s, "inbound", "demo-ehr", p)
	expires := time.Unix(p.Expires, 0)

	if _, err := s.Open("inbound", "demo-ehr", tok, expires.Add(-time.Second)); err != nil {
		t.Errorf("one second before expiry: %v", err)
	}
	if _, err := s.Open("inbound", "demo-ehr", tok, expires); !errors.Is(err, ErrExpired) {
		t.Errorf("at expiry: error %v, expected ErrExpired", err)
	}
	got, err := s.Open("inbound", "demo-ehr", tok, expires.Add(time.Hour))
	if !errors.Is(err, ErrExpired) {
		t.Errorf("after expiry: error %v, expected ErrExpired", err)
	}
	if got != (Page{}) {
		t.Errorf("an expired token returned its page %+v", got)
	}
}

func TestOpenRejectsWrongKey(t *testing.T) {
	tok := mustSeal(t, testSealer(t, 1), "inbound", "demo-ehr", testPage())
	if _, err := testSealer(t, 2).Open("inbound", "demo-ehr", tok, testNow); !errors.Is(err, ErrInvalid) {
		t.Errorf("error %v, expected ErrInvalid", err)
	}
}

func TestOpenRejectsOtherPartnerOrDirection(t *testing.T) {
	s := testSealer(t, 1)
	tok := mustSeal(t, s, "inbound", "demo-ehr", testPage())
	cases := []struct{ name, direction, partner string }{
		{"other partner", "inbound", "other-ehr"},
		{"other direction", "outbound", "demo-ehr"},
		// The zero byte after each field keeps these apart.
		{"partner moved into direction", "inbounddemo-ehr", ""},
		{"partner prefix", "inbound", "demo"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if _, err := s.Open(c.direction, c.partner, tok, testNow); !errors.Is(err, ErrInvalid) {
				t.Errorf("error %v, expected ErrInvalid", err)
			}
		})
	}
}

func TestOpenRejectsMalformed(t *testing.T) {
	s := testSealer(t, 1)
	tok := mustSeal(t, s, "inbound", "demo-ehr", testPage())
	raw, _ := base64.RawURLEncoding.DecodeString(tok)
	otherVersion := bytes.Clone(raw)
	otherVersion[0] = version + 1

	cases := []struct{ name, token string }{
		{"empty", ""},
		{"truncated by one character", tok[:len(tok)-1]},
		{"truncated to the header", base64.RawURLEncoding.EncodeToString(raw[:1+12+16])},
		{"last byte cut", base64.RawURLEncoding.EncodeToString(raw[:len(raw)-1])},
		{"padded", tok + strings.Repeat("=", (4-len(tok)%4)%4+4)},
		{"standard alphabet", strings.NewReplacer("-", "+", "_", "/").Replace(tok) + "+/"},
		{"trailing data", tok + "AAAA"},
		{"other version", base64.RawURLEncoding.EncodeToString(otherVersion)},
		{"oversized", strings.Repeat("A", MaxTokenLength+1)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if _, err := s.Open("inbound", "demo-ehr", c.token, testNow); !errors.Is(err, ErrInvalid) {
				t.Errorf("error %v, expected ErrInvalid", err)
			}
		})
	}
}

// Seal must never return a token that Open rejects for its length.
func TestSealRejectsTooLong(t *testing.T) {
	s := testSealer(t, 1)
	p := testPage()
	// The JSON of p outside Query, the header, the tag and base64 take
	// the rest of the cap.
	p.Query = strings.Repeat("x", MaxTokenLength*3/4)
	if tok, err := s.Seal("inbound", "demo-ehr", p); !errors.Is(err, ErrTooLong) {
		t.Fatalf("seal of %d query bytes: error %v, token of %d bytes; expected ErrTooLong", len(p.Query), err, len(tok))
	}

	// The longest page that seals gives a token Open accepts.
	lo, hi := 0, len(p.Query)
	for lo < hi {
		mid := (lo + hi + 1) / 2
		p.Query = strings.Repeat("x", mid)
		if _, err := s.Seal("inbound", "demo-ehr", p); err == nil {
			lo = mid
		} else {
			hi = mid - 1
		}
	}
	p.Query = strings.Repeat("x", lo)
	tok := mustSeal(t, s, "inbound", "demo-ehr", p)
	if len(tok) > MaxTokenLength {
		t.Errorf("token of %d bytes, above MaxTokenLength", len(tok))
	}
	if _, err := s.Open("inbound", "demo-ehr", tok, testNow); err != nil {
		t.Errorf("the longest token that seals does not open: %v", err)
	}
}

// A query of "&"-separated parameters must not grow sixfold in the token.
func TestSealKeepsAmpersands(t *testing.T) {
	s := testSealer(t, 1)
	p := testPage()
	p.Link = "/?" + strings.Repeat("a=1&", 2<<10) // the 8 KiB an upstream link may have
	p.Query = strings.Repeat("b=2&", 2<<10)
	tok := mustSeal(t, s, "inbound", "demo-ehr", p)
	got, err := s.Open("inbound", "demo-ehr", tok, testNow)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	if got != p {
		t.Error("the page did not round-trip")
	}
}

func FuzzOpen(f *testing.F) {
	s, err := New(bytes.Repeat([]byte{1}, KeySize))
	if err != nil {
		f.Fatal(err)
	}
	tok, err := s.Seal("inbound", "demo-ehr", testPage())
	if err != nil {
		f.Fatal(err)
	}
	f.Add(tok)
	f.Add("")
	f.Fuzz(func(t *testing.T, token string) {
		p, err := s.Open("inbound", "demo-ehr", token, testNow)
		if err != nil && p != (Page{}) {
			t.Errorf("error %v with page %+v", err, p)
		}
	})
}
