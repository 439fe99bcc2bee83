package app_test

import (
	"bytes"
	"context"
	"log/slog"
	"net"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gatehouse-health/gatehouse/internal/app"
)

// TestFailedStartServesNothing breaks a check that runs after the admin
// listener is bound and requires that no listener served or logged
// "listening", and that the admin port is free again.
func TestFailedStartServesNothing(t *testing.T) {
	dir := t.TempDir()
	probe, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	adminAddr := probe.Addr().String()
	probe.Close()

	cfg, _, _, err := app.DevConfig(filepath.Join(dir, "data"), "127.0.0.1:0", adminAddr)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Partners[0].JWKSFile = filepath.Join(dir, "missing.jwks.json")
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, nil))

	rt, err := app.Start(context.Background(), cfg, app.Options{Logger: log})
	if err == nil {
		rt.Close(context.Background())
		t.Fatal("Start succeeded with a missing jwks_file")
	}
	if !strings.Contains(err.Error(), "jwks_file") {
		t.Errorf("error %q does not name jwks_file", err)
	}
	if strings.Contains(logs.String(), "listening") {
		t.Errorf("a failed start logged a listener:\n%s", logs.String())
	}
	again, err := net.Listen("tcp", adminAddr)
	if err != nil {
		t.Fatalf("admin port still bound after the failed start: %v", err)
	}
	again.Close()
}
