package cadir

import (
	"fmt"
	"path/filepath"

	"github.com/gatehouse-health/gatehouse/internal/pki"
)

// Certificate kinds.
const (
	KindServer = "server"
	KindClient = "client"
	KindAdmin  = "admin"
	KindEngine = "engine"
)

// IssueServer issues a server certificate and records it.
func (d *Dir) IssueServer(opts pki.ServerOptions) (*pki.Certificate, Record, error) {
	c, err := d.withNow().IssueServer(opts)
	if err != nil {
		return nil, Record{}, err
	}
	return d.record(KindServer, c)
}

// IssueClient issues a partner client certificate and records it.
func (d *Dir) IssueClient(opts pki.ClientOptions) (*pki.Certificate, Record, error) {
	c, err := d.withNow().IssueClient(opts)
	if err != nil {
		return nil, Record{}, err
	}
	return d.record(KindClient, c)
}

// IssueAdmin issues an administrator client certificate and records it.
func (d *Dir) IssueAdmin(opts pki.AdminOptions) (*pki.Certificate, Record, error) {
	c, err := d.withNow().IssueAdmin(opts)
	if err != nil {
		return nil, Record{}, err
	}
	return d.record(KindAdmin, c)
}

// IssueEngine issues a payer integration engine's client certificate,
// which the outbound listener accepts, and records it.
func (d *Dir) IssueEngine(opts pki.AdminOptions) (*pki.Certificate, Record, error) {
	c, err := d.withNow().IssueEngine(opts)
	if err != nil {
		return nil, Record{}, err
	}
	return d.record(KindEngine, c)
}

func (d *Dir) withNow() *pki.CA {
	ca := *d.Issuing
	ca.Now = d.Now
	return &ca
}

// record adds c to the index and writes its copy to issued/<serial>.pem.
// The caller holds the lock.
func (d *Dir) record(kind string, c *pki.Certificate) (*pki.Certificate, Record, error) {
	idx, err := d.LoadIndex()
	if err != nil {
		return nil, Record{}, err
	}
	rec := newRecord(kind, c.Leaf, c.Fingerprint())
	if idx.find(rec.Serial) != nil {
		return nil, Record{}, fmt.Errorf("cadir: serial %s is already in the index", rec.Serial)
	}
	copyPath := filepath.Join(d.Path, IssuedDir, rec.Serial+".pem")
	if err := pki.WriteCertificateFile(copyPath, c.Chain[:1]); err != nil {
		return nil, Record{}, err
	}
	idx.Certificates = append(idx.Certificates, rec)
	if err := d.saveIndex(idx); err != nil {
		return nil, Record{}, err
	}
	return c, rec, nil
}
