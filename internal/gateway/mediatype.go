package gateway

import (
	"fmt"
	"maps"
	"mime"
	"net/http"
	"slices"
	"strings"
	"unicode/utf8"
)

// unsupportedParameter names the parameter that makes an otherwise FHIR
// JSON media type unacceptable, such as charset "iso-8859-1", or returns ""
// when the media type itself is wrong.
func unsupportedParameter(ct string) string {
	mt, params, err := mime.ParseMediaType(ct)
	if err != nil || (mt != "application/fhir+json" && mt != "application/json") {
		return ""
	}
	for _, k := range slices.Sorted(maps.Keys(params)) {
		v := params[k]
		switch {
		case k == "charset" && strings.EqualFold(v, "utf-8"):
		case k == "fhirversion" && (v == "4.0" || v == "4.0.1"):
		default:
			return fmt.Sprintf("%s %q", k, clip(v, 40))
		}
	}
	return ""
}

// checkContentEncoding rejects a compressed or otherwise encoded body with
// 415 (RFC 7694), naming the encoding: strict mode reads only the bytes as
// sent, and decoding them here would add a decompression-bomb surface.
func checkContentEncoding(ex *exchange, hasBody bool) *Refusal {
	encodings := ex.r.Header.Values("Content-Encoding")
	if !hasBody || len(encodings) == 0 {
		return nil
	}
	value := strings.TrimSpace(strings.Join(encodings, ","))
	if strings.EqualFold(value, "identity") {
		return nil
	}
	return &Refusal{Status: http.StatusUnsupportedMediaType, Code: "not-supported", Rule: "payload.content-encoding",
		Message: fmt.Sprintf("Content-Encoding %q is not supported: send the request body uncompressed, without Content-Encoding", clip(value, 40))}
}

// clip shortens a client-supplied value quoted in a message to at most n
// bytes, cutting at a UTF-8 character boundary.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "..."
}
