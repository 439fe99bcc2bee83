package validate

import (
	"encoding/json"
	"regexp"
	"strings"

	"github.com/gatehouse-health/gatehouse/internal/outcome"
)

// An extension definition's context lists where the extension may be
// used. Contexts of type "element" name a type ("HumanName"), an element
// path ("Patient.name", "HumanName.family") or "Element". Contexts of type
// "extension" name the extension it may be nested in, and "fhirpath"
// contexts are expressions. This check does not evaluate those two kinds,
// so they allow any place.

// extensionContext is one StructureDefinition.context entry.
type extensionContext struct {
	Type       string `json:"type"`
	Expression string `json:"expression"`
}

// extensionContexts returns the contexts of an extension definition.
func (v *Validator) extensionContexts(s *structure) []extensionContext {
	res := v.resolve(s.label(), s.pkg)
	if res == nil {
		return nil
	}
	list, _ := cached(&v.extContexts, res, func() ([]extensionContext, error) {
		var raw struct {
			Context []extensionContext `json:"context"`
		}
		err := json.Unmarshal(res.JSON, &raw)
		return raw.Context, err
	})
	return list
}

// checkExtensionContext reports an extension used where its definition's
// context does not allow it. A place this check cannot describe (an
// element it cannot find in the core definitions, an extension nested in
// another) is allowed.
func (r *run) checkExtensionContext(o *occurrence, s *structure) {
	contexts := r.v.extensionContexts(s)
	if len(contexts) == 0 || allowedAnywhere(contexts) {
		return
	}
	names, ok := r.extensionHost(o.path())
	if !ok {
		return
	}
	for _, c := range contexts {
		if c.Type != "element" || names[c.Expression] || strings.ContainsAny(c.Expression, "#:()") {
			return
		}
	}
	allowed := make([]string, 0, len(contexts))
	for _, c := range contexts {
		allowed = append(allowed, c.Expression)
	}
	r.errorf(outcome.CodeStructure, o.path(), "extension %s is not allowed here; its context allows %s", s.url, strings.Join(allowed, ", "))
}

// allowedAnywhere reports whether one of the contexts allows the extension
// on every host, so that checkExtensionContext need not build the host's
// path. Such a context is not an element context, names Element or Base
// (which every host is), or has an expression the check does not read.
func allowedAnywhere(contexts []extensionContext) bool {
	for _, c := range contexts {
		if c.Type != "element" || c.Expression == "Element" || c.Expression == "Base" || strings.ContainsAny(c.Expression, "#:()") {
			return true
		}
	}
	return false
}

var (
	extensionStep = regexp.MustCompile(`\.(extension|modifierExtension)\[[0-9]+\]$`)
	indexStep     = regexp.MustCompile(`\[[0-9]+\]`)
)

// extensionHost returns the names a context may use for the element an
// extension at path is attached to: its path from the resource type, its
// path from the enclosing complex type, its type and the types it
// specializes. ok is false when the host cannot be described.
func (r *run) extensionHost(path string) (names map[string]bool, ok bool) {
	loc := extensionStep.FindStringIndex(path)
	if loc == nil || len(r.resources) == 0 {
		return nil, false
	}

	// The host's path relative to the innermost resource being validated.
	frame := r.resources[len(r.resources)-1]
	rel, found := strings.CutPrefix(path[:loc[0]], frame.path)
	if !found {
		return nil, false
	}
	rt := frame.node.str("resourceType")
	names = map[string]bool{"Element": true, "Base": true}
	if rel == "" {
		for _, n := range []string{rt, "Resource", "DomainResource"} {
			names[n] = true
		}
		return names, true
	}
	resourcePath, typePath, typ, ok := r.walkHost(rt, strings.Split(strings.TrimPrefix(indexStep.ReplaceAllString(rel, ""), "."), "."))
	if !ok || strings.HasPrefix(typePath, "ElementDefinition") {
		// NOTE: the R4 core definitions themselves place structuredefinition-*
		// extensions inside ElementDefinition outside their contexts, so
		// that place is not checked.
		return nil, false
	}

	// The host's paths, its type and the types that type specializes.
	names[resourcePath], names[typePath] = true, true
	for t := typ; t != ""; {
		names[t] = true
		s, err := r.v.typeStructure(t)
		if err != nil || s == nil || !strings.HasPrefix(s.base, coreURL) {
			break
		}
		t = strings.TrimPrefix(s.base, coreURL)
	}
	return names, true
}

// walkHost follows path steps from a resource type through the core
// definitions. It returns the element's path from the resource type, its
// path from the last complex type entered, and its type.
func (r *run) walkHost(rt string, steps []string) (resourcePath, typePath, typ string, ok bool) {
	s, err := r.v.typeStructure(rt)
	if err != nil || s == nil {
		return "", "", "", false
	}
	resourcePath, typePath, typ = rt, rt, rt
	for _, step := range steps {
		if t, isType := strings.CutPrefix(step, "ofType("); isType {
			typ = strings.TrimSuffix(t, ")")
			if !isPrimitiveType(typ) {
				if s, err = r.v.typeStructure(typ); err != nil || s == nil {
					return "", "", "", false
				}
				typePath = typ
			}
			continue
		}
		e := s.byID[typePath+"."+step]
		if e == nil {
			e = s.byID[typePath+"."+step+"[x]"]
		}
		if e == nil {
			return "", "", "", false
		}
		resourcePath += "." + e.path[strings.LastIndex(e.path, ".")+1:]
		typePath = e.path
		typ = singleType(e)
		switch {
		case e.contentRef != "":
			typePath = strings.TrimPrefix(e.contentRef, "#")
			typ = "BackboneElement"
		case typ != "" && typ != "BackboneElement" && typ != "Element" && !isPrimitiveType(typ) && len(e.types) == 1:
			if s, err = r.v.typeStructure(typ); err != nil || s == nil {
				return "", "", "", false
			}
			typePath = typ
		}
	}
	return resourcePath, typePath, typ, true
}
