// Package certreload keeps TLS certificates, private keys, client CA
// bundles and certificate revocation lists (CRLs) current without
// restarting the listener that uses them.
//
// A Holder reads its files at start-up and then polls them every
// Options.Interval (no file-system notification is used). It hashes their
// contents, and when the hash changes it parses the new set. The new set
// replaces the old one only if everything in it parses, the private key
// matches the certificate, the certificate is valid now and no CRL goes
// back to a lower CRL number. Otherwise the old set stays in use, and the
// error is logged once per distinct content. Handshakes that start after a successful reload use
// the new material; established connections are not touched.
//
// Client certificates are checked in VerifyConnection, which crypto/tls
// calls on every handshake, including resumed sessions: the connection
// must have a verified chain, and when a CRL file is configured, the leaf
// must not be revoked by the current CRL of its issuer. A leaf whose issuer
// has no CRL in the file, or whose issuer's CRL is past its next update, is
// refused, so a missing or stale CRL fails closed.
//
// Session resumption: since Go 1.21 a resumed session carries the verified
// chains of the original handshake, and crypto/tls (Go 1.26) only checks
// that they are unexpired and still end in a root of the current ClientCAs
// before it calls VerifyConnection; it does not consult any revocation
// list. Two measures keep identity tied to current, verified state: every
// reload installs new session ticket keys on the configuration that
// GetConfigForClient returns, so tickets issued before a CA or CRL change
// cannot be resumed at all and the client falls back to a full handshake;
// and VerifyConnection applies the current CRL to resumed connections too,
// so a ticket resumed within one generation is still refused once its
// leaf is revoked.
package certreload

import (
	"crypto/sha256"
	"crypto/tls"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gatehouse-health/gatehouse/internal/tlspolicy"
)

// Defaults.
const (
	DefaultInterval      = 30 * time.Second
	DefaultExpiryWarning = 30 * 24 * time.Hour
	// DefaultCRLExpiryWarning is shorter than DefaultExpiryWarning because
	// CRLs are re-signed often: `gatehouse pki` gives them 30 days.
	DefaultCRLExpiryWarning = 3 * 24 * time.Hour
	// warnRepeat is how often OnExpiring and the log repeat a warning for
	// the same item.
	warnRepeat = 24 * time.Hour
)

// Options configures New.
type Options struct {
	// CertFile is a PEM certificate chain, leaf first, and KeyFile its
	// private key. Required.
	CertFile, KeyFile string
	// ClientCAFile is a PEM bundle of the CA certificates client
	// certificates must chain to. Required for GetConfigForClient,
	// ServerConfig and VerifyConnection; a Holder without it serves only
	// as a source of its own certificate (GetClientCertificate).
	ClientCAFile string
	// PartnerCAFiles are further PEM bundles of client CA certificates,
	// such as the issuing CA of one partner. Their certificates join
	// ClientCAFile's in the trust pool and reload with it. Needs
	// ClientCAFile.
	PartnerCAFiles []string
	// CRLFile is a PEM file of one or more X.509 CRLs ("X509 CRL" blocks).
	// Empty disables revocation checking. Needs ClientCAFile.
	CRLFile string
	// Interval is how often the files are checked for changes. Zero means
	// DefaultInterval.
	Interval time.Duration
	// ExpiryWarning is how long before a certificate's NotAfter the
	// warning starts. Zero means DefaultExpiryWarning.
	ExpiryWarning time.Duration
	// CRLExpiryWarning is how long before a CRL's NextUpdate the warning
	// starts. Zero means DefaultCRLExpiryWarning.
	CRLExpiryWarning time.Duration
	// OnExpiring, if not nil, is called for an item inside the warning
	// window after each load that finds it there, at most once a day per
	// item. It must not block.
	OnExpiring func(Expiry)
	// Logger receives reloads, rejected reloads and expiry warnings. Nil
	// discards them.
	Logger *slog.Logger
	// Now returns the current time. Nil means time.Now.
	Now func() time.Time
	// Keys maps a file path of these options to the configuration key
	// that set it, such as "tls.cert_file", so that an error names the
	// key to fix next to the file. A path without an entry is named alone.
	Keys map[string]string
}

// Expiry is the end of validity of one loaded item, for an expiry metric.
type Expiry struct {
	// Item is "certificate" for CertFile's leaf, "client-ca" for a
	// certificate of ClientCAFile or PartnerCAFiles, or "crl" for a CRL
	// of CRLFile.
	Item string
	// File is the file the item came from.
	File string
	// Subject is the certificate subject, or the CRL issuer.
	Subject string
	// NotAfter is the certificate's NotAfter, or the CRL's NextUpdate.
	NotAfter time.Time
}

// Holder holds the current certificate material and reloads it. Its
// methods are safe for concurrent use.
type Holder struct {
	opts Options
	log  *slog.Logger
	now  func() time.Time

	current    atomic.Pointer[material]
	generation atomic.Uint64

	// mu serializes reloads and guards the fields below.
	mu         sync.Mutex
	lastFailed [32]byte
	// trust is the trust bundle of SetTrustFile, or nil.
	trust *trustFile
	// installed is the file content of the current generation, to name
	// the files a reload changed.
	installed fileSet
	warned    map[Expiry]time.Time

	// keepTicketKeys, set only by tests, keeps one set of session ticket
	// keys across reloads, so that the resumption path of VerifyConnection
	// can be exercised.
	keepTicketKeys bool
	// onVerify, set only by tests, observes every VerifyConnection call.
	onVerify func(tls.ConnectionState, error)
}

