package validate

import "sync"

// maxKeptMapEntries bounds the maps a pooled run keeps: a map that grew
// past it on a large document is dropped rather than cleared.
const maxKeptMapEntries = 1 << 14

var runPool = sync.Pool{New: func() any {
	return &run{seen: map[issueKey]struct{}{}, evaluated: map[evalKey]struct{}{}, conforms: map[conformKey]*bool{}}
}}

// newRun takes a run from the pool. The caller gives it back with
// release once the issues have been taken.
func newRun(v *Validator) *run {
	r := runPool.Get().(*run)
	r.v = v
	return r
}

// release clears r and puts it back in the pool. r.issues is handed to
// the caller's Result, so it is dropped, not reused.
func (r *run) release() {
	r.v, r.issues = nil, nil
	r.seen = clearedMap(r.seen)
	r.evaluated = clearedMap(r.evaluated)
	r.conforms = clearedMap(r.conforms)
	r.cleanNarratives = clearedMap(r.cleanNarratives)
	r.nesting, r.conformanceChecks, r.assumed = 0, 0, 0
	r.entryCheck, r.reportAsWalk, r.uncounted, r.nestingCapped = nil, false, 0, 0
	r.sandboxedChecks, r.entryChecks, r.reusedEntryChecks, r.singlePassEvaluations = 0, 0, 0, 0
	r.fpFailed, r.unknownMembership, r.errorsOnly = false, false, false
	r.lastNode, r.evaluatedIDs, r.lastStart = nil, r.evaluatedIDs[:0], 0
	r.groups.Reset()
	r.occs.Reset()
	r.occRefs.Reset()
	r.sliceDefs.Reset()
	r.locations.Reset()
	r.profileLists.Reset()
	r.entryCheckValues.Reset()
	r.frames.Reset()
	clear(r.spareBundles) // reused within a run only, so a large Bundle's maps are not pooled
	r.spareBundles = r.spareBundles[:0]
	r.tree.reset()
	r.fpTree.Reset()
	clear(r.groupStack)
	r.groupStack = r.groupStack[:0]
	clear(r.resources)
	r.resources = r.resources[:0]
	clear(r.bundles)
	r.bundles = r.bundles[:0]
	runPool.Put(r)
}

func clearedMap[K comparable, V any](m map[K]V) map[K]V {
	if len(m) > maxKeptMapEntries {
		return map[K]V{}
	}
	clear(m)
	return m
}
