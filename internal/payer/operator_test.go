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
}

func (m *memoryRecord) Append(_ context.Context, e *record.Entry) (int64, error) {
	if m.err != nil {
		return 0, m.err
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
		if res.Record != 1 || len(records.entries) != 1 {
			t.Fatalf("record %d, %d entries; expected the decision as entry 1", res.Record, len(records.entries))
		}
		e := records.entries[0]
		if e.Phase != record.PhaseControl || e.Interaction != "payer.decide" || e.Source != "operator:alice" || e.Partner != partnerA {
			t.Errorf("entry %+v", e)
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

func TestDecideAsOperatorRecordFails(t *testing.T) {
	storagetest.Run(t, func(t *testing.T, b storagetest.Backend) {
		ts := newTestService(t, b, Options{Records: &memoryRecord{err: record.ErrUnavailable}})
		ref := pendedRef(t, ts)
		res, err := ts.DecideAsOperator(context.Background(), ItemDecision{PreAuthRef: ref, Sequence: 1, Action: pas.NotCertified, By: "operator:alice"})
		if !errors.Is(err, record.ErrUnavailable) || res == nil || res.ClaimResponseID == "" {
			t.Fatalf("result %+v, err %v; expected the decision with an unrecorded error", res, err)
		}
	})
}
