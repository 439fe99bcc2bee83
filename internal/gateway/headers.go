package gateway

import (
	"net/http"
	"strconv"
	"strings"
)

// The caps below bound what a forwarded or released header can hold. They
// are estimates sized for what FHIR clients send: one version ETag and a
// short language list.
const (
	maxEntityTags          = 1
	maxIDLength            = 64 // FHIR R4 id: [A-Za-z0-9\-\.]{1,64}
	maxAcceptLanguageBytes = 128
	maxLanguageRanges      = 8
)

// checkForwardedHeaders parses Accept-Language, If-Match, If-None-Match and
// If-Modified-Since strictly and stores the canonical encoding of each in
// ex.forwardHeaders, which is all of them the target receives. The record
// does not contain these headers, so the target must not get the
// sender's bytes: a free-form value would carry data past the record.
// A malformed value is rejected with 400, naming the header but not its
// value.
func checkForwardedHeaders(ex *exchange) *Refusal {
	out := http.Header{}
	parsers := []struct {
		name  string
		parse func(lines []string) (string, bool)
		want  string
	}{
		{"If-Match", func(l []string) (string, bool) { return canonicalETags(l, false) },
			`one FHIR version ETag, W/"<versionId>"`},
		{"If-None-Match", func(l []string) (string, bool) { return canonicalETags(l, true) },
			`"*" or one FHIR version ETag, W/"<versionId>"`},
		{"If-Modified-Since", canonicalHTTPDate, "one HTTP-date, such as " + http.TimeFormat},
		{"Accept-Language", canonicalAcceptLanguage,
			"at most 8 language tags (language, optional script and region), each with an optional q value, in 128 bytes"},
	}
	for _, p := range parsers {
		lines := ex.r.Header.Values(p.name)
		if len(lines) == 0 {
			continue
		}
		v, ok := p.parse(lines)
		if !ok {
			return &Refusal{Status: http.StatusBadRequest, Code: "invalid", Rule: "request.header-invalid",
				Message: "the " + p.name + " header is invalid: send " + p.want}
		}
		out.Set(p.name, v)
	}
	ex.forwardHeaders = out
	return nil
}

// canonicalETags parses an If-Match or If-None-Match field, given as its
// field lines, as a list of weak ETags whose opaque part is a FHIR
// version id, or as "*" alone when star is set. It returns the list
// without duplicates, joined by ", ". Strong ETags are rejected because
// FHIR R4 servers send version ETags weak (http.html, "ETag").
func canonicalETags(lines []string, star bool) (string, bool) {
	elems := splitList(lines)
	if star && len(elems) == 1 && elems[0] == "*" {
		return "*", true
	}
	if len(elems) == 0 || len(elems) > maxEntityTags {
		return "", false
	}
	var tags []string
	seen := map[string]bool{}
	for _, e := range elems {
		id, ok := strings.CutPrefix(e, `W/"`)
		if !ok {
			return "", false
		}
		id, ok = strings.CutSuffix(id, `"`)
		if !ok || !isFHIRID(id) {
			return "", false
		}
		if !seen[id] {
			seen[id] = true
			tags = append(tags, `W/"`+id+`"`)
		}
	}
	return strings.Join(tags, ", "), true
}

// isFHIRID reports whether s is a FHIR R4 id, the type of Resource.id and
// Meta.versionId.
func isFHIRID(s string) bool {
	if len(s) == 0 || len(s) > maxIDLength {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !isAlnum(c) && c != '-' && c != '.' {
			return false
		}
	}
	return true
}

// canonicalHTTPDate parses a field of one line, such as If-Modified-Since
// or Last-Modified, as an HTTP-date in any of the three forms
// http.ParseTime accepts. It returns the date in the IMF-fixdate form of
// http.TimeFormat.
func canonicalHTTPDate(lines []string) (string, bool) {
	if len(lines) != 1 {
		return "", false
	}
	t, err := http.ParseTime(lines[0])
	if err != nil {
		return "", false
	}
	return t.UTC().Format(http.TimeFormat), true
}

// canonicalAcceptLanguage parses an Accept-Language field (RFC 9110
// section 12.5.4) and returns it re-encoded. Each range is written in
// BCP 47 case (language lower case, script title case, region upper
// case), with a q value only when below 1 and without trailing zeros.
// Later duplicates are dropped and ranges are joined by ", ".
//
// It accepts a subset of language ranges: "*" or a language of 2 or 3
// letters, an optional 4-letter script and an optional region of 2
// letters or 3 digits. Variants, extensions and private-use subtags are
// rejected, because any 1-8 character subtag would let a sender write
// its own data there.
func canonicalAcceptLanguage(lines []string) (string, bool) {
	elems, ok := languageList(lines)
	if !ok {
		return "", false
	}
	var ranges []string
	seen := map[string]bool{}
	for _, e := range elems {
		tag, params, hasParams := strings.Cut(e, ";")
		tag, ok := canonicalLanguageRange(strings.TrimRight(tag, " \t"))
		if !ok {
			return "", false
		}
		text := tag
		if hasParams {
			q, ok := parseWeight(strings.Trim(params, " \t"))
			if !ok {
				return "", false
			}
			if q < 1 {
				// A qvalue has at most three decimals, so the shortest
				// form of the float is the qvalue without trailing zeros.
				text += ";q=" + strconv.FormatFloat(q, 'f', -1, 64)
			}
		}
		if !seen[tag] {
			seen[tag] = true
			ranges = append(ranges, text)
		}
	}
	return strings.Join(ranges, ", "), true
}

