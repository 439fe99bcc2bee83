package pas

import (
	"crypto/rand"
	"fmt"
	"time"
)

// NewUUID returns a random (version 4) UUID in lower case, the form PAS
// examples use for fullUrls and Bundle identifiers.
func NewUUID() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic("pas: crypto/rand failed: " + err.Error())
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// InquiryFor returns the PAS inquiry Bundle about the request Bundle
// request (BuildInquiry), with fresh random ids as an EHR would use and
// created at now.
func InquiryFor(request []byte, now time.Time) ([]byte, error) {
	req, err := ParseRequest(request)
	if err != nil {
		return nil, err
	}
	return BuildInquiry(req, InquiryParams{
		ClaimID:          NewUUID(),
		BundleIdentifier: Identifier{System: "urn:ietf:rfc:3986", Value: "urn:uuid:" + NewUUID()},
		Created:          now.UTC(),
	})
}
