package posture

import (
	"crypto/x509"
	"testing"
	"time"

	"github.com/gatehouse-health/gatehouse/internal/config"
)

// NewTarget must find key lines in Options.Source, not by reading the file
// again, because a pipe such as a shell's <(...) is empty the second time.
func TestNewTargetReadsSourceOnce(t *testing.T) {
	fx := materialize(t, "weak.yaml", true)
	cfg, source, err := config.LoadWithData(fx.path)
	if err != nil {
		t.Fatal(err)
	}
	drained := fifoAt(t, fx.file("drained.yaml"))
	tg, err := NewTarget(cfg, drained, drained, Options{Now: time.Now(), PublicRoots: x509.NewCertPool(), Source: source})
	if err != nil {
		t.Fatal(err)
	}
	if line := tg.line("token.lifetime"); line == 0 {
		t.Error("token.lifetime has no line, want the line in Source")
	}
}
