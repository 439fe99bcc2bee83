package fhirpath

import (
	"fmt"
	"strings"

	"github.com/gatehouse-health/gatehouse/internal/fhirmodel"
)

// InvalidPrimitiveError reports a primitive element whose JSON value does
// not fit its FHIR type, such as a date "2020-13-45". The value itself is
// left out, because FHIR data may hold PHI.
type InvalidPrimitiveError struct {
	Path string // element path, such as Patient.name[0].given[1]
	Type string // FHIR type name, such as date
}

func (e *InvalidPrimitiveError) Error() string {
	return fmt.Sprintf("fhirpath: %s is not a valid FHIR %s", e.Path, e.Type)
}

// CheckPrimitives returns an *InvalidPrimitiveError for the first primitive
// under root whose value does not fit its type. ParseJSON keeps such a
// value as a String so that a validator can report it. A caller that
// evaluates expressions on the input calls CheckPrimitives first, so that
// no expression reads a String typed as FHIR.date.
func CheckPrimitives(root *Node) error {
	return checkPrimitives(root, rootPath(root))
}

// rootPath names the root of a tree: its resource or data type.
func rootPath(n *Node) string {
	if n.name == "" && n.typ != nil {
		return n.typ.Name
	}
	return n.name
}

func checkPrimitives(n *Node, path string) error {
	if n.hasValue() && n.typ != nil && n.typ.Kind == fhirmodel.KindPrimitive && !fitsSystemType(n.Value(), n.typ.System) {
		return &InvalidPrimitiveError{Path: path, Type: n.typ.Name}
	}
	count, seen := map[string]int{}, map[string]int{}
	for _, c := range n.children {
		count[c.name]++
	}
	for _, c := range n.children {
		childPath := path + "." + c.name
		if count[c.name] > 1 {
			childPath = fmt.Sprintf("%s[%d]", childPath, seen[c.name])
		}
		seen[c.name]++
		if err := checkPrimitives(c, childPath); err != nil {
			return err
		}
	}
	return nil
}

// fitsSystemType reports whether v has the FHIRPath System type system.
// An empty or unknown system is not checked.
func fitsSystemType(v Value, system string) bool {
	switch strings.TrimPrefix(system, "System.") {
	case "Boolean":
		return hasGoType[Boolean](v)
	case "Integer":
		return hasGoType[Integer](v)
	case "Decimal":
		return hasGoType[Decimal](v)
	case "Date":
		return hasGoType[Date](v)
	case "DateTime":
		return hasGoType[DateTime](v)
	case "Time":
		return hasGoType[Time](v)
	case "String":
		return hasGoType[String](v)
	}
	return true
}

func hasGoType[T Value](v Value) bool {
	_, ok := v.(T)
	return ok
}
