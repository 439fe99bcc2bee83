package auditlog

import (
	"reflect"
	"strings"
	"testing"

	"github.com/gatehouse-health/gatehouse/internal/record"
)

func TestRecentRequestsKeepsAndEvicts(t *testing.T) {
	var c recentRequests
	body := Body{Size: 3, SHA256: [32]byte{1}}
	c.add(5, "ex-5", body)

	var got Leaf
	if !c.leaf(5, &got) {
		t.Fatal("entry 5 not kept")
	}
	if got.Index != 5 || got.Entry.Phase != record.PhaseRequest || got.Entry.ExchangeID != "ex-5" || got.Request != body {
		t.Errorf("entry 5 = index %d, phase %s, exchange %q, body %+v", got.Index, got.Entry.Phase, got.Entry.ExchangeID, got.Request)
	}
	if c.leaf(6, &got) {
		t.Error("entry 6 reported kept, but only 5 was added")
	}

	c.add(5+recentRequestSlots, "ex-later", body)
	if c.leaf(5, &got) {
		t.Error("entry 5 still kept after a later entry took its slot")
	}
	if !c.leaf(5+recentRequestSlots, &got) || got.Entry.ExchangeID != "ex-later" {
		t.Errorf("the later entry in slot 5: exchange %q", got.Entry.ExchangeID)
	}
}

// An exchange id longer than a slot holds is not kept, so the entry is
// checked from the database instead of against a truncated id.
func TestRecentRequestsSkipsLongExchangeID(t *testing.T) {
	var c recentRequests
	c.add(1, strings.Repeat("a", maxRecentExchangeID+1), Body{Size: 1})
	var got Leaf
	if c.leaf(1, &got) {
		t.Errorf("entry with a %d-byte exchange id kept as %q", maxRecentExchangeID+1, got.Entry.ExchangeID)
	}
	c.add(2, strings.Repeat("b", maxRecentExchangeID), Body{Size: 1})
	if !c.leaf(2, &got) || got.Entry.ExchangeID != strings.Repeat("b", maxRecentExchangeID) {
		t.Errorf("entry with a %d-byte exchange id: kept as %q", maxRecentExchangeID, got.Entry.ExchangeID)
	}
}

// The table lives as long as the log and is large, so it must hold no
// pointers: the garbage collector then skips it in every cycle.
func TestRecentRequestsTableHasNoPointers(t *testing.T) {
	if path := pointerPath(reflect.TypeFor[recentRequest](), "recentRequest"); path != "" {
		t.Errorf("%s holds a pointer", path)
	}
}

// pointerPath returns the path to the first field of t that the garbage
// collector scans, or "".
func pointerPath(t reflect.Type, path string) string {
	switch t.Kind() {
	case reflect.Struct:
		for i := range t.NumField() {
			f := t.Field(i)
			if p := pointerPath(f.Type, path+"."+f.Name); p != "" {
				return p
			}
		}
		return ""
	case reflect.Array:
		return pointerPath(t.Elem(), path+"[]")
	case reflect.Bool, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr,
		reflect.Float32, reflect.Float64, reflect.Complex64, reflect.Complex128:
		return ""
	}
	return path
}
