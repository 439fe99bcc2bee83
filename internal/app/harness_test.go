package app_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse-health/gatehouse/internal/app"
	"github.com/gatehouse-health/gatehouse/internal/auditlog"
	"github.com/gatehouse-health/gatehouse/internal/config"
	"github.com/gatehouse-health/gatehouse/internal/demo"
	"github.com/gatehouse-health/gatehouse/internal/devmode"
	"github.com/gatehouse-health/gatehouse/internal/ehrclient"
	"github.com/gatehouse-health/gatehouse/internal/record"
	"github.com/gatehouse-health/gatehouse/internal/tlspolicy"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
)

// harness is a gateway in development mode on a loopback ephemeral port,
// with a real SQLite file, and the demo partner's client.
type harness struct {
	t      testing.TB
	rt     *app.Running
	layout *devmode.Layout
	ehr    *ehrclient.Client
	store  *switchableStore
	// upstream, when set, is the test's own upstream that counts requests.
	upstream *countingUpstream
	// logs contains everything the gateway logged.
	logs *logBuffer
	// spans, when set before start, receives the gateway's spans in place
	// of the OTLP exporter; spans arrive only if tracing.endpoint is set.
	spans *tracetest.SpanRecorder
	// records, when set before start, wraps the record store in place of
	// store, which then stays unused.
	records func(record.Store) record.Store
	// noMembers, when set before start, leaves the built-in payer with no
	// member.
	noMembers bool
}

// logBuffer collects log output from concurrent writers.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

type harnessOptions struct {
	builtinUpstream bool   // use the built-in payer service
	upstreamURL     string // overrides the upstream URL
	// strict keeps strict mode on with a test upstream, whose minimal
	// responses do not conform to PAS. It is always on with the built-in
	// payer service.
	strict bool
	// spans records the gateway's spans in memory.
	spans *tracetest.SpanRecorder
	// tracingEndpoint sets tracing.endpoint, which turns tracing on. With
	// spans set, nothing is sent to it.
	tracingEndpoint string
	// edit, when set, changes the development configuration before the
	// gateway starts.
	edit func(cfg *config.File, layout *devmode.Layout)
	// records, when set, wraps the record store the gateway uses.
	records func(record.Store) record.Store
	// noMembers starts the built-in payer with no member, in place of the
	// shipped bundles' patient.
	noMembers bool
}

func newHarness(t testing.TB, ho harnessOptions) *harness {
	t.Helper()
	cfg, layout, _, err := app.DevConfig(filepath.Join(t.TempDir(), "data"), "127.0.0.1:0", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("DevConfig: %v", err)
	}
	h := &harness{t: t, layout: layout, spans: ho.spans, records: ho.records, noMembers: ho.noMembers}
	cfg.Tracing.Endpoint = ho.tracingEndpoint
	switch {
	case ho.upstreamURL != "":
		cfg.Upstream.URL = ho.upstreamURL
	case !ho.builtinUpstream:
		h.upstream = newCountingUpstream(t)
		cfg.Upstream.URL = h.upstream.srv.URL + "/fhir-engine"
	}
	if !ho.builtinUpstream && !ho.strict {
		cfg.Strict.Mode = "off"
	}
	cfg.Upstream.Timeout = 5 * time.Second
	if ho.edit != nil {
		ho.edit(cfg, layout)
	}
	h.start(cfg)
	return h
}

func (h *harness) start(cfg *config.File) {
	t := h.t
	ctx := context.Background()
	h.store = &switchableStore{}
	h.logs = &logBuffer{}
	logger := slog.New(slog.NewTextHandler(h.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))

	// As in development mode, the payer's member is the shipped bundles'
	// patient.
	opts := app.Options{WrapRecords: h.store.wrap, Logger: logger}
	if !h.noMembers {
		seed, err := demo.ShippedBundles()
		if err != nil {
			t.Fatal(err)
		}
		opts.PayerMembers = seed
	}
	if h.records != nil {
		opts.WrapRecords = h.records
	}
	// A nil *SpanRecorder would make a non-nil SpanProcessor.
	if h.spans != nil {
		opts.SpanProcessor = h.spans
	}
	rt, err := app.Start(ctx, cfg, opts)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() { rt.Close(context.Background()) })
	h.rt = rt
	h.ehr = h.partnerClient(app.DevScopes)
}

