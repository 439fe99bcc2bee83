package config

import (
	"errors"
	"fmt"
	"reflect"
	"strings"

	"go.yaml.in/yaml/v3"
)

// checkBools requires every value of a boolean key to be a YAML boolean.
// The decoder would otherwise turn the strings "no", "off", "n" and their
// upper-case forms into false, quoted or not, so a value such as
// strict: "no" would silently switch a control off instead of failing.
func checkBools(root *yaml.Node) error {
	var errs []error
	walkBools(root, reflect.TypeFor[File](), "", &errs)
	return errors.Join(errs...)
}

// walkBools walks n along the Go type t that decodes it and reports each
// scalar under a bool field whose tag is not !!bool.
func walkBools(n *yaml.Node, t reflect.Type, path string, errs *[]error) {
	if n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.Bool:
		if n.Kind == yaml.ScalarNode && n.ShortTag() != "!!bool" && n.ShortTag() != "!!null" {
			*errs = append(*errs, &Error{Path: path, Line: n.Line,
				Msg: fmt.Sprintf("invalid value %q: expected true or false, without quotes", n.Value)})
		}
	case reflect.Struct:
		if n.Kind != yaml.MappingNode {
			return
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			key := n.Content[i].Value
			if field, ok := fieldForKey(t, key); ok {
				walkBools(n.Content[i+1], field.Type, joinPath(path, key), errs)
			}
		}
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			return
		}
		for i, item := range n.Content {
			walkBools(item, t.Elem(), fmt.Sprintf("%s[%d]", path, i), errs)
		}
	}
}

// fieldForKey returns the field of struct type t that the YAML key
// decodes into.
func fieldForKey(t reflect.Type, key string) (reflect.StructField, bool) {
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == key && f.IsExported() {
			return f, true
		}
	}
	return reflect.StructField{}, false
}

func joinPath(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}
