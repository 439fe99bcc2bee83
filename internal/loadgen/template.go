package loadgen

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
)

// Template is a serialized PAS request Bundle with two holes: the value of
// Bundle.identifier and the value of the Claim's first identifier. Fill
// writes them per request.
type Template struct {
	// Name names the source of the request, such as the Synthea file
	// and claim number, or the bundle file name.
	Name string
	// Items is the number of Claim items.
	Items int
	// parts contains the text before the first hole, between the holes and
	// after the second.
	parts [3][]byte
	// claimFirst is true when the Claim identifier's hole comes first.
	claimFirst bool
}

// Size returns the length of the filled Bundle for identifier values of
// n bytes each.
func (t *Template) Size(n int) int {
	return len(t.parts[0]) + len(t.parts[1]) + len(t.parts[2]) + 2*n
}

// Fill appends the Bundle with bundleID and claimID in place to dst and
// returns the extended slice. Both values are written inside JSON strings
// as given, so they must not need escaping.
func (t *Template) Fill(dst []byte, bundleID, claimID string) []byte {
	first, second := bundleID, claimID
	if t.claimFirst {
		first, second = claimID, bundleID
	}
	dst = append(dst, t.parts[0]...)
	dst = append(dst, first...)
	dst = append(dst, t.parts[1]...)
	dst = append(dst, second...)
	return append(dst, t.parts[2]...)
}

// markers are placeholder values written where the identifiers go. The
// random suffix keeps them from colliding with text of a user's bundle.
type markers struct {
	bundle, claim string
}

func newMarkers() markers {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic("loadgen: crypto/rand failed: " + err.Error())
	}
	suffix := hex.EncodeToString(b[:])
	return markers{bundle: "loadgen-bundle-slot-" + suffix, claim: "loadgen-claim-slot-" + suffix}
}

// errMarkers means the serialized Bundle does not hold each marker
// exactly once.
var errMarkers = errors.New("loadgen: the identifier placeholders were not found once each in the serialized Bundle")

// cut splits a serialized Bundle at the two markers, in whichever order
// they appear.
func (m markers) cut(name string, items int, doc []byte) (*Template, error) {
	b := []byte(`"` + m.bundle + `"`)
	c := []byte(`"` + m.claim + `"`)
	if bytes.Count(doc, b) != 1 || bytes.Count(doc, c) != 1 {
		return nil, fmt.Errorf("%s: %w", name, errMarkers)
	}
	t := &Template{Name: name, Items: items}
	first, second := b, c
	if bytes.Index(doc, c) < bytes.Index(doc, b) {
		first, second = c, b
		t.claimFirst = true
	}
	head, rest, _ := bytes.Cut(doc, first)
	mid, tail, _ := bytes.Cut(rest, second)
	// Keep the quotes around each value in the surrounding parts.
	t.parts[0] = append(bytes.Clone(head), '"')
	t.parts[1] = append(append([]byte{'"'}, mid...), '"')
	t.parts[2] = append([]byte{'"'}, tail...)
	return t, nil
}