// partnerClient returns a client of the demo partner that requests scope.
func (h *harness) partnerClient(scope string) *ehrclient.Client {
	t := h.t
	t.Helper()
	key, err := h.layout.PartnerAssertionKey()
	if err != nil {
		t.Fatal(err)
	}
	cert, err := h.layout.PartnerClientCertificate()
	if err != nil {
		t.Fatal(err)
	}
	roots, err := h.layout.CAPool()
	if err != nil {
		t.Fatal(err)
	}
	client, err := ehrclient.New(ehrclient.Options{PublicURL: h.rt.PublicURL, ClientID: app.DevPartner,
		AssertionKey: key, Certificate: cert, Roots: roots, Scope: scope})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(client.CloseIdle)
	return client
}

// accessToken returns a fresh access token for the demo partner.
func (h *harness) accessToken() string {
	h.t.Helper()
	resp, err := h.ehr.Token(context.Background())
	if err != nil {
		h.t.Fatalf("token: %v", err)
	}
	return resp.AccessToken
}

// send issues a raw request over the partner's mTLS client.
func (h *harness) send(client *http.Client, method, path string, header http.Header, body []byte) *http.Response {
	h.t.Helper()
	req, err := http.NewRequest(method, h.rt.PublicURL+path, bytes.NewReader(body))
	if err != nil {
		h.t.Fatal(err)
	}
	if body == nil {
		req.Body = http.NoBody
	}
	for k, vs := range header {
		req.Header[k] = vs
	}
	resp, err := client.Do(req)
	if err != nil {
		h.t.Fatalf("%s %s: %v", method, path, err)
	}
	return resp
}

// entries returns the exchange record entries of the response's exchange.
func (h *harness) entries(resp *http.Response) []record.Entry {
	h.t.Helper()
	id := resp.Header.Get("X-Request-Id")
	if id == "" {
		h.t.Fatal("response has no X-Request-Id")
	}
	list, err := h.rt.Records.(record.Reader).List(context.Background(), record.Filter{ExchangeID: id})
	if err != nil {
		h.t.Fatal(err)
	}
	return list
}

// sendForwarded sends a request from the EHR partner and fails the test
// unless it gets 200 and the upstream received exactly one request.
func (h *harness) sendForwarded(t testing.TB, method, path string, header http.Header, body []byte) *http.Response {
	t.Helper()
	before := h.upstream.count.Load()
	resp := h.send(h.ehr.HTTPClient(), method, path, header, body)
	out := readBody(t, resp)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status = %d, want 200; body %s", resp.StatusCode, out)
	}
	if n := h.upstream.count.Load() - before; n != 1 {
		t.Fatalf("upstream received %d requests, want 1", n)
	}
	return resp
}

// outcomeCode decodes an OperationOutcome body and returns its first issue
// code, failing the test if the body is not an OperationOutcome.
func outcomeCode(t testing.TB, body []byte) string {
	t.Helper()
	var oo struct {
		ResourceType string `json:"resourceType"`
		Issue        []struct {
			Severity string `json:"severity"`
			Code     string `json:"code"`
		} `json:"issue"`
	}
	if err := json.Unmarshal(body, &oo); err != nil || oo.ResourceType != "OperationOutcome" || len(oo.Issue) == 0 {
		t.Fatalf("body is not an OperationOutcome: %s", body)
	}
	return oo.Issue[0].Code
}

func readBody(t testing.TB, resp *http.Response) []byte {
	t.Helper()
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// countingUpstream is a stand-in payer engine that records what reaches it.
type countingUpstream struct {
	srv   *httptest.Server
	count atomic.Int64
	mu    sync.Mutex
	last  *http.Request
	body  []byte
}

func newCountingUpstream(t testing.TB) *countingUpstream {
	u := &countingUpstream{}
	u.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		u.mu.Lock()
		u.last, u.body = r.Clone(context.Background()), b
		u.mu.Unlock()
		u.count.Add(1)
		w.Header().Set("Content-Type", "application/fhir+json")
		w.Header().Set("Set-Cookie", "engine-session=secret")
		w.Header().Set("X-Engine-Internal", "node-7")
		_, _ = w.Write([]byte(`{"resourceType":"Bundle","type":"collection","entry":[{"resource":{"resourceType":"ClaimResponse","status":"active"}}]}`))
	}))
	t.Cleanup(u.srv.Close)
	return u
}

