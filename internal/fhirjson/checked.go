package fhirjson

import "context"

// checkedKey is the context key of a checkedObject.
type checkedKey struct{}

// checkedObject is a document that CheckObject accepted under lim.
type checkedObject struct {
	doc []byte
	lim Limits
}

// WithCheckedObject returns a copy of ctx that carries doc as a document
// that CheckObject accepted under lim. It lets a handler in the same
// process take doc without checking it again: the gateway sets it on a
// request it hands to the built-in payer service in process. The caller
// MUST have run CheckObject (or CheckObjectHead) on exactly these bytes
// under lim, and neither side may modify doc afterwards. A context value
// does not cross a network connection, so a request that arrives on a
// listener never carries one.
func WithCheckedObject(ctx context.Context, doc []byte, lim Limits) context.Context {
	return context.WithValue(ctx, checkedKey{}, checkedObject{doc: doc, lim: lim})
}

// CheckedObject returns the document that WithCheckedObject put in ctx
// if CheckObject(doc, lim) is sure to accept it. That holds when the
// limits it was checked under are at least as strict as lim, or when doc
// is too short to exceed lim's. It returns false when ctx carries no
// document or one checked under looser limits, so the caller checks the
// body itself.
func CheckedObject(ctx context.Context, lim Limits) ([]byte, bool) {
	c, ok := ctx.Value(checkedKey{}).(checkedObject)
	if !ok || !c.lim.implies(lim, len(c.doc)) {
		return nil, false
	}
	return c.doc, true
}

// implies reports whether a document of n bytes that passed the checks
// under l also passes them under m.
func (l Limits) implies(m Limits, n int) bool {
	if m.MaxBytes > 0 && int64(n) > m.MaxBytes {
		return false
	}
	// Nesting needs at least one byte per level, and a string unescapes
	// to at most its own bytes, so neither can exceed n.
	if depthOrDefault(l.MaxDepth) > depthOrDefault(m.MaxDepth) && n > depthOrDefault(m.MaxDepth) {
		return false
	}
	if m.MaxStringLength > 0 && n > m.MaxStringLength {
		return l.MaxStringLength > 0 && l.MaxStringLength <= m.MaxStringLength
	}
	return true
}
