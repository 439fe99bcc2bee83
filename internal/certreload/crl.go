package certreload

import (
	"bytes"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"sync"
	"time"
)

const pemTypeCRL = "X509 CRL"

// RevokedError reports a client certificate that its issuer's CRL lists.
type RevokedError struct {
	Subject   string
	Serial    *big.Int
	RevokedAt time.Time
	// Reason is the CRL reason code (RFC 5280, 5.3.1); 0 when absent.
	Reason int
}

func (e *RevokedError) Error() string {
	return fmt.Sprintf("certreload: certificate %q (serial %x) was revoked at %s",
		e.Subject, e.Serial, e.RevokedAt.UTC().Format(time.RFC3339))
}

// crlSet is the parsed CRLs of one generation, at most one per issuer.
type crlSet struct {
	lists []*crlEntry
	// verified caches signature checks: verifyKey to error (nil for a
	// good signature).
	verified sync.Map
}

type crlEntry struct {
	list    *x509.RevocationList
	revoked map[string]x509.RevocationListEntry
}

type verifyKey struct {
	index  int
	issuer [32]byte
}

// parseCRLs parses every "X509 CRL" PEM block in data. Another block type,
// no block at all, or two CRLs from the same issuer (sameIssuer) is an
// error.
func parseCRLs(path string, data []byte) (*crlSet, error) {
	s := &crlSet{}
	for n := 1; ; n++ {
		var block *pem.Block
		block, data = pem.Decode(data)
		if block == nil {
			break
		}
		if block.Type != pemTypeCRL {
			return nil, fmt.Errorf("certreload: %s: PEM block %d is %q, want %q", path, n, block.Type, pemTypeCRL)
		}
		list, err := x509.ParseRevocationList(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("certreload: %s: PEM block %d: %w", path, n, err)
		}
		if s.byIssuer(list) != nil {
			return nil, fmt.Errorf("certreload: %s: two CRLs from issuer %q; keep only the newest", path, list.Issuer)
		}
		s.lists = append(s.lists, newCRLEntry(list))
	}
	if len(s.lists) == 0 {
		return nil, fmt.Errorf("certreload: %s: no %q PEM block found", path, pemTypeCRL)
	}
	return s, nil
}

// LoadCRLs reads a CRL file as the gateway reads tls.crl_file: every PEM
// block an "X509 CRL", at least one, and no two from the same issuer. The
// signatures are not checked here, because the issuers are not known. It
// reads at most maxFileSize bytes, as the gateway does, and does not block
// on a FIFO.
func LoadCRLs(path string) ([]*x509.RevocationList, error) {
	data, err := readCapped(path)
	if err != nil {
		return nil, err
	}
	s, err := parseCRLs(path, data)
	if err != nil {
		return nil, err
	}
	lists := make([]*x509.RevocationList, len(s.lists))
	for i, e := range s.lists {
		lists[i] = e.list
	}
	return lists, nil
}

func newCRLEntry(list *x509.RevocationList) *crlEntry {
	e := &crlEntry{list: list, revoked: make(map[string]x509.RevocationListEntry, len(list.RevokedCertificateEntries))}
	for _, r := range list.RevokedCertificateEntries {
		e.revoked[r.SerialNumber.String()] = r
	}
	return e
}

// byIssuer returns the CRL of s from the issuer of list.
func (s *crlSet) byIssuer(list *x509.RevocationList) *crlEntry {
	for _, e := range s.lists {
		if sameIssuer(e.list, list) {
			return e
		}
	}
	return nil
}

// sameIssuer reports whether two CRLs come from one CA: the same issuer
// name and, when both carry an authority key identifier, the same key.
// Two CAs may share a name, as two runs of `gatehouse pki init` without
// --org give them, and then each CRL applies to its own CA (forIssuer).
func sameIssuer(a, b *x509.RevocationList) bool {
	if !bytes.Equal(a.RawIssuer, b.RawIssuer) {
		return false
	}
	return len(a.AuthorityKeyId) == 0 || len(b.AuthorityKeyId) == 0 || bytes.Equal(a.AuthorityKeyId, b.AuthorityKeyId)
}

// checkNotOlder returns an error if a CRL in s has a lower CRL number than
// prev's CRL from the same issuer, which would undo revocations.
func (s *crlSet) checkNotOlder(prev *crlSet) error {
	for _, old := range prev.lists {
		e := s.byIssuer(old.list)
		if e == nil || old.list.Number == nil || e.list.Number == nil {
			continue
		}
		if e.list.Number.Cmp(old.list.Number) < 0 {
			return fmt.Errorf("CRL number of issuer %q went back from %s to %s", old.list.Issuer, old.list.Number, e.list.Number)
		}
	}
	return nil
}

func (s *crlSet) expiries(path string) []Expiry {
	out := make([]Expiry, 0, len(s.lists))
	for _, e := range s.lists {
		out = append(out, Expiry{Item: "crl", File: path, Subject: e.list.Issuer.String(), NotAfter: e.list.NextUpdate})
	}
	return out
}

