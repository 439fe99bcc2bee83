package app_test

import (
	"bytes"
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"os"
	"runtime"
	"runtime/metrics"
	"runtime/pprof"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/gatehouse-health/gatehouse/internal/config"
	"github.com/gatehouse-health/gatehouse/internal/devmode"
)

// BenchmarkSubmitThroughGateway measures one PAS $submit through every
// control: mutual TLS (kept-alive connection), token verification, policy
// and congruence, strict validation of the request and the response, two
// durable audit-log entries, and the built-in payer service's decision.
// The same Bundle is sent each time, so the payer replays its stored
// response. Besides wall time it reports cpu-ns/op, the process's CPU time
// (client, gateway and payer together) per submission, which the other
// load on a shared machine disturbs less than wall time.
func BenchmarkSubmitThroughGateway(b *testing.B) {
	bundle := shippedBundle(b)
	benchSubmit(b, func(int) []byte { return bundle })
}

// BenchmarkSubmitNewClaimThroughGateway is BenchmarkSubmitThroughGateway
// with a new Claim identifier in every request, so the payer adjudicates
// and stores each one, as under bench/compare's load.
func BenchmarkSubmitNewClaimThroughGateway(b *testing.B) {
	bundle := shippedBundle(b)
	claimID := []byte(`"value":"111099"`)
	if bytes.Count(bundle, claimID) != 1 {
		b.Fatal("the shipped Bundle no longer has the Claim identifier this benchmark replaces")
	}
	benchSubmit(b, func(i int) []byte {
		return bytes.Replace(bundle, claimID, fmt.Appendf(nil, `"value":"b%08d"`, i), 1)
	})
}

// BenchmarkSubmitNewClaimParallel is BenchmarkSubmitNewClaimThroughGateway
// with eight submissions in flight at once (exactly eight when GOMAXPROCS
// divides 8, because RunParallel starts 8/GOMAXPROCS goroutines per P). So
// the audit log, the payer's store and the replay cache write to the one
// SQLite file concurrently, as under load, and writers wait for one
// another's locks. Besides CPU time
// it reports the median and 99th percentile of the submissions' latency.
func BenchmarkSubmitNewClaimParallel(b *testing.B) {
	bundle := shippedBundle(b)
	claimID := []byte(`"value":"111099"`)
	if bytes.Count(bundle, claimID) != 1 {
		b.Fatal("the shipped Bundle no longer has the Claim identifier this benchmark replaces")
	}

	h := newHarness(b, harnessOptions{builtinUpstream: true, edit: unlimitedRate})
	header := http.Header{"Content-Type": {"application/fhir+json"}, "Authorization": {"Bearer " + h.accessToken()}}
	client := h.ehr.HTTPClient()

	var next atomic.Int64
	var mu sync.Mutex
	var latencies []time.Duration

	b.SetParallelism(8 / runtime.GOMAXPROCS(0))
	b.ResetTimer()
	cpu := processCPU()
	b.RunParallel(func(pb *testing.PB) {
		var mine []time.Duration
		defer func() {
			mu.Lock()
			latencies = append(latencies, mine...)
			mu.Unlock()
		}()
		for pb.Next() {
			body := bytes.Replace(bundle, claimID, fmt.Appendf(nil, `"value":"p%08d"`, next.Add(1)), 1)
			req, _ := http.NewRequest("POST", h.rt.FHIRBase+"/Claim/$submit", bytes.NewReader(body))
			req.Header = header.Clone()

			start := time.Now()
			resp, err := client.Do(req)
			if err != nil {
				b.Error(err)
				return
			}
			_, err = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if err != nil {
				b.Errorf("reading the $submit response failed: %v", err)
				return
			}
			if resp.StatusCode != 200 {
				b.Errorf("$submit status = %d, want 200", resp.StatusCode)
				return
			}
			mine = append(mine, time.Since(start))
		}
	})

	b.ReportMetric(float64(processCPU()-cpu)/float64(b.N), "cpu-ns/op")
	if len(latencies) > 0 {
		slices.Sort(latencies)
		b.ReportMetric(float64(latencies[len(latencies)*99/100].Microseconds())/1000, "p99-ms")
		b.ReportMetric(float64(latencies[len(latencies)/2].Microseconds())/1000, "p50-ms")
	}
}

