package certreload

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/gatehouse-health/gatehouse/internal/pki"
	"github.com/gatehouse-health/gatehouse/internal/safefile"
	"github.com/gatehouse-health/gatehouse/internal/tlspolicy"
)

// maxFileSize caps each file read, far above any real chain, bundle or CRL
// of a private CA.
const maxFileSize = 4 << 20

// fileSet is the raw contents of the configured files and their combined
// SHA-256 digest.
type fileSet struct {
	cert, key, clientCAs, crl []byte
	partnerCAs                [][]byte // in the order of Options.PartnerCAFiles
	trust                     []byte   // the SetTrustFile bundle, if any
	digest                    [32]byte
}

// material is one generation of parsed, checked material.
type material struct {
	digest  [32]byte
	cert    *tls.Certificate
	caCerts []*x509.Certificate
	// caByFile holds the fingerprints of the CA certificates each client
	// CA file contributed to caCerts.
	caByFile map[string][][sha256.Size]byte
	crls     *crlSet
	expiries []Expiry

	// server is the configuration GetConfigForClient returns; nil without
	// a client CA file. Its session ticket keys are this generation's own.
	server *tls.Config
	// ticketMu guards ticketKeys and ticketRotated.
	ticketMu      sync.Mutex
	ticketKeys    [][32]byte
	ticketRotated time.Time
}

func (h *Holder) readFiles() (fileSet, error) {
	var fs fileSet
	var err error
	read := func(path string, dst *[]byte) {
		if err != nil || path == "" {
			return
		}
		// readCapped's error names the file already.
		if *dst, err = readCapped(path); err != nil && h.opts.Keys[path] != "" {
			err = fmt.Errorf("%s: %w", h.opts.Keys[path], err)
		}
	}
	read(h.opts.CertFile, &fs.cert)
	read(h.opts.KeyFile, &fs.key)
	read(h.opts.ClientCAFile, &fs.clientCAs)
	read(h.opts.CRLFile, &fs.crl)
	fs.partnerCAs = make([][]byte, len(h.opts.PartnerCAFiles))
	for i, path := range h.opts.PartnerCAFiles {
		read(path, &fs.partnerCAs[i])
	}
	if h.trust != nil {
		read(h.trust.path, &fs.trust)
	}
	if err != nil {
		return fileSet{}, err
	}
	fs.digest = fs.sum()
	return fs, nil
}

// sum returns the SHA-256 digest of every file's content, each prefixed
// with its length so that moving bytes between files changes the digest.
func (fs *fileSet) sum() [32]byte {
	d := sha256.New()
	for _, part := range append([][]byte{fs.cert, fs.key, fs.clientCAs, fs.crl, fs.trust}, fs.partnerCAs...) {
		fmt.Fprintf(d, "%d:", len(part))
		d.Write(part)
	}
	var out [32]byte
	copy(out[:], d.Sum(nil))
	return out
}

// readCapped reads path, failing if it is larger than maxFileSize bytes.
func readCapped(path string) ([]byte, error) {
	data, err := safefile.ReadCapped(path, maxFileSize)
	if err != nil {
		return nil, fmt.Errorf("certreload: %w", err)
	}
	return data, nil
}

// build parses and checks fs. prev, the generation in use, is nil at
// start-up; with it, a CRL may not go back to a lower number.
func (h *Holder) build(fs fileSet, prev *material) (*material, error) {
	now := h.now()
	m := &material{digest: fs.digest}
	var err error
	if m.cert, err = h.parseKeyPair(fs, now); err != nil {
		return nil, err
	}
	if h.trust != nil {
		if err := h.trust.check(m.cert, fs.trust); err != nil {
			return nil, fmt.Errorf("certreload: %s: %w", h.name(h.trust.path), err)
		}
	}
	m.expiries = append(m.expiries, Expiry{Item: "certificate", File: h.opts.CertFile,
		Subject: m.cert.Leaf.Subject.String(), NotAfter: m.cert.Leaf.NotAfter})
	if h.opts.ClientCAFile == "" {
		return m, nil
	}

	if err := m.addClientCAs(h.opts.ClientCAFile, h.name(h.opts.ClientCAFile), fs.clientCAs); err != nil {
		return nil, err
	}
	for i, path := range h.opts.PartnerCAFiles {
		if err := m.addClientCAs(path, h.name(path), fs.partnerCAs[i]); err != nil {
			return nil, err
		}
	}
	if h.opts.CRLFile != "" {
		if m.crls, err = parseCRLs(h.name(h.opts.CRLFile), fs.crl); err != nil {
			return nil, err
		}
		if prev != nil && prev.crls != nil {
			if err := m.crls.checkNotOlder(prev.crls); err != nil {
				return nil, fmt.Errorf("certreload: %s: %w", h.name(h.opts.CRLFile), err)
			}
		}
		m.expiries = append(m.expiries, m.crls.expiries(h.opts.CRLFile)...)
	}
	if err := h.buildServerConfig(m); err != nil {
		return nil, err
	}
	return m, nil
}

