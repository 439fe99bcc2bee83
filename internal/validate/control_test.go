package validate

import "testing"

// The FHIR R4 datatypes page states that strings shall not contain code points
// below U+0020 other than tab, CR and LF, whether written raw or as a JSON
// \u escape. A NUL that passes strict mode reaches the upstream, where a C
// library or PostgreSQL text column may truncate or reject it.
func TestControlCharactersInStrings(t *testing.T) {
	tests := []struct {
		name string
		doc  string
		path string
	}{
		{"NUL in family name", `{"resourceType":"Patient","name":[{"family":"A\u0000B"}]}`, "Patient.name[0].family"},
		{"SOH in identifier value", `{"resourceType":"Patient","identifier":[{"system":"http://x","value":"A\u0001B"}]}`, "Patient.identifier[0].value"},
		{"ESC in code", `{"resourceType":"Patient","gender":"ma\u001ble"}`, "Patient.gender"},
	}
	v := shared(t)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res, err := v.Validate([]byte(tc.doc))
			if err != nil {
				t.Fatal(err)
			}
			if res.Valid() {
				t.Fatalf("accepted a control character at %s", tc.path)
			}
			if !hasIssue(res, "error", tc.path, "") {
				t.Errorf("no error at %s; issues: %+v", tc.path, res.Issues)
			}
		})
	}
}

// TestHasControlCharacterWordScan puts every byte value at every offset
// of a 19-byte string, so each lands in a full word and in the tail, next
// to bytes above 0x7F that a faulty word test could confuse with it.
func TestHasControlCharacterWordScan(t *testing.T) {
	base := []byte("ab\u00e9\u00e9 \t\r\nxyz\u00ff0123")
	for c := range 256 {
		for i := range base {
			s := append([]byte(nil), base...)
			s[i] = byte(c)
			want := c < 0x20 && c != '\t' && c != '\r' && c != '\n'
			if got := hasControlCharacter(string(s)); got != want {
				t.Errorf("byte %#02x at offset %d: hasControlCharacter = %v, want %v", c, i, got, want)
			}
		}
	}
}

// TestUnescapedStringsMarked checks that the scanner and the decoder mark
// strings without escapes, and never a string with one. The mark lets the
// primitive check skip its control-character scan.
func TestUnescapedStringsMarked(t *testing.T) {
	const doc = `{"plain":"abc","escaped":"a\u0001b","quote":"a\"b"}`
	want := map[string]bool{"plain": true, "escaped": false, "quote": false}
	scanned := scanTree(doc, DefaultLimits, nil)
	if scanned == nil {
		t.Fatal("scanner rejected the document")
	}
	decoded, err := decodeTree([]byte(doc), doc, DefaultLimits, nil)
	if err != nil {
		t.Fatal(err)
	}
	for reader, root := range map[string]*jnode{"scanner": scanned, "decoder": decoded} {
		for name, unescaped := range want {
			if got := root.prop(name).unescaped; got != unescaped {
				t.Errorf("%s: %s.unescaped = %v, want %v", reader, name, got, unescaped)
			}
		}
	}
}