// benchSubmit sends the Bundle body(i) returns for each iteration i, and
// reports CPU time and the collector's work. It calls body(i) inside the
// timed loop, after the harness has started.
func benchSubmit(b *testing.B, body func(i int) []byte) {
	h := newHarness(b, harnessOptions{builtinUpstream: true, edit: unlimitedRate})
	header := http.Header{"Content-Type": {"application/fhir+json"}, "Authorization": {"Bearer " + h.accessToken()}}
	client := h.ehr.HTTPClient()
	b.ResetTimer()
	cpu, cycles := processCPU(), gcCyclesNow()
	i := 0
	for b.Loop() {
		req, _ := http.NewRequest("POST", h.rt.FHIRBase+"/Claim/$submit", bytes.NewReader(body(i)))
		i++
		req.Header = header.Clone()
		resp, err := client.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		readBody(b, resp)
		if resp.StatusCode != 200 {
			b.Fatalf("status %d", resp.StatusCode)
		}
	}
	b.ReportMetric(float64(processCPU()-cpu)/float64(b.N), "cpu-ns/op")
	reportGCWork(b, cycles)
}

// gcCyclesNow returns the number of completed GC cycles.
func gcCyclesNow() uint64 {
	s := []metrics.Sample{{Name: "/gc/cycles/total:gc-cycles"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

// reportGCWork reports the numbers that set the collector's work and do
// not depend on other load. These are the GC cycles per 1,000 operations
// since cyclesBefore and, after a forced collection, the live heap and
// its scannable part, which a mark phase's CPU time grows with. The heap
// includes the benchmark's client, the gateway and the payer service.
func reportGCWork(b *testing.B, cyclesBefore uint64) {
	b.ReportMetric(float64(gcCyclesNow()-cyclesBefore)*1000/float64(b.N), "gc/1000op")
	b.StopTimer()
	runtime.GC()
	s := []metrics.Sample{{Name: "/gc/heap/live:bytes"}, {Name: "/gc/scan/heap:bytes"}, {Name: "/gc/scan/globals:bytes"}}
	metrics.Read(s)
	b.ReportMetric(float64(s[0].Value.Uint64())/1e6, "live-MB")
	b.ReportMetric(float64(s[1].Value.Uint64())/1e6, "scan-heap-MB")
	b.ReportMetric(float64(s[2].Value.Uint64())/1e6, "scan-globals-MB")
	writeLiveHeapProfile(b)
}

// writeLiveHeapProfile writes a heap profile to the file named by
// GATEHOUSE_BENCH_HEAPPROFILE while the harness is still running, so the
// profile shows the gateway's live heap. The -memprofile flag of go test
// writes its profile after the harness has been closed. Run with
// -test.memprofilerate=1 to record every allocation.
func writeLiveHeapProfile(b *testing.B) {
	path := os.Getenv("GATEHOUSE_BENCH_HEAPPROFILE")
	if path == "" {
		return
	}
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	if err := pprof.Lookup("heap").WriteTo(f, 0); err != nil {
		b.Fatal(err)
	}
}

// unlimitedRate lifts the partners' rate limits, which a benchmark run of
// several seconds would otherwise exceed.
func unlimitedRate(cfg *config.File, _ *devmode.Layout) {
	for i := range cfg.Partners {
		cfg.Partners[i].RateLimit = config.RateLimit{RequestsPerSecond: 1e6, Burst: 1e6}
	}
}

// processCPU returns the user and system CPU time the process has used.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkHandshake measures TLS 1.2 handshakes with a client certificate
// against the inbound listener: full handshakes, and resumed ones with a
// session cache. TLS 1.2, because a TLS 1.3 client receives its session
// ticket only after the handshake, when it first reads.
func BenchmarkHandshake(b *testing.B) {
	h := newHarness(b, harnessOptions{})
	cert, _ := h.layout.PartnerClientCertificate()
	roots, _ := h.layout.CAPool()
	for _, mode := range []string{"full", "resumed"} {
		b.Run(mode, func(b *testing.B) {
			conf := &tls.Config{RootCAs: roots, Certificates: []tls.Certificate{cert}, ServerName: "localhost",
				MinVersion: tls.VersionTLS12, MaxVersion: tls.VersionTLS12}
			if mode == "resumed" {
				conf.ClientSessionCache = tls.NewLRUClientSessionCache(1)
			}
			resumed := 0
			for b.Loop() {
				conn, err := tls.Dial("tcp", h.rt.Addr.String(), conf)
				if err != nil {
					b.Fatal(err)
				}
				if conn.ConnectionState().DidResume {
					resumed++
				}
				conn.Close()
			}
			if mode == "resumed" && resumed == 0 {
				b.Fatal("no handshake was resumed")
			}
		})
	}
}
