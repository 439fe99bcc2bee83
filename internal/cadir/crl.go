package cadir

import (
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"math/big"
	"sort"
	"strings"
	"time"
)

// Reasons are the CRL reason codes (RFC 5280, 5.3.1) that Revoke accepts,
// by name. certificateHold and removeFromCRL are left out because a
// revocation here is permanent.
var Reasons = map[string]int{
	"unspecified":          0,
	"keyCompromise":        1,
	"cACompromise":         2,
	"affiliationChanged":   3,
	"superseded":           4,
	"cessationOfOperation": 5,
	"privilegeWithdrawn":   9,
}

// ReasonNames returns the accepted reason names, sorted.
func ReasonNames() []string {
	names := make([]string, 0, len(Reasons))
	for n := range Reasons {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Revoke marks the certificate with the given serial (hexadecimal, with or
// without colons, any case) as revoked for reason and writes a new CRL. The
// caller holds the lock.
func (d *Dir) Revoke(serial, reason string) (Record, error) {
	_, ok := Reasons[reason]
	if !ok {
		return Record{}, fmt.Errorf("cadir: unknown revocation reason %q (use one of %s)", reason, strings.Join(ReasonNames(), ", "))
	}
	key, err := normalizeSerial(serial)
	if err != nil {
		return Record{}, err
	}
	idx, err := d.LoadIndex()
	if err != nil {
		return Record{}, err
	}
	rec := idx.find(key)
	if rec == nil {
		return Record{}, fmt.Errorf("cadir: no certificate with serial %s in the index", key)
	}
	if rec.Revoked() {
		return *rec, fmt.Errorf("cadir: certificate %s was already revoked at %s", key, rec.RevokedAt.Format(time.RFC3339))
	}
	now := d.now().UTC().Truncate(time.Second)
	rec.RevokedAt, rec.RevocationReason = &now, reason
	if err := d.saveIndex(idx); err != nil {
		return Record{}, err
	}
	if _, err := d.WriteCRL(0); err != nil {
		return Record{}, err
	}
	return *rec, nil
}

// WriteCRL signs a CRL of every revoked certificate in the index with the
// next CRL number and writes it to crl.pem. validity is the time to
// NextUpdate. Zero means DefaultCRLValidity. It returns the CRL number. The
// caller holds the lock.
func (d *Dir) WriteCRL(validity time.Duration) (int64, error) {
	if validity == 0 {
		validity = DefaultCRLValidity
	}
	if validity < 0 {
		return 0, fmt.Errorf("cadir: CRL validity %s is negative", validity)
	}
	idx, err := d.LoadIndex()
	if err != nil {
		return 0, err
	}
	var entries []x509.RevocationListEntry
	for _, r := range idx.Certificates {
		if !r.Revoked() {
			continue
		}
		serial, _ := new(big.Int).SetString(r.Serial, 16)
		entries = append(entries, x509.RevocationListEntry{SerialNumber: serial, RevocationTime: *r.RevokedAt, ReasonCode: Reasons[r.RevocationReason]})
	}

	now := d.now().UTC()
	next := idx.CRLNumber + 1
	nextUpdate := now.Add(validity)
	if ca := d.Issuing.Certificate; nextUpdate.After(ca.NotAfter) {
		nextUpdate = ca.NotAfter
	}
	der, err := x509.CreateRevocationList(rand.Reader, &x509.RevocationList{
		Number:                    big.NewInt(next),
		ThisUpdate:                now.Add(-time.Minute),
		NextUpdate:                nextUpdate,
		RevokedCertificateEntries: entries,
	}, d.Issuing.Certificate, d.Issuing.Key)
	if err != nil {
		return 0, fmt.Errorf("cadir: signing the CRL: %w", err)
	}

	if err := writeAtomic(d.file(CRLFile), pem.EncodeToMemory(&pem.Block{Type: "X509 CRL", Bytes: der}), 0o644); err != nil {
		return 0, err
	}
	idx.CRLNumber = next
	if err := d.saveIndex(idx); err != nil {
		return 0, err
	}
	return next, nil
}

// normalizeSerial returns serial as lower-case hexadecimal without colons
// or leading zeros, the form the index uses.
func normalizeSerial(serial string) (string, error) {
	s := strings.ToLower(strings.ReplaceAll(serial, ":", ""))
	n, ok := new(big.Int).SetString(s, 16)
	if !ok || n.Sign() <= 0 || len(s) > 40 {
		return "", fmt.Errorf("cadir: invalid serial %q: use the hexadecimal serial that `gatehouse pki list` shows", serial)
	}
	return n.Text(16), nil
}
