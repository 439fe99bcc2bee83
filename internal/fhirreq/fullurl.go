package fhirreq

import "strings"

// FoldFullURL returns url with its scheme and host (or, for a URN, the whole
// URN) in lower case and without trailing slashes. FHIR compares fullUrls
// as exact strings, but RFC 3986 makes scheme and host case-insensitive,
// RFC 4122 does the same for UUIDs, and some servers ignore a trailing
// slash, so a receiver may take both spellings as one resource.
//
// NOTE: other equivalent spellings, such as a default port or
// percent-encoded path characters, are not folded.
func FoldFullURL(url string) string {
	url = strings.TrimRight(url, "/")
	end := 0
	if i := strings.Index(url, "://"); i >= 0 {
		end = len(url)
		if j := strings.IndexByte(url[i+3:], '/'); j >= 0 {
			end = i + 3 + j
		}
	} else if len(url) >= 4 && strings.EqualFold(url[:4], "urn:") {
		end = len(url)
	}
	head := url[:end]
	if lower := strings.ToLower(head); lower != head {
		return lower + url[end:]
	}
	return url
}
