package loadgen

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// rejectionBundle is a PAS response Bundle as the built-in payer returns it
// for a patient that is not its member.
const rejectionBundle = `{"resourceType":"Bundle","id":"r1","type":"collection","timestamp":"2026-01-02T03:04:05Z",` +
	`"entry":[{"fullUrl":"urn:uuid:1","resource":{"resourceType":"ClaimResponse","id":"cr1","status":"active",` +
	`"outcome":"error","error":[{"code":{"coding":[{"code":"75"}]}}]}},` +
	`{"fullUrl":"urn:uuid:2","resource":{"resourceType":"Patient","id":"p1"}}]}`

func TestRejectedClaimResponse(t *testing.T) {
	tests := []struct {
		name string
		body string
		want bool
	}{
		{"bundle with error first", rejectionBundle, true},
		{"bundle with complete first", strings.Replace(rejectionBundle, `"outcome":"error"`, `"outcome":"complete"`, 1), false},
		{"bundle with queued first", strings.Replace(rejectionBundle, `"outcome":"error"`, `"outcome":"queued"`, 1), false},
		{"bundle with patient first",
			`{"resourceType":"Bundle","entry":[{"resource":{"resourceType":"Patient"}},{"resource":{"resourceType":"ClaimResponse","outcome":"error"}}]}`, false},
		{"bundle without entries", `{"resourceType":"Bundle","entry":[]}`, false},
		{"claim response with error", `{"resourceType":"ClaimResponse","status":"active","outcome":"error"}`, true},
		{"outcome before resourceType", `{"meta":{"profile":["x"]},"outcome":"error","resourceType":"ClaimResponse"}`, true},
		{"claim response complete", `{"resourceType":"ClaimResponse","outcome":"complete"}`, false},
		{"operation outcome", `{"resourceType":"OperationOutcome","issue":[{"severity":"error","code":"invalid"}]}`, false},
		{"not json", `<html>error</html>`, false},
		{"empty", ``, false},
		{"truncated", rejectionBundle[:60], false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := rejectedClaimResponse(strings.NewReader(tt.body)); got != tt.want {
				t.Errorf("rejectedClaimResponse = %v, want %v", got, tt.want)
			}
		})
	}
}

// TestRunCountsRejections loads a stub payer that responds to every
// request with 200 and a rejection. The summary counts rejections, not successes.
func TestRunCountsRejections(t *testing.T) {
	var received atomic.Int64
	stub := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		received.Add(1)
		w.Header().Set("Content-Type", "application/fhir+json")
		w.Write([]byte(rejectionBundle))
	}))
	defer stub.Close()

	sum, err := Run(context.Background(), Options{
		Requests: builtinRequests(t, 1), Target: &HTTP{SubmitURL: stub.URL + "/Claim/$submit"},
		Rate: 50, Concurrency: 2, Duration: 200 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Sent == 0 || received.Load() != sum.Sent {
		t.Fatalf("sent %d, stub received %d, want the same and more than 0", sum.Sent, received.Load())
	}
	if sum.Rejected != sum.Sent {
		t.Errorf("rejected %d, want all %d sent", sum.Rejected, sum.Sent)
	}
	if sum.Successes != 0 || sum.Throughput != 0 {
		t.Errorf("successes %d throughput %.1f/s, want 0: a rejection is not a success", sum.Successes, sum.Throughput)
	}
	if sum.Statuses["200"] != sum.Sent {
		t.Errorf("statuses %v, want every response counted as 200", sum.Statuses)
	}
	if sum.Errors != 0 || sum.Failures != 0 {
		t.Errorf("errors %d failures %d (%v), want 0", sum.Errors, sum.Failures, sum.ErrorMessages)
	}

	var text bytes.Buffer
	if err := sum.WriteText(&text); err != nil {
		t.Fatal(err)
	}
	if want := "rejected " + strconv.FormatInt(sum.Rejected, 10); !strings.Contains(text.String(), want) {
		t.Errorf("text summary lacks %q:\n%s", want, text.String())
	}
	var js bytes.Buffer
	if err := sum.WriteJSON(&js); err != nil {
		t.Fatal(err)
	}
	if want := `"rejected": ` + strconv.FormatInt(sum.Rejected, 10); !strings.Contains(js.String(), want) {
		t.Errorf("JSON summary lacks %q:\n%s", want, js.String())
	}
}

// TestRunReadsLargeSuccess checks that a 2xx response longer than the part
// decoded is still read to its end and counted as a success.
func TestRunReadsLargeSuccess(t *testing.T) {
	body := `{"resourceType":"Bundle","entry":[{"resource":{"resourceType":"ClaimResponse","outcome":"complete"}},` +
		`{"resource":{"resourceType":"Binary","data":"` + strings.Repeat("A", 256<<10) + `"}}]}`
	stub := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(body))
	}))
	defer stub.Close()

	sum, err := Run(context.Background(), Options{
		Requests: builtinRequests(t, 1), Target: &HTTP{SubmitURL: stub.URL + "/Claim/$submit"},
		Rate: 20, Concurrency: 1, Duration: 200 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Sent == 0 || sum.Successes != sum.Sent || sum.Rejected != 0 || sum.Errors != 0 {
		t.Errorf("sent %d successes %d rejected %d errors %d (%v), want all successes",
			sum.Sent, sum.Successes, sum.Rejected, sum.Errors, sum.ErrorMessages)
	}
}
