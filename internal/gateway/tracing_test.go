package gateway

import (
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

func TestNewTracerOff(t *testing.T) {
	if newTracer(nil) != nil {
		t.Error("a nil provider gives a tracer")
	}
	if newTracer(noop.NewTracerProvider()) != nil {
		t.Error("a no-op provider gives a tracer")
	}
	if newTracer(sdktrace.NewTracerProvider()) == nil {
		t.Error("an SDK provider gives no tracer")
	}
}

func TestStageNamesComplete(t *testing.T) {
	seen := map[string]bool{}
	for n := stageReceive; n <= stageResponseCheck; n++ {
		name := n.String()
		if name == "" {
			t.Errorf("stage %d has no name", n)
		}
		if seen[name] {
			t.Errorf("stage name %q is used twice", name)
		}
		seen[name] = true
	}
	if len(stageNames) != int(stageResponseCheck)+1 {
		t.Errorf("stageNames has %d entries for %d stages", len(stageNames), int(stageResponseCheck)+1)
	}
}