// switchableStore wraps the real record store and fails appends while
// failing is set, to test that the gateway fails closed.
type switchableStore struct {
	record.Store
	failing atomic.Bool
	// failAfterRequest fails every entry but request entries, so that an
	// exchange is forwarded and then cannot be recorded.
	failAfterRequest atomic.Bool
}

func (s *switchableStore) wrap(inner record.Store) record.Store {
	s.Store = inner
	return s
}

// failure is the simulated store error for e, or nil.
func (s *switchableStore) failure(e *record.Entry) error {
	if s.failing.Load() || (s.failAfterRequest.Load() && e.Phase != record.PhaseRequest) {
		return errors.Join(record.ErrUnavailable, errors.New("disk full (simulated)"))
	}
	return nil
}

func (s *switchableStore) Append(ctx context.Context, e *record.Entry) (int64, error) {
	if err := s.failure(e); err != nil {
		return 0, err
	}
	return s.Store.Append(ctx, e)
}

func (s *switchableStore) List(ctx context.Context, f record.Filter) ([]record.Entry, error) {
	return s.Store.(record.Reader).List(ctx, f)
}

// http1Client is the demo partner's mutual-TLS client restricted to
// HTTP/1.1.
func (h *harness) http1Client() *http.Client {
	h.t.Helper()
	cert, err := h.layout.PartnerClientCertificate()
	if err != nil {
		h.t.Fatal(err)
	}
	roots, _ := h.layout.CAPool()
	tr := &http.Transport{
		TLSClientConfig: tlspolicy.Client(roots, &cert),
		TLSNextProto:    map[string]func(string, *tls.Conn) http.RoundTripper{},
	}
	h.t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr}
}

// bodies decrypts an entry's bodies with the development audit identity,
// as the security team would, and checks them against the hashes the log
// commits to.
func (h *harness) bodies(e record.Entry) (req, resp []byte) {
	h.t.Helper()
	_, b := h.openRecord(e)
	return b.Request, b.Response
}

// openRecord reads the log row of entry e and decrypts its bodies with the
// development audit identity.
func (h *harness) openRecord(e record.Entry) (*auditlog.Row, *auditlog.Bodies) {
	h.t.Helper()
	ctx := context.Background()
	reader, err := auditlog.NewReader(ctx, h.rt.DB)
	if err != nil {
		h.t.Fatal(err)
	}
	row, err := reader.Row(ctx, e.Seq-1)
	if err != nil {
		h.t.Fatal(err)
	}
	ids, err := auditlog.LoadIdentities(auditlog.DevKeyPaths(h.layout.Dir).IdentityFile)
	if err != nil {
		h.t.Fatal(err)
	}
	d, err := reader.NewDecrypter(ctx, ids)
	if err != nil {
		h.t.Fatal(err)
	}
	b, err := d.Open(ctx, row)
	if err != nil {
		h.t.Fatal(err)
	}
	return row, b
}

func (s *switchableStore) AppendCommitted(ctx context.Context, e *record.Entry) (auditlog.Appended, error) {
	if err := s.failure(e); err != nil {
		return auditlog.Appended{}, err
	}
	return s.Store.(auditlog.CommitAppender).AppendCommitted(ctx, e)
}

func (s *switchableStore) AppendEntry(ctx context.Context, e *record.Entry) (auditlog.Appended, error) {
	if err := s.failure(e); err != nil {
		return auditlog.Appended{}, err
	}
	return s.Store.(auditlog.Receipter).AppendEntry(ctx, e)
}

// SyncCommitted syncs the log's committed entries, as auditlog.Log does,
// so that the gateway under test takes the production path: the response
// entry and the links committed without waiting for the disk, then one
// sync before the release. It fails while failing is set.
func (s *switchableStore) SyncCommitted() error {
	if s.failing.Load() {
		return errors.Join(record.ErrUnavailable, errors.New("disk full (simulated)"))
	}
	return s.Store.(auditlog.CommitSyncer).SyncCommitted()
}