// canonicalLanguageRange returns s in BCP 47 case if it is "*" or
// language[-script][-region] as canonicalAcceptLanguage describes.
func canonicalLanguageRange(s string) (string, bool) {
	if s == "*" {
		return s, true
	}
	subtags := strings.Split(s, "-")
	lang := subtags[0]
	if len(lang) < 2 || len(lang) > 3 || !isAlpha(lang) {
		return "", false
	}
	out := []string{strings.ToLower(lang)}
	rest := subtags[1:]
	if len(rest) > 0 && len(rest[0]) == 4 && isAlpha(rest[0]) {
		out = append(out, strings.ToUpper(rest[0][:1])+strings.ToLower(rest[0][1:]))
		rest = rest[1:]
	}
	if len(rest) > 0 {
		region := rest[0]
		switch {
		case len(region) == 2 && isAlpha(region):
			out = append(out, strings.ToUpper(region))
		case len(region) == 3 && isDigits(region):
			out = append(out, region)
		default:
			return "", false
		}
		rest = rest[1:]
	}
	if len(rest) > 0 {
		return "", false
	}
	return strings.Join(out, "-"), true
}

// parseWeight parses a weight parameter, "q=" and a qvalue (RFC 9110
// section 12.4.2), with the name in either case.
func parseWeight(s string) (float64, bool) {
	name, value, ok := strings.Cut(s, "=")
	if !ok || (name != "q" && name != "Q") {
		return 0, false
	}
	return parseQValue(value)
}

// splitList splits field lines into the elements of an HTTP list
// (RFC 9110 section 5.6.1), trimming optional whitespace. An empty
// element makes the list invalid, so it returns nil.
func splitList(lines []string) []string {
	var elems []string
	for _, l := range lines {
		for _, e := range strings.Split(l, ",") {
			e = strings.Trim(e, " \t")
			if e == "" {
				return nil
			}
			elems = append(elems, e)
		}
	}
	return elems
}

func isAlnum(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
}

func isAlpha(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z') {
			return false
		}
	}
	return true
}

func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// releasedHeaders returns the ETag, Last-Modified, Content-Language and
// Location headers of the target's response in the form the sender of the
// request receives, and the names of the headers it dropped. The record
// does not contain them, so each is released only as the canonical
// encoding of a strict parse. The grammars are one weak version ETag, an
// HTTP-date, language tags, and a Location that rewriteLocation maps to a
// resource or version under the gateway's base. A header outside its
// grammar is dropped rather than the response withheld, because the
// response itself is recorded and valid. Content-Type is released
// separately, in the form releasedJSONType returns.
func releasedHeaders(header http.Header, t *target) (http.Header, []string) {
	out := http.Header{}
	var dropped []string
	parsers := []struct {
		name  string
		parse func(lines []string) (string, bool)
	}{
		{"ETag", canonicalETag},
		{"Last-Modified", canonicalHTTPDate},
		{"Content-Language", canonicalContentLanguage},
		{"Location", func(lines []string) (string, bool) {
			if len(lines) != 1 {
				return "", false
			}
			loc := rewriteLocation(lines[0], t)
			return loc, loc != ""
		}},
	}
	for _, p := range parsers {
		lines := header.Values(p.name)
		if len(lines) == 0 {
			continue
		}
		v, ok := p.parse(lines)
		if !ok {
			dropped = append(dropped, p.name)
			continue
		}
		out.Set(p.name, v)
	}
	return out, dropped
}

// canonicalETag parses an ETag field as a single weak FHIR version ETag.
func canonicalETag(lines []string) (string, bool) {
	if len(lines) != 1 || strings.Contains(lines[0], ",") {
		return "", false
	}
	return canonicalETags(lines, false)
}

// languageList splits the lines of a language field into its elements,
// and reports false when the field is empty or larger than the caps.
func languageList(lines []string) ([]string, bool) {
	total := 0
	for _, l := range lines {
		total += len(l)
	}
	if total > maxAcceptLanguageBytes {
		return nil, false
	}
	elems := splitList(lines)
	if len(elems) == 0 || len(elems) > maxLanguageRanges {
		return nil, false
	}
	return elems, true
}

// canonicalContentLanguage parses a Content-Language field (RFC 9110
// section 8.5) as language tags in the subset canonicalAcceptLanguage
// accepts, without "*" and q values, and returns them in BCP 47 case,
// once each, joined by ", ".
func canonicalContentLanguage(lines []string) (string, bool) {
	elems, ok := languageList(lines)
	if !ok {
		return "", false
	}
	var tags []string
	seen := map[string]bool{}
	for _, e := range elems {
		tag, ok := canonicalLanguageRange(e)
		if !ok || tag == "*" {
			return "", false
		}
		if !seen[tag] {
			seen[tag] = true
			tags = append(tags, tag)
		}
	}
	return strings.Join(tags, ", "), true
}
