package payer

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse-health/gatehouse/internal/outcome"
	"github.com/gatehouse-health/gatehouse/internal/pas"
	"github.com/gatehouse-health/gatehouse/internal/storage"
	"github.com/gatehouse-health/gatehouse/internal/storage/storagetest"
)

const fhirJSONType = "application/fhir+json"

// phiMarkers are values from the demo bundles that must never appear in
// error bodies or logs: the member id, the claim trace number, the
// patient's name.
var phiMarkers = []string{"12345678901", "111099", "SMITH"}

type testService struct {
	*Service
	url    string
	client *http.Client
	logs   *syncBuffer
}

type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// sqliteBackend is the backend of tests that run on SQLite only.
var sqliteBackend = storagetest.Backend{Dialect: storage.SQLite}

// sequentialIDs returns a NewID that yields distinct UUIDs in order.
func sequentialIDs() func() string {
	var n atomic.Int64
	return func() string {
		return fmt.Sprintf("00000000-0000-4000-8000-%012x", n.Add(1))
	}
}

// fixedClock starts at a fixed instant and advances one second per call.
func fixedClock() func() time.Time {
	var n atomic.Int64
	start := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	return func() time.Time { return start.Add(time.Duration(n.Add(1)) * time.Second) }
}

// newTestService starts the service on a new database on b, with the
// demo bundles' patient as its one member, as in development mode.
func newTestService(t *testing.T, b storagetest.Backend, opts Options) *testService {
	t.Helper()
	ts := newBareTestService(t, b, opts)
	bundle := demoBundle(t, "pas-2.2.1-ReferralAuthorizationBundleExample.json")
	if err := ts.Members().AddRequestPatient(context.Background(), bundle); err != nil {
		t.Fatal(err)
	}
	return ts
}

// newBareTestService starts the service on a new database on b, with no
// member stored.
func newBareTestService(t *testing.T, b storagetest.Backend, opts Options) *testService {
	t.Helper()
	logs := &syncBuffer{}
	if opts.Now == nil {
		opts.Now = fixedClock()
	}
	if opts.NewID == nil {
		opts.NewID = sequentialIDs()
	}
	opts.Logger = slog.New(slog.NewTextHandler(logs, nil))
	svc, err := New(b.New(t), opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := svc.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(svc.Handler())
	t.Cleanup(srv.Close)
	t.Cleanup(func() {
		for _, m := range phiMarkers {
			if bytes.Contains([]byte(logs.String()), []byte(m)) {
				t.Errorf("service log contains request content %q", m)
			}
		}
	})
	return &testService{Service: svc, url: srv.URL, client: srv.Client(), logs: logs}
}

type reply struct {
	status int
	header http.Header
	body   []byte
}

func (ts *testService) post(t *testing.T, path, contentType string, body []byte, header ...string) reply {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, ts.url+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", contentType)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	return ts.do(t, req)
}

func (ts *testService) get(t *testing.T, path string) reply {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, ts.url+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	return ts.do(t, req)
}

func (ts *testService) do(t *testing.T, req *http.Request) reply {
	t.Helper()
	resp, err := ts.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return reply{status: resp.StatusCode, header: resp.Header, body: body}
}

func (ts *testService) submit(t *testing.T, body []byte) reply {
	t.Helper()
	return ts.post(t, "/Claim/$submit", fhirJSONType, body)
}

func readFile(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func demoBundle(t testing.TB, name string) []byte {
	t.Helper()
	return readFile(t, filepath.Join("../demo/bundles", name))
}

func mustParseRequest(t *testing.T, body []byte) *pas.Request {
	t.Helper()
	req, err := pas.ParseRequest(body)
	if err != nil {
		t.Fatal(err)
	}
	return req
}

// mustResponse checks for status 200 and parses the body as a PAS response.
func mustResponse(t *testing.T, r reply) *pas.Response {
	t.Helper()
	if r.status != http.StatusOK {
		t.Fatalf("status %d, expected 200: %s", r.status, r.body)
	}
	resp, err := pas.ParseResponse(r.body)
	if err != nil {
		t.Fatalf("ParseResponse: %v", err)
	}
	return resp
}

func actions(resp *pas.Response) []pas.ReviewAction {
	var out []pas.ReviewAction
	for _, d := range resp.Items {
		out = append(out, d.Action)
	}
	return out
}

// mustOutcome parses an OperationOutcome body.
func mustOutcome(t *testing.T, body []byte) outcome.OperationOutcome {
	t.Helper()
	var oo outcome.OperationOutcome
	if err := json.Unmarshal(body, &oo); err != nil || oo.ResourceType != "OperationOutcome" || len(oo.Issue) == 0 {
		t.Fatalf("not an OperationOutcome (%v): %s", err, body)
	}
	return oo
}
