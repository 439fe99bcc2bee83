package fhirpath

import (
	"fmt"

	"github.com/gatehouse-health/gatehouse/internal/fhirmodel"
)

// TypeError reports a path that cannot match anything in the model, found
// by Check before any evaluation.
type TypeError struct {
	Offset int
	Msg    string
}

func (e *TypeError) Error() string {
	return fmt.Sprintf("fhirpath: %s at offset %d", e.Msg, e.Offset)
}

// Check verifies the expression against the model for an input of the
// named type (a resource, data type or backbone path such as
// "Patient.contact"). Every path step must name an element of at least
// one type the step can reach: "Observation.valueQuantity" fails because
// the element is "value", and "(Observation.value as Period).unit" fails
// because Period has no unit. Steps whose input type is not known
// statically (after resolve(), children() or on abstract resources) are
// not checked. A nil model means R4.
func (e *Expression) Check(model *fhirmodel.Model, typeName string) error {
	if model == nil {
		model = fhirmodel.R4()
	}
	if model.Type(typeName) == nil {
		return fmt.Errorf("fhirpath: unknown type %q", typeName)
	}
	ck := &checker{model: model}
	root := []string{typeName}
	_, err := ck.infer(e.root, root, root)
	return err
}

type checker struct {
	model *fhirmodel.Model
}

// infer returns the possible FHIR types of n's result, or nil when they
// are not known. focus is the type of the invocation's input and this the
// type of $this.
func (ck *checker) infer(n node, focus, this []string) ([]string, error) {
	switch x := n.(type) {
	case *memberNode:
		return ck.member(x, focus)
	case *dotNode:
		left, err := ck.infer(x.left, focus, this)
		if err != nil {
			return nil, err
		}
		return ck.infer(x.right, left, this)
	case *indexNode:
		if _, err := ck.infer(x.index, this, this); err != nil {
			return nil, err
		}
		return ck.infer(x.target, focus, this)
	case *negateNode:
		_, err := ck.infer(x.operand, focus, this)
		return nil, err
	case *binaryNode:
		l, err := ck.infer(x.left, focus, this)
		if err != nil {
			return nil, err
		}
		r, err := ck.infer(x.right, focus, this)
		if err != nil || x.op != "|" {
			return nil, err
		}
		return mergeTypes(l, r), nil
	case *typeOpNode:
		if _, err := ck.infer(x.left, focus, this); err != nil {
			return nil, err
		}
		if x.op == "as" {
			return ck.specType(x.typ), nil
		}
		return nil, nil
	case *specialVarNode:
		if x.name == "$this" {
			return this, nil
		}
		return nil, nil
	case *callNode:
		return ck.call(x, focus, this)
	}
	return nil, nil
}

func (ck *checker) specType(t typeSpec) []string {
	if t.namespace == "System" || ck.model.Type(t.name) == nil {
		return nil
	}
	return []string{t.name}
}

func mergeTypes(a, b []string) []string {
	if a == nil || b == nil {
		return nil
	}
	out := append([]string(nil), a...)
	for _, t := range b {
		if !containsString(out, t) {
			out = append(out, t)
		}
	}
	return out
}

func containsString(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func (ck *checker) member(x *memberNode, focus []string) ([]string, error) {
	if focus == nil {
		return nil, nil
	}
	var out []string
	found := false
	for _, name := range focus {
		t := ck.model.Type(name)
		if t == nil || t.Abstract && t.Kind == fhirmodel.KindResource {
			return nil, nil // Resource, DomainResource: any resource may be there
		}
		if x.first && startsUpper(x.name) && t.IsA(x.name) {
			found = true
			out = append(out, name)
			continue
		}
		if e := t.Element(x.name); e != nil {
			found = true
			out = mergeTypes(out, e.Types)
			if out == nil {
				out = append([]string(nil), e.Types...)
			}
		}
	}
	if !found {
		return nil, &TypeError{Offset: x.at, Msg: fmt.Sprintf("element %q not found on %s", x.name, describeTypes(focus))}
	}
	return out, nil
}

func describeTypes(types []string) string {
	if len(types) == 1 {
		return "type " + types[0]
	}
	return fmt.Sprintf("types %v", types)
}

// call infers a function's result. Functions that filter or reorder keep
// their input type. The projection functions take their argument's type,
// and the rest are not typed.
func (ck *checker) call(x *callNode, focus, this []string) ([]string, error) {
	lambda := map[string]bool{"where": true, "select": true, "all": true, "exists": true, "repeat": true, "sort": true, "aggregate": true, "trace": true}[x.name]
	var argTypes [][]string
	for i, a := range x.args {
		if x.def.typeArg && i == 0 {
			argTypes = append(argTypes, nil)
			continue
		}
		var t []string
		var err error
		if lambda || x.name == "iif" {
			t, err = ck.infer(a, focus, focus)
		} else {
			t, err = ck.infer(a, this, this)
		}
		if err != nil {
			return nil, err
		}
		argTypes = append(argTypes, t)
	}
	switch x.name {
	case "where", "first", "last", "tail", "skip", "take", "single", "distinct",
		"intersect", "exclude", "trace", "sort":
		return focus, nil
	case "select":
		return argTypes[0], nil
	case "union", "combine":
		return mergeTypes(focus, argTypes[0]), nil
	case "as", "ofType":
		return ck.specType(x.typeArg), nil
	case "extension":
		return []string{"Extension"}, nil
	case "iif":
		if len(argTypes) == 3 {
			return mergeTypes(argTypes[1], argTypes[2]), nil
		}
		return argTypes[1], nil
	}
	return nil, nil
}
