package certreload

import (
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"math/big"
	"strconv"
	"testing"
	"time"

	"github.com/gatehouse-health/gatehouse/internal/pki"
)

// BenchmarkVerifyConnection measures the CRL check that the gateway runs
// on every request as well as at the handshake: a partner leaf under an
// issuing CA under a root, with a CRL of the issuing CA that lists n other
// serials.
func BenchmarkVerifyConnection(b *testing.B) {
	root, err := pki.NewRoot(pki.RootOptions{CommonName: "bench root", PathLen: 1})
	if err != nil {
		b.Fatal(err)
	}
	issuing, err := root.NewIntermediate(pki.IntermediateOptions{CommonName: "bench issuing"})
	if err != nil {
		b.Fatal(err)
	}
	c, err := issuing.IssueClient(pki.ClientOptions{PartnerID: "acme"})
	if err != nil {
		b.Fatal(err)
	}
	tc, err := c.TLSCertificate()
	if err != nil {
		b.Fatal(err)
	}
	for _, n := range []int{0, 100, 10000} {
		b.Run(strconv.Itoa(n), func(b *testing.B) {
			list := &x509.RevocationList{Number: big.NewInt(1), ThisUpdate: time.Now().Add(-time.Hour), NextUpdate: time.Now().Add(24 * time.Hour)}
			for i := 0; i < n; i++ {
				s, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
				list.RevokedCertificateEntries = append(list.RevokedCertificateEntries, x509.RevocationListEntry{SerialNumber: s, RevocationTime: time.Now()})
			}
			der, err := x509.CreateRevocationList(rand.Reader, list, issuing.Certificate, issuing.Key)
			if err != nil {
				b.Fatal(err)
			}
			parsed, err := x509.ParseRevocationList(der)
			if err != nil {
				b.Fatal(err)
			}
			h := &Holder{now: time.Now}
			m := &material{crls: &crlSet{lists: []*crlEntry{newCRLEntry(parsed)}}}
			h.current.Store(m)
			cs := tls.ConnectionState{VerifiedChains: [][]*x509.Certificate{{tc.Leaf, issuing.Certificate, root.Certificate}}}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if err := h.VerifyConnection(cs); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