// name returns path preceded by its configuration key from Options.Keys,
// or path alone.
func (h *Holder) name(path string) string {
	if key := h.opts.Keys[path]; key != "" {
		return key + " " + path
	}
	return path
}

func (h *Holder) parseKeyPair(fs fileSet, now time.Time) (*tls.Certificate, error) {
	cert, err := tls.X509KeyPair(fs.cert, fs.key)
	if err != nil {
		// The error can describe the key's PEM structure but never quotes
		// key bytes.
		return nil, fmt.Errorf("certreload: %s and %s: %w", h.name(h.opts.CertFile), h.name(h.opts.KeyFile), err)
	}
	leaf := cert.Leaf
	if now.Before(leaf.NotBefore) || now.After(leaf.NotAfter) {
		return nil, fmt.Errorf("certreload: %s: certificate %q is not valid now (valid from %s to %s)",
			h.name(h.opts.CertFile), leaf.Subject.CommonName, leaf.NotBefore.UTC().Format(time.RFC3339), leaf.NotAfter.UTC().Format(time.RFC3339))
	}
	return &cert, nil
}

// addClientCAs adds the CA certificates of one client CA file to the trust
// pool of m. name is how errors refer to the file.
func (m *material) addClientCAs(path, name string, data []byte) error {
	certs, err := parseClientCAs(name, data)
	if err != nil {
		return err
	}
	if m.caByFile == nil {
		m.caByFile = map[string][][sha256.Size]byte{}
	}
	for _, ca := range certs {
		m.caCerts = append(m.caCerts, ca)
		m.caByFile[path] = append(m.caByFile[path], sha256.Sum256(ca.Raw))
		m.expiries = append(m.expiries, Expiry{Item: "client-ca", File: path,
			Subject: ca.Subject.String(), NotAfter: ca.NotAfter})
	}
	return nil
}

func parseClientCAs(path string, data []byte) ([]*x509.Certificate, error) {
	certs, err := pki.ParseCertificatesPEM(data)
	if err != nil {
		return nil, fmt.Errorf("certreload: %s: %w", path, err)
	}
	for _, c := range certs {
		if !c.BasicConstraintsValid || !c.IsCA {
			return nil, fmt.Errorf("certreload: %s: certificate %q is not a CA certificate", path, c.Subject.CommonName)
		}
	}
	return certs, nil
}

func (h *Holder) buildServerConfig(m *material) error {
	pool := x509.NewCertPool()
	for _, c := range m.caCerts {
		pool.AddCert(c)
	}
	conf, err := tlspolicy.Server(*m.cert, pool)
	if err != nil {
		return err
	}
	conf.VerifyConnection = h.VerifyConnection
	m.server = conf
	return nil
}

// rotateTicketKeys puts a new session ticket key first on m's server
// configuration and keeps the previous one for decrypting, so tickets
// last at most two rotation periods.
func (m *material) rotateTicketKeys(now time.Time, keep [][32]byte) error {
	var key [32]byte
	if _, err := rand.Read(key[:]); err != nil {
		return fmt.Errorf("certreload: generating a session ticket key: %w", err)
	}
	m.ticketMu.Lock()
	defer m.ticketMu.Unlock()
	keys := [][32]byte{key}
	if len(keep) > 0 {
		keys = append(keys, keep[0])
	}
	m.ticketKeys, m.ticketRotated = keys, now
	m.server.SetSessionTicketKeys(keys)
	return nil
}

// install makes m the current generation with new session ticket keys, so
// that no session from an earlier generation resumes. A caller holds h.mu,
// or is New.
func (h *Holder) install(m *material) error {
	if m.server != nil {
		prev := h.current.Load()
		if h.keepTicketKeys && prev != nil && prev.server != nil {
			m.ticketKeys, m.ticketRotated = prev.ticketKeys, prev.ticketRotated
			m.server.SetSessionTicketKeys(m.ticketKeys)
		} else if err := m.rotateTicketKeys(h.now(), nil); err != nil {
			return err
		}
	}
	h.current.Store(m)
	h.generation.Add(1)
	return nil
}

var errNoVerifiedChain = errors.New("certreload: the connection has no verified client certificate chain")
