package fhirreq

import "strings"

// SortKey is one key of a _sort value.
type SortKey struct {
	// Descending is true when the key had a leading "-".
	Descending bool
	// Links is the key's parameter name split as a search parameter name
	// is: one link for a plain parameter, more for a chain
	// (patient:Patient.name). A _has path is one link named "_has" whose
	// modifier contains the rest of the path.
	Links []Link
}

// Chained reports whether the key names a chain.
func (k SortKey) Chained() bool { return len(k.Links) > 1 }

// Has reports whether the key is a _has path.
func (k SortKey) Has() bool { return k.Links[0].Name == "_has" }

// ParseSort parses a _sort value strictly: comma-separated search
// parameter names, each with an optional leading "-". A key parses as a
// search parameter name does, so that chains and _has paths reach the
// policy as such, the same features a search parameter can name. An empty
// key, a modifier on the sorted parameter (code:text) or any other
// character is an error.
func ParseSort(value string) ([]SortKey, error) {
	invalid := badQuery(`_sort must be comma-separated search parameter names, each with an optional leading "-"`)
	var keys []SortKey
	for key := range strings.SplitSeq(value, ",") {
		var k SortKey
		key, k.Descending = strings.CutPrefix(key, "-")
		if key == "" || !validKey(key) {
			return nil, invalid
		}
		if path, ok := strings.CutPrefix(key, "_has:"); ok {
			if strings.Contains(path, ".") || path == "" {
				return nil, invalid
			}
			k.Links = []Link{{Name: "_has", Modifier: path}}
			keys = append(keys, k)
			continue
		}
		links, err := parseLinks(nil, key)
		if err != nil || links[len(links)-1].Modifier != "" {
			return nil, invalid
		}
		k.Links = links
		keys = append(keys, k)
	}
	return keys, nil
}