// New reads the files named by opts. It fails if they do not form a valid
// set; after that, reload failures only keep the old set.
func New(opts Options) (*Holder, error) {
	if opts.CertFile == "" || opts.KeyFile == "" {
		return nil, errors.New("certreload: CertFile and KeyFile are required")
	}
	if opts.CRLFile != "" && opts.ClientCAFile == "" {
		return nil, errors.New("certreload: CRLFile needs ClientCAFile")
	}
	if len(opts.PartnerCAFiles) > 0 && opts.ClientCAFile == "" {
		return nil, errors.New("certreload: PartnerCAFiles needs ClientCAFile")
	}
	if opts.Interval < 0 || opts.ExpiryWarning < 0 || opts.CRLExpiryWarning < 0 {
		return nil, errors.New("certreload: Interval, ExpiryWarning and CRLExpiryWarning must not be negative")
	}
	if opts.Interval == 0 {
		opts.Interval = DefaultInterval
	}
	if opts.ExpiryWarning == 0 {
		opts.ExpiryWarning = DefaultExpiryWarning
	}
	if opts.CRLExpiryWarning == 0 {
		opts.CRLExpiryWarning = DefaultCRLExpiryWarning
	}
	h := &Holder{opts: opts, log: opts.Logger, now: opts.Now, warned: map[Expiry]time.Time{}}
	if h.log == nil {
		h.log = slog.New(slog.DiscardHandler)
	}
	if h.now == nil {
		h.now = time.Now
	}

	files, err := h.readFiles()
	if err != nil {
		return nil, err
	}
	m, err := h.build(files, nil)
	if err != nil {
		return nil, err
	}
	if err := h.install(m); err != nil {
		return nil, err
	}
	h.installed = files
	h.warnExpiring()
	return h, nil
}

// trustFile is a trust bundle that another component verifies the
// Holder's certificate with (SetTrustFile).
type trustFile struct {
	path  string
	check func(cert *tls.Certificate, trust []byte) error
	apply func(trust []byte)
}

// SetTrustFile adds path, a PEM bundle that another component verifies
// the Holder's certificate with, to the files the Holder reloads. Its
// content is read with the other files, so that a change to it alone also
// makes a new generation. check verifies each candidate certificate
// against the content read with it, and a failure rejects the generation
// like an invalid set. apply receives the content of each installed
// generation, after the install, so that the other component switches to
// the new bundle together with the certificate it verifies. Neither may
// block.
//
// SetTrustFile checks the current certificate against path's content
// now, and on success calls apply with that content and keeps the file.
// Otherwise it returns the error and changes nothing.
func (h *Holder) SetTrustFile(path string, check func(cert *tls.Certificate, trust []byte) error, apply func(trust []byte)) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	data, err := readCapped(path)
	if err != nil {
		return err
	}
	if err := check(h.current.Load().cert, data); err != nil {
		return err
	}
	h.trust = &trustFile{path: path, check: check, apply: apply}
	apply(data)

	// Record the content as installed, so that the next Reload finds no
	// change and keeps the current generation with its session ticket keys.
	h.installed.trust = data
	h.installed.digest = h.installed.sum()
	h.current.Load().digest = h.installed.digest
	return nil
}

// GetCertificate returns the current certificate, for
// tls.Config.GetCertificate on the listeners that present the inbound
// listener's certificate to clients of their own CA pool.
func (h *Holder) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	return h.current.Load().cert, nil
}

// GetClientCertificate returns the current certificate, for
// tls.Config.GetClientCertificate on outbound connections.
func (h *Holder) GetClientCertificate(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
	return h.current.Load().cert, nil
}

// GetConfigForClient returns the server configuration of the current
// generation, for tls.Config.GetConfigForClient. It fails without
// ClientCAFile.
func (h *Holder) GetConfigForClient(*tls.ClientHelloInfo) (*tls.Config, error) {
	m := h.current.Load()
	if m.server == nil {
		return nil, errors.New("certreload: no client CA file configured")
	}
	return m.server, nil
}

// ServerConfig returns a listener configuration built by tlspolicy.Server
// whose GetConfigForClient hands every handshake the current generation's
// configuration.
func (h *Holder) ServerConfig() (*tls.Config, error) {
	m := h.current.Load()
	if m.server == nil {
		return nil, errors.New("certreload: ServerConfig needs ClientCAFile")
	}
	base := m.server.Clone()
	base.GetConfigForClient = h.GetConfigForClient
	if err := tlspolicy.Check(base); err != nil {
		return nil, err
	}
	return base, nil
}

// Generation returns the number of material sets loaded: 1 after New, one
// more after each successful reload.
func (h *Holder) Generation() uint64 { return h.generation.Load() }

// Expiries returns the end of validity of every loaded certificate and CRL.
func (h *Holder) Expiries() []Expiry {
	return append([]Expiry(nil), h.current.Load().expiries...)
}

// ClientCAFingerprints returns the SHA-256 fingerprints of the DER
// certificates that file, one of ClientCAFile and PartnerCAFiles,
// contributed to the current trust pool; nil for any other name.
func (h *Holder) ClientCAFingerprints(file string) [][sha256.Size]byte {
	return h.current.Load().caByFile[file]
}

// NotAfter returns the NotAfter of the current certificate's leaf.
func (h *Holder) NotAfter() time.Time { return h.current.Load().cert.Leaf.NotAfter }
