package cadir

import (
	"crypto/x509"
	"encoding/json"
	"fmt"
	"os"
	"time"
)

// Index is the content of index.json.
type Index struct {
	Version int `json:"version"`
	// CRLNumber is the number of the last CRL written.
	CRLNumber int64 `json:"crl_number"`
	// Certificates lists every issued certificate, oldest first.
	Certificates []Record `json:"certificates"`
}

// Record is one issued certificate.
type Record struct {
	// Serial is the serial number in lower-case hexadecimal.
	Serial string `json:"serial"`
	// Kind is "server", "client", "admin" or "engine".
	Kind    string `json:"kind"`
	Subject string `json:"subject"`
	// Names are the subject alternative names: DNS names, IP addresses
	// and URIs.
	Names []string `json:"names"`
	// Usages are the extended key usages: "serverAuth" or "clientAuth".
	Usages            []string  `json:"usages"`
	NotBefore         time.Time `json:"not_before"`
	NotAfter          time.Time `json:"not_after"`
	FingerprintSHA256 string    `json:"fingerprint_sha256"`
	// RevokedAt is set once the certificate is revoked.
	RevokedAt *time.Time `json:"revoked_at,omitempty"`
	// RevocationReason is the CRL reason name, such as "keyCompromise".
	RevocationReason string `json:"revocation_reason,omitempty"`
}

// Revoked reports whether the certificate is revoked.
func (r Record) Revoked() bool { return r.RevokedAt != nil }

// LoadIndex reads index.json.
func (d *Dir) LoadIndex() (*Index, error) {
	data, err := os.ReadFile(d.file(IndexFile))
	if err != nil {
		return nil, fmt.Errorf("cadir: %w", err)
	}
	var idx Index
	if err := decodeStrict(data, &idx); err != nil {
		return nil, fmt.Errorf("cadir: %s: %w", d.file(IndexFile), err)
	}
	if idx.Version != formatVersion {
		return nil, fmt.Errorf("cadir: %s: unsupported format version %d", d.file(IndexFile), idx.Version)
	}
	return &idx, nil
}

func (d *Dir) saveIndex(idx *Index) error {
	data, err := json.MarshalIndent(idx, "", "  ")
	if err != nil {
		return fmt.Errorf("cadir: encoding the index: %w", err)
	}
	return writeAtomic(d.file(IndexFile), append(data, '\n'), 0o644)
}

// find returns the record with the given serial.
func (idx *Index) find(serial string) *Record {
	for i := range idx.Certificates {
		if idx.Certificates[i].Serial == serial {
			return &idx.Certificates[i]
		}
	}
	return nil
}

func newRecord(kind string, cert *x509.Certificate, fingerprint string) Record {
	r := Record{
		Serial:            cert.SerialNumber.Text(16),
		Kind:              kind,
		Subject:           cert.Subject.String(),
		NotBefore:         cert.NotBefore.UTC(),
		NotAfter:          cert.NotAfter.UTC(),
		FingerprintSHA256: fingerprint,
	}
	r.Names = append(r.Names, cert.DNSNames...)
	for _, ip := range cert.IPAddresses {
		r.Names = append(r.Names, ip.String())
	}
	for _, u := range cert.URIs {
		r.Names = append(r.Names, u.String())
	}
	for _, u := range cert.ExtKeyUsage {
		switch u {
		case x509.ExtKeyUsageServerAuth:
			r.Usages = append(r.Usages, "serverAuth")
		case x509.ExtKeyUsageClientAuth:
			r.Usages = append(r.Usages, "clientAuth")
		default:
			r.Usages = append(r.Usages, fmt.Sprintf("eku-%d", u))
		}
	}
	return r
}
