package payer

import (
	"context"
	"encoding/json"
	"errors"
	"testing"

	"github.com/gatehouse-health/gatehouse/internal/pas"
	"github.com/gatehouse-health/gatehouse/internal/record"
	"github.com/gatehouse-health/gatehouse/internal/storage/storagetest"
)

// memoryRecord is a record.Store that keeps entries in memory, or fails
// every append when err is set.
type memoryRecord struct {
	entries []record.Entry
	err     error
	// failAfter, when positive, makes every append after that many fail.
	failAfter int
}

func (m *memoryRecord) Append(_ context.Context, e *record.Entry) (int64, error) {
	if m.err != nil || m.failAfter > 0 && len(m.entries) >= m.failAfter {
		return 0, record.ErrUnavailable
	}
	m.entries = append(m.entries, *e)
	return int64(len(m.entries)), nil
}

// pendedRef submits the Surgical example, whose one item is pended, and
// returns its preAuthRef.
func pendedRef(t *testing.T, ts *testService) string {
	t.Helper()
	return mustResponse(t, ts.post(t, "/Claim/$submit", fhirJSONType, surgicalBundle(t), PartnerHeader, partnerA)).PreAuthRef
}

func TestDecideAsOperatorRecords(t *testing.T) {
	storagetest.Run(t, func(t *testing.T, b storagetest.Backend) {
		records := &memoryRecord{}
		ts := newTestService(t, b, Options{Records: records})
		ref := pendedRef(t, ts)

		res, err := ts.DecideAsOperator(context.Background(), ItemDecision{PreAuthRef: ref, Sequence: 1, Action: pas.NotCertified, By: "operator:alice"})
		if err != nil {
			t.Fatal(err)
		}
		if res.Record != 2 || len(records.entries) != 2 {
			t.Fatalf("record %d, %d entries; expected the request as entry 1 and the decision as entry 2", res.Record, len(records.entries))
		}
		first := records.entries[0]
		if first.Phase != record.PhaseControl || first.Source != "operator:alice" || first.Partner != partnerA || len(first.ResponseBody) != 0 {
			t.Errorf("request entry %+v", first)
		}
		e := records.entries[1]
		if e.Phase != record.PhaseControl || e.Interaction != "payer.decide" || e.Source != "operator:alice" || e.Partner != partnerA {
			t.Errorf("entry %+v", e)
		}
		if e.ExchangeID != first.ExchangeID {
			t.Errorf("exchange ids %q and %q, expected one exchange", first.ExchangeID, e.ExchangeID)
		}
		var body operatorRequest
		if err := json.Unmarshal(e.RequestBody, &body); err != nil || body.PreAuthRef != ref || body.Item != 1 || body.ReviewAction != string(pas.NotCertified) {
			t.Errorf("request body %s (%v)", e.RequestBody, err)
		}
		var out operatorResponse
		if err := json.Unmarshal(e.ResponseBody, &out); err != nil || out.ClaimResponse != res.ClaimResponseID {
			t.Errorf("response body %s (%v)", e.ResponseBody, err)
		}
	})
}

func TestDecideAsOperatorWithoutRecord(t *testing.T) {
	storagetest.Run(t, func(t *testing.T, b storagetest.Backend) {
		ts := newTestService(t, b, Options{})
		ref := pendedRef(t, ts)
		if _, err := ts.DecideAsOperator(context.Background(), ItemDecision{PreAuthRef: ref, Sequence: 1, Action: pas.NotCertified, By: "operator:alice"}); !errors.Is(err, ErrNoRecord) {
			t.Fatalf("err %v, expected ErrNoRecord", err)
		}
		if queue, _ := ts.ListPended(context.Background(), 0); len(queue) != 1 {
			t.Errorf("work queue %+v, expected the item still pended", queue)
		}
	})
}

// TestDecideAsOperatorRecordFails makes the record reject every append:
// no decision may be made that the record does not name.
func TestDecideAsOperatorRecordFails(t *testing.T) {
	storagetest.Run(t, func(t *testing.T, b storagetest.Backend) {
		ts := newTestService(t, b, Options{Records: &memoryRecord{err: record.ErrUnavailable}})
		ref := pendedRef(t, ts)
		res, err := ts.DecideAsOperator(context.Background(), ItemDecision{PreAuthRef: ref, Sequence: 1, Action: pas.NotCertified, By: "operator:alice"})
		if !errors.Is(err, ErrRecordUnavailable) || !errors.Is(err, record.ErrUnavailable) {
			t.Errorf("err %v, expected ErrRecordUnavailable wrapping the store's error", err)
		}
		if res != nil {
			t.Errorf("result %+v, expected none", res)
		}
		if queue, _ := ts.ListPended(context.Background(), 0); len(queue) != 1 {
			t.Errorf("work queue %+v, expected the item still pended", queue)
		}
	})
}

// TestDecideAsOperatorOutcomeUnrecorded lets the record fail after the
// entry that names the decision. The decision remains in force, the
// caller learns that its outcome is unrecorded, and the first entry still
// names the operator and the decision.
func TestDecideAsOperatorOutcomeUnrecorded(t *testing.T) {
	storagetest.Run(t, func(t *testing.T, b storagetest.Backend) {
		records := &memoryRecord{failAfter: 1}
		ts := newTestService(t, b, Options{Records: records})
		ref := pendedRef(t, ts)
		res, err := ts.DecideAsOperator(context.Background(), ItemDecision{PreAuthRef: ref, Sequence: 1, Action: pas.NotCertified, By: "operator:alice"})
		if !errors.Is(err, record.ErrUnavailable) || res == nil || res.ClaimResponseID == "" {
			t.Fatalf("result %+v, err %v; expected the decision with an unrecorded error", res, err)
		}
		if len(records.entries) != 1 {
			t.Fatalf("%d entries, expected the decision's request entry", len(records.entries))
		}
		e := records.entries[0]
		if e.Source != "operator:alice" || e.Partner != partnerA || e.Interaction != "payer.decide" {
			t.Errorf("entry %+v", e)
		}
		var body operatorRequest
		if err := json.Unmarshal(e.RequestBody, &body); err != nil || body.PreAuthRef != ref || body.ReviewAction != string(pas.NotCertified) {
			t.Errorf("request body %s (%v)", e.RequestBody, err)
		}
	})
}

// TestDecideAsOperatorNotPendedRecorded checks that a decision that
// fails is recorded with its outcome too.
func TestDecideAsOperatorNotPendedRecorded(t *testing.T) {
	storagetest.Run(t, func(t *testing.T, b storagetest.Backend) {
		records := &memoryRecord{}
		ts := newTestService(t, b, Options{Records: records})
		ref := pendedRef(t, ts)
		_, err := ts.DecideAsOperator(context.Background(), ItemDecision{PreAuthRef: ref, Sequence: 9, Action: pas.NotCertified, By: "operator:alice"})
		if !errors.Is(err, ErrNotPended) {
			t.Fatalf("err %v, expected ErrNotPended", err)
		}
		if len(records.entries) != 2 {
			t.Fatalf("%d entries, expected the request and its failure", len(records.entries))
		}
		if e := records.entries[1]; e.Decision != record.Deny || e.Status != 404 || e.ExchangeID != records.entries[0].ExchangeID {
			t.Errorf("failure entry %+v", e)
		}
	})
}
