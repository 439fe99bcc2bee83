package certreload

import (
	"bytes"
	"crypto/tls"
	"errors"
	"path/filepath"
	"testing"
)

// trustRecorder is a SetTrustFile check and apply pair that accepts a
// certificate when the trust content contains want, and records what was
// applied.
type trustRecorder struct {
	want    []byte
	applied [][]byte
}

var errNotTrusted = errors.New("not in the trust bundle")

func (r *trustRecorder) check(_ *tls.Certificate, trust []byte) error {
	if !bytes.Contains(trust, r.want) {
		return errNotTrusted
	}
	return nil
}

func (r *trustRecorder) apply(trust []byte) { r.applied = append(r.applied, trust) }

func TestTrustFileReloadsAlone(t *testing.T) {
	ca := newTestCA(t)
	h, err := New(ca.options(nil))
	if err != nil {
		t.Fatal(err)
	}
	trustPath := filepath.Join(ca.dir, "trust.pem")
	writeFile(t, trustPath, []byte("trusted v1"))
	r := &trustRecorder{want: []byte("trusted")}
	if err := h.SetTrustFile(trustPath, r.check, r.apply); err != nil {
		t.Fatalf("SetTrustFile: %v", err)
	}
	if len(r.applied) != 1 || string(r.applied[0]) != "trusted v1" {
		t.Fatalf("applied %q after SetTrustFile, want the file's content once", r.applied)
	}

	// Recording the file installs nothing new, so session tickets survive.
	if changed, err := h.Reload(); changed || err != nil {
		t.Errorf("Reload with no change = %v, %v; want no new generation", changed, err)
	}

	// A change to the trust file alone makes a new generation and reaches
	// apply.
	writeFile(t, trustPath, []byte("trusted v2"))
	if changed, err := h.Reload(); !changed || err != nil {
		t.Fatalf("Reload of a changed trust file = %v, %v; want a new generation", changed, err)
	}
	if len(r.applied) != 2 || string(r.applied[1]) != "trusted v2" {
		t.Errorf("applied %q, want the new content last", r.applied)
	}

	// Content that fails the check keeps the generation and the applied
	// trust.
	gen := h.Generation()
	writeFile(t, trustPath, []byte("someone else"))
	changed, err := h.Reload()
	if changed {
		t.Error("Reload installed a trust file that fails the check")
	}
	if !errors.Is(err, errNotTrusted) {
		t.Errorf("Reload error = %v, want the check's error", err)
	}
	if h.Generation() != gen {
		t.Errorf("Generation = %d, want %d", h.Generation(), gen)
	}
	if len(r.applied) != 2 {
		t.Errorf("applied %d times, want 2: a rejected file must not be applied", len(r.applied))
	}
}

func TestTrustFileRejectsCurrent(t *testing.T) {
	ca := newTestCA(t)
	h, err := New(ca.options(nil))
	if err != nil {
		t.Fatal(err)
	}
	trustPath := filepath.Join(ca.dir, "trust.pem")
	writeFile(t, trustPath, []byte("someone else"))
	r := &trustRecorder{want: []byte("trusted")}
	if err := h.SetTrustFile(trustPath, r.check, r.apply); !errors.Is(err, errNotTrusted) {
		t.Fatalf("SetTrustFile = %v, want the check's error", err)
	}
	if len(r.applied) != 0 {
		t.Errorf("applied %q after a failed SetTrustFile", r.applied)
	}
	if err := h.SetTrustFile(filepath.Join(ca.dir, "missing.pem"), r.check, r.apply); err == nil {
		t.Error("SetTrustFile accepted a missing file")
	}
}