// check checks one verified chain, leaf first. The leaf's issuer must have
// a current CRL with a valid signature that does not list the leaf. Each
// CA certificate above the leaf is checked too when the set has a CRL from
// its issuer.
// With leafCRL false, a leaf whose issuer has no CRL in the set passes.
func (s *crlSet) check(chain []*x509.Certificate, now time.Time, leafCRL bool) error {
	if len(chain) < 2 {
		return errors.New("certreload: the verified chain has no issuer for the client certificate")
	}
	for i := 0; i+1 < len(chain); i++ {
		cert, issuer := chain[i], chain[i+1]
		index, e := s.forIssuer(issuer)
		if e == nil {
			if i == 0 && leafCRL {
				return fmt.Errorf("certreload: no CRL from issuer %q of client certificate %q", issuer.Subject, cert.Subject)
			}
			continue
		}
		if err := s.verifySignature(index, e, issuer); err != nil {
			return err
		}
		if !e.list.NextUpdate.IsZero() && now.After(e.list.NextUpdate) {
			return fmt.Errorf("certreload: the CRL from issuer %q expired at %s; publish a new one",
				issuer.Subject, e.list.NextUpdate.UTC().Format(time.RFC3339))
		}
		if r, ok := e.revoked[cert.SerialNumber.String()]; ok {
			return &RevokedError{Subject: cert.Subject.String(), Serial: cert.SerialNumber, RevokedAt: r.RevocationTime, Reason: r.ReasonCode}
		}
	}
	return nil
}

// forIssuer returns the CRL issued by issuer: same issuer name and, when
// both carry key identifiers, the same key.
func (s *crlSet) forIssuer(issuer *x509.Certificate) (int, *crlEntry) {
	for i, e := range s.lists {
		if IssuedBy(e.list, issuer) {
			return i, e
		}
	}
	return -1, nil
}

// IssuedBy reports whether issuer is the CA that list names, as the
// gateway matches a CRL to a CA: the same raw name and, when both carry
// one, the same key identifier.
func IssuedBy(list *x509.RevocationList, issuer *x509.Certificate) bool {
	if !bytes.Equal(list.RawIssuer, issuer.RawSubject) {
		return false
	}
	return len(list.AuthorityKeyId) == 0 || len(issuer.SubjectKeyId) == 0 || bytes.Equal(list.AuthorityKeyId, issuer.SubjectKeyId)
}

func (s *crlSet) verifySignature(index int, e *crlEntry, issuer *x509.Certificate) error {
	key := verifyKey{index: index, issuer: sha256.Sum256(issuer.Raw)}
	if v, ok := s.verified.Load(key); ok {
		err, _ := v.(error)
		return err
	}
	var err error
	if issuer.KeyUsage != 0 && issuer.KeyUsage&x509.KeyUsageCRLSign == 0 {
		err = fmt.Errorf("certreload: issuer %q may not sign CRLs (no cRLSign key usage)", issuer.Subject)
	} else if sigErr := e.list.CheckSignatureFrom(issuer); sigErr != nil {
		err = fmt.Errorf("certreload: the CRL from issuer %q has an invalid signature: %w", issuer.Subject, sigErr)
	}
	s.verified.Store(key, err)
	return err
}

// VerifyConnection checks a server connection's client certificate, for
// tls.Config.VerifyConnection (ServerConfig sets it). crypto/tls calls it
// on full and resumed handshakes. It requires a verified chain and, with a
// CRL file, that no verified chain's leaf is revoked, using the CRLs
// current at the time of the handshake. A revoked leaf returns a
// *RevokedError.
func (h *Holder) VerifyConnection(cs tls.ConnectionState) error {
	err := h.verifyConnection(cs)
	if h.onVerify != nil {
		h.onVerify(cs, err)
	}
	return err
}

func (h *Holder) verifyConnection(cs tls.ConnectionState) error {
	return h.verifyChains(cs, true)
}

// VerifyRevocation checks a client certificate against the CRL file for a
// listener whose clients may chain to a CA that the file does not cover:
// the admin and outbound listeners, whose client CA files can differ from
// the partners'. A certificate is refused when its issuer's CRL in the
// file lists it or has expired. An issuer with no CRL in the file is not
// checked, so that administrators of a separately managed CA are not
// locked out of the kill switch. Like VerifyConnection, it applies the
// current CRLs to resumed connections too.
func (h *Holder) VerifyRevocation(cs tls.ConnectionState) error {
	return h.verifyChains(cs, false)
}

func (h *Holder) verifyChains(cs tls.ConnectionState, leafCRL bool) error {
	if len(cs.VerifiedChains) == 0 {
		return errNoVerifiedChain
	}
	m := h.current.Load()
	if m.crls == nil {
		return nil
	}
	now := h.now()
	for _, chain := range cs.VerifiedChains {
		if err := m.crls.check(chain, now, leafCRL); err != nil {
			return err
		}
	}
	return nil
}
