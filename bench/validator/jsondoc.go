package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
)

// object is a JSON object that keeps its member order, so a mutated
// resource differs from its base only where the mutation edits it.
type object struct {
	keys   []string
	values map[string]any
}

func (o *object) get(key string) (any, bool) {
	v, ok := o.values[key]
	return v, ok
}

// set replaces the value of key, or appends key when it is new.
func (o *object) set(key string, v any) {
	if _, ok := o.values[key]; !ok {
		o.keys = append(o.keys, key)
	}
	o.values[key] = v
}

func (o *object) remove(key string) {
	if _, ok := o.values[key]; !ok {
		return
	}
	delete(o.values, key)
	for i, k := range o.keys {
		if k == key {
			o.keys = append(o.keys[:i], o.keys[i+1:]...)
			return
		}
	}
}

// encodeDocument writes a decoded document as compact JSON, members in
// their original order and numbers as written. Unlike encoding/json it
// leaves <, > and & unescaped, so narrative XHTML keeps its form.
func encodeDocument(v any) ([]byte, error) {
	var b bytes.Buffer
	if err := encodeValue(&b, v); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

func encodeValue(b *bytes.Buffer, v any) error {
	switch x := v.(type) {
	case *object:
		b.WriteByte('{')
		for i, k := range x.keys {
			if i > 0 {
				b.WriteByte(',')
			}
			if err := encodeValue(b, k); err != nil {
				return err
			}
			b.WriteByte(':')
			if err := encodeValue(b, x.values[k]); err != nil {
				return err
			}
		}
		b.WriteByte('}')
	case []any:
		b.WriteByte('[')
		for i, item := range x {
			if i > 0 {
				b.WriteByte(',')
			}
			if err := encodeValue(b, item); err != nil {
				return err
			}
		}
		b.WriteByte(']')
	case json.Number:
		b.WriteString(x.String())
	case string, bool, nil:
		enc := json.NewEncoder(b)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(x); err != nil {
			return err
		}
		b.Truncate(b.Len() - 1) // Encode appends a newline
	default:
		return fmt.Errorf("cannot encode a %T", v)
	}
	return nil
}

// parseDocument decodes JSON into *object, []any, json.Number, string,
// bool and nil values. Numbers keep their text, so "1.0" stays "1.0".
func parseDocument(raw []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	v, err := decodeValue(dec)
	if err != nil {
		return nil, err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, errors.New("trailing data after the JSON value")
	}
	return v, nil
}

func decodeValue(dec *json.Decoder) (any, error) {
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	switch t := tok.(type) {
	case json.Delim:
		if t == '[' {
			list := []any{}
			for dec.More() {
				v, err := decodeValue(dec)
				if err != nil {
					return nil, err
				}
				list = append(list, v)
			}
			_, err := dec.Token() // ']'
			return list, err
		}
		obj := &object{values: map[string]any{}}
		for dec.More() {
			keyTok, err := dec.Token()
			if err != nil {
				return nil, err
			}
			v, err := decodeValue(dec)
			if err != nil {
				return nil, err
			}
			obj.set(keyTok.(string), v)
		}
		_, err := dec.Token() // '}'
		return obj, err
	default:
		return tok, nil
	}
}

// at walks a path such as "entry.0.resource.status" from root and
// returns the object holding the last step and the step's key. Numeric
// steps index arrays.
func at(root any, path string) (*object, string, error) {
	steps := strings.Split(path, ".")
	cur := root
	for _, step := range steps[:len(steps)-1] {
		next, err := child(cur, step)
		if err != nil {
			return nil, "", fmt.Errorf("path %q: %w", path, err)
		}
		cur = next
	}
	obj, ok := cur.(*object)
	if !ok {
		return nil, "", fmt.Errorf("path %q: parent of %q is not an object", path, steps[len(steps)-1])
	}
	return obj, steps[len(steps)-1], nil
}

func child(cur any, step string) (any, error) {
	switch x := cur.(type) {
	case *object:
		v, ok := x.get(step)
		if !ok {
			return nil, fmt.Errorf("member %q not found", step)
		}
		return v, nil
	case []any:
		var i int
		if _, err := fmt.Sscanf(step, "%d", &i); err != nil || i < 0 || i >= len(x) {
			return nil, fmt.Errorf("index %q out of range (length %d)", step, len(x))
		}
		return x[i], nil
	}
	return nil, fmt.Errorf("cannot step into a %T with %q", cur, step)
}

// lookup returns the value at path.
func lookup(root any, path string) (any, error) {
	obj, key, err := at(root, path)
	if err != nil {
		return nil, err
	}
	v, ok := obj.get(key)
	if !ok {
		return nil, fmt.Errorf("path %q: member %q not found", path, key)
	}
	return v, nil
}

// clone copies a decoded document deeply.
func clone(v any) any {
	switch x := v.(type) {
	case *object:
		c := &object{keys: append([]string(nil), x.keys...), values: make(map[string]any, len(x.values))}
		for k, val := range x.values {
			c.values[k] = clone(val)
		}
		return c
	case []any:
		c := make([]any, len(x))
		for i, val := range x {
			c[i] = clone(val)
		}
		return c
	}
	return v
}
