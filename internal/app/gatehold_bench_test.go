package app_test

import (
	"bytes"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-health/gatehouse/internal/storage"
)

// BenchmarkWriteGateHolders is BenchmarkSubmitNewClaimThroughGateway with
// every hold of the SQLite write gate observed. It reports the gate's
// total hold time and number of holds per submission, and logs them per
// holder: the first Gatehouse function outside internal/storage on the
// stack that took the gate. Run it with -test.v to see the table. The
// stack capture of each hold adds CPU, so compare its cpu-ns/op with
// nothing else.
func BenchmarkWriteGateHolders(b *testing.B) {
	bundle := shippedBundle(b)
	claimID := []byte(`"value":"111099"`)
	if bytes.Count(bundle, claimID) != 1 {
		b.Fatal("the shipped Bundle no longer has the Claim identifier this benchmark replaces")
	}

	var mu sync.Mutex
	holds := map[string][]time.Duration{}
	var names sync.Map // program counter -> holder name
	observing := false
	stop := func() {}
	b.Cleanup(func() { stop() })

	benchSubmit(b, func(i int) []byte {
		if !observing {
			// Start after the harness, so its set-up writes are left out.
			observing = true
			stop = storage.ObserveWriteGates(func(h storage.GateHold) {
				name := gateHolder(&names, h.Callers)
				mu.Lock()
				holds[name] = append(holds[name], h.Held)
				mu.Unlock()
			})
		}
		return bytes.Replace(bundle, claimID, fmt.Appendf(nil, `"value":"g%08d"`, i), 1)
	})
	stop()

	mu.Lock()
	defer mu.Unlock()
	var total time.Duration
	var count int
	var lines []string
	for name, ds := range holds {
		slices.Sort(ds)
		var sum time.Duration
		for _, d := range ds {
			sum += d
		}
		total += sum
		count += len(ds)
		lines = append(lines, fmt.Sprintf("%-60s %6.2f holds/op %8.1f µs/op  mean %7.1f µs  p99 %7.1f µs  max %7.1f µs",
			name, float64(len(ds))/float64(b.N), float64(sum.Microseconds())/float64(b.N),
			float64(sum.Microseconds())/float64(len(ds)), float64(ds[len(ds)*99/100].Microseconds()),
			float64(ds[len(ds)-1].Microseconds())))
	}
	slices.Sort(lines)
	b.Logf("write gate holds over %d submissions:\n%s", b.N, strings.Join(lines, "\n"))
	b.ReportMetric(float64(total.Microseconds())/float64(b.N), "gate-µs/op")
	b.ReportMetric(float64(count)/float64(b.N), "gate-holds/op")
}

// gateHolder names the holder of a gate hold: the first function on the
// stack of Gatehouse's own packages outside internal/storage.
func gateHolder(names *sync.Map, callers []uintptr) string {
	const module = "github.com/gatehouse-health/gatehouse/internal/"
	for _, pc := range callers {
		if name, ok := names.Load(pc); ok {
			if name != "" {
				return name.(string)
			}
			continue
		}
		fn := runtime.FuncForPC(pc - 1)
		name := ""
		if fn != nil && strings.HasPrefix(fn.Name(), module) && !strings.HasPrefix(fn.Name(), module+"storage.") {
			name = strings.TrimPrefix(fn.Name(), module)
		}
		names.Store(pc, name)
		if name != "" {
			return name
		}
	}
	return "(outside Gatehouse's packages)"
}
