package app

import (
	"crypto/sha256"
	"fmt"

	"github.com/gatehouse-health/gatehouse/internal/certreload"
	"github.com/gatehouse-health/gatehouse/internal/config"
	"github.com/gatehouse-health/gatehouse/internal/pki"
)

// partnerCAFiles returns the resolved issuing_ca.cert_file of every
// partner, each once, for the inbound listener's trust pool. A partner
// file that is tls.client_ca_file itself is already in the pool.
func partnerCAFiles(cfg *config.File) []string {
	seen := map[string]bool{cfg.Resolve(cfg.TLS.ClientCAFile): true}
	var out []string
	for _, p := range cfg.Partners {
		if p.IssuingCA == nil || p.IssuingCA.CertFile == "" {
			continue
		}
		path := cfg.Resolve(p.IssuingCA.CertFile)
		if !seen[path] {
			seen[path] = true
			out = append(out, path)
		}
	}
	return out
}

// checkIssuingCAs reads every partner's issuing CA once at start-up, so
// that a wrong file or fingerprint stops the gateway with the key to fix.
// A file must hold CA certificates only. A fingerprint must name a
// certificate of the partner's own file or, when the partner has none, of
// the trust pool (tls.client_ca_file and the partners' files).
func checkIssuingCAs(cfg *config.File) error {
	trusted := map[[sha256.Size]byte]bool{}
	files := map[string][][sha256.Size]byte{}
	load := func(key, path string) error {
		certs, err := pki.LoadCertificates(path)
		if err != nil {
			return fmt.Errorf("%s: %w", key, err)
		}
		for _, c := range certs {
			if !c.BasicConstraintsValid || !c.IsCA {
				return fmt.Errorf("%s: certificate %q in %s is not a CA certificate", key, c.Subject.CommonName, path)
			}
			fp := sha256.Sum256(c.Raw)
			trusted[fp] = true
			files[path] = append(files[path], fp)
		}
		return nil
	}
	if err := load("tls.client_ca_file", cfg.Resolve(cfg.TLS.ClientCAFile)); err != nil {
		return err
	}
	for i, p := range cfg.Partners {
		if p.IssuingCA != nil && p.IssuingCA.CertFile != "" {
			if err := load(fmt.Sprintf("partners[%d].issuing_ca.cert_file", i), cfg.Resolve(p.IssuingCA.CertFile)); err != nil {
				return err
			}
		}
	}

	for i, p := range cfg.Partners {
		if p.IssuingCA == nil || p.IssuingCA.SHA256 == "" {
			continue
		}
		key := fmt.Sprintf("partners[%d].issuing_ca.sha256", i)
		fp, err := config.ParseFingerprint(p.IssuingCA.SHA256)
		if err != nil {
			return fmt.Errorf("%s: %w", key, err)
		}
		if p.IssuingCA.CertFile == "" {
			if !trusted[fp] {
				return fmt.Errorf("%s: no certificate in tls.client_ca_file or a partner's issuing_ca.cert_file has this fingerprint", key)
			}
			continue
		}
		if !containsFingerprint(files[cfg.Resolve(p.IssuingCA.CertFile)], fp) {
			return fmt.Errorf("%s: no certificate in partners[%d].issuing_ca.cert_file has this fingerprint", key, i)
		}
	}
	return checkInternalPools(cfg, files[cfg.Resolve(cfg.TLS.ClientCAFile)])
}

// checkInternalPools rejects a configuration in which a CA pinned for a
// partner by fingerprint is also trusted by the admin or outbound
// listener. That CA may be the partner's own, and a partner that runs a CA
// can put an administrator's or the engine's identity in a certificate,
// so it could engage the kill switch or speak as the payer's engine. A
// bundle of one CA is the payer's own, since it issues every certificate.
// clientCAs are the fingerprints of tls.client_ca_file.
func checkInternalPools(cfg *config.File, clientCAs [][sha256.Size]byte) error {
	if len(clientCAs) < 2 {
		return nil
	}
	pools := []struct{ listen, file, key, holder string }{
		{cfg.Admin.Listen, cfg.Admin.ClientCAFile, "admin.client_ca_file", "administrator"},
		{cfg.Outbound.Listen, cfg.Outbound.ClientCAFile, "outbound.client_ca_file", "integration engine"},
	}
	for _, pool := range pools {
		if pool.listen == "" || cfg.Resolve(pool.file) != cfg.Resolve(cfg.TLS.ClientCAFile) {
			continue
		}
		for i, p := range cfg.Partners {
			if p.IssuingCA == nil || p.IssuingCA.SHA256 == "" || p.IssuingCA.CertFile != "" {
				continue
			}
			fp, err := config.ParseFingerprint(p.IssuingCA.SHA256)
			if err != nil || !containsFingerprint(clientCAs, fp) {
				continue
			}
			return fmt.Errorf("%s: partners[%d].issuing_ca.sha256 pins a CA of tls.client_ca_file, which is also this listener's CA bundle, "+
				"so that CA could issue %s certificates: set %s to a bundle of only the CA that issues them, "+
				"or register the partner's CA with issuing_ca.cert_file outside tls.client_ca_file", pool.key, i, pool.holder, pool.key)
		}
	}
	return nil
}

func containsFingerprint(list [][sha256.Size]byte, fp [sha256.Size]byte) bool {
	for _, x := range list {
		if x == fp {
			return true
		}
	}
	return false
}

// issuingCAs returns the gateway's view of partner p's issuing CA: the
// pinned fingerprint when one is configured, or else the certificates its
// file contains in the current generation of certs, so that a reloaded file
// applies at once. It returns nil when p names no issuing CA.
func issuingCAs(cfg *config.File, p config.Partner, certs *certreload.Holder) (func() [][sha256.Size]byte, error) {
	switch {
	case p.IssuingCA == nil:
		return nil, nil
	case p.IssuingCA.SHA256 != "":
		fp, err := config.ParseFingerprint(p.IssuingCA.SHA256)
		if err != nil {
			return nil, err
		}
		pinned := [][sha256.Size]byte{fp}
		return func() [][sha256.Size]byte { return pinned }, nil
	default:
		path := cfg.Resolve(p.IssuingCA.CertFile)
		return func() [][sha256.Size]byte { return certs.ClientCAFingerprints(path) }, nil
	}
}
