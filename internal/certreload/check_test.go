package certreload

import (
	"crypto/tls"
	"errors"
	"math/big"
	"testing"
)

func TestCertificateCheckOnReload(t *testing.T) {
	ca := newTestCA(t)
	h, err := New(ca.options(nil))
	if err != nil {
		t.Fatal(err)
	}
	errUntrusted := errors.New("untrusted certificate")
	rejected := ca.issueServer(t, 0)
	rejectSerial := func(serial *big.Int) func(*tls.Certificate) error {
		return func(c *tls.Certificate) error {
			if c.Leaf.SerialNumber.Cmp(serial) == 0 {
				return errUntrusted
			}
			return nil
		}
	}
	if err := h.SetCertificateCheck(rejectSerial(rejected.Leaf.SerialNumber)); err != nil {
		t.Fatalf("SetCertificateCheck on an accepted certificate: %v", err)
	}

	ca.writeServer(t, rejected)
	changed, err := h.Reload()
	if changed {
		t.Error("Reload installed a certificate that fails the check")
	}
	if !errors.Is(err, errUntrusted) {
		t.Errorf("Reload error = %v, want the check's error", err)
	}
	if h.Generation() != 1 {
		t.Errorf("Generation = %d, want 1", h.Generation())
	}

	ca.writeServer(t, ca.issueServer(t, 0))
	if changed, err := h.Reload(); !changed || err != nil {
		t.Fatalf("Reload of a certificate that passes the check = %v, %v; want a new generation", changed, err)
	}
}

func TestCertificateCheckRejectsCurrent(t *testing.T) {
	ca := newTestCA(t)
	h, err := New(ca.options(nil))
	if err != nil {
		t.Fatal(err)
	}
	errUntrusted := errors.New("untrusted certificate")
	if err := h.SetCertificateCheck(func(*tls.Certificate) error { return errUntrusted }); !errors.Is(err, errUntrusted) {
		t.Fatalf("SetCertificateCheck = %v, want the check's error", err)
	}

	// The failed check is not installed, so a reload still succeeds.
	ca.writeServer(t, ca.issueServer(t, 0))
	if changed, err := h.Reload(); !changed || err != nil {
		t.Errorf("Reload after a failed SetCertificateCheck = %v, %v; want a new generation", changed, err)
	}
}
