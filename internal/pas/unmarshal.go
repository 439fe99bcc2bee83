package pas

import (
	"bytes"
	"sync"

	"github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
)

// unmarshalAliasing decodes in into v as json.Unmarshal does, except that
// each jsontext.Value in v is set to a subslice of in instead of a copy.
// The default decoding copies every raw element, so a parsed Bundle would
// hold its entries' resources twice. A subslice's capacity ends at its
// length, so appending to it never writes into in. The caller must not
// modify in while v is in use.
func unmarshalAliasing(in []byte, v any) error {
	u := aliasingPool.Get().(*aliasingUnmarshaler)
	u.in = in
	err := json.Unmarshal(in, v, u.options)
	u.in = nil // pin no caller's bytes in the pool
	aliasingPool.Put(u)
	return err
}

// aliasingUnmarshaler is the input of one unmarshalAliasing call and the
// json options that slice it. The options are built once per pooled value
// because json caches its lookups of custom unmarshalers in them.
// Building them per call added about 1 KB and 16 allocations to each
// decode of the 13 KB PAS homecare example Bundle, against about 13 KB of
// copies saved (an estimate from one benchmark on a shared 2-core machine).
type aliasingUnmarshaler struct {
	in      []byte
	options json.Options
}

var aliasingPool = sync.Pool{New: func() any {
	u := &aliasingUnmarshaler{}
	u.options = json.WithUnmarshalers(json.UnmarshalFromFunc(u.unmarshalValue))
	return u
}}

// unmarshalValue sets value to the subslice of u.in that the decoder's
// next value occupies.
func (u *aliasingUnmarshaler) unmarshalValue(dec *jsontext.Decoder, value *jsontext.Value) error {
	raw, err := dec.ReadValue()
	if err != nil {
		return err
	}
	// The decoder reads u.in from offset 0, so the value it just returned
	// ends at InputOffset. The comparison guards that assumption. On a
	// mismatch the value is copied, as the default decoding does.
	end := int(dec.InputOffset())
	start := end - len(raw)
	if start >= 0 && end <= len(u.in) && bytes.Equal(u.in[start:end], raw) {
		*value = jsontext.Value(u.in[start:end:end])
	} else {
		*value = bytes.Clone(raw)
	}
	return nil
}
