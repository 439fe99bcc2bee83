package storage

import (
	"runtime"
	"sync/atomic"
	"time"
)

// GateHold describes one hold of an SQLite file's write gate by a
// connection of this process: how long the gate was held, from its
// acquisition to its release, and the call stack that acquired it.
type GateHold struct {
	Held time.Duration
	// Callers contains the program counters of the acquiring goroutine's
	// stack, as runtime.Callers returns them, for runtime.CallersFrames.
	Callers []uintptr
}

// gateObserver receives every hold while a benchmark or test observes
// the gates (ObserveWriteGates); nil otherwise.
var gateObserver atomic.Pointer[func(GateHold)]

// ObserveWriteGates calls observe after every hold of a write gate by a
// connection, on every SQLite file of the process, until stop is called.
// It is for benchmarks and tests that measure how long each caller keeps
// the write lock. Each hold then also costs a stack capture. observe
// runs on the releasing goroutine after the gate is free, and must be safe
// for concurrent use. The background WAL checkpoints' holds are not
// reported.
func ObserveWriteGates(observe func(GateHold)) (stop func()) {
	gateObserver.Store(&observe)
	return func() { gateObserver.CompareAndSwap(&observe, nil) }
}

// gateHoldStart is the state of one observed hold, or nil when no one
// observes.
type gateHoldStart struct {
	at      time.Time
	callers []uintptr
}

// startHold notes the acquisition of the gate when ObserveWriteGates is
// active.
func startHold() *gateHoldStart {
	if gateObserver.Load() == nil {
		return nil
	}
	pcs := make([]uintptr, 48)
	// Skip runtime.Callers, startHold and beginWrite.
	n := runtime.Callers(3, pcs)
	return &gateHoldStart{at: time.Now(), callers: pcs[:n]}
}

// endHold reports a hold noted by startHold, after the gate is free.
func endHold(s *gateHoldStart) {
	if s == nil {
		return
	}
	if observe := gateObserver.Load(); observe != nil {
		(*observe)(GateHold{Held: time.Since(s.at), Callers: s.callers})
	}
}
