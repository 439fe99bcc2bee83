package cli

import (
	"errors"
	"fmt"
	"io"
	iofs "io/fs"
	"os"
	"strings"
	"unicode/utf8"

	"github.com/gatehouse-health/gatehouse/internal/fhirmodel"
	"github.com/gatehouse-health/gatehouse/internal/fhirpath"
)

const fhirpathSynopsis = "gatehouse fhirpath [--input FILE] [--json] EXPRESSION"

// maxInputBytes caps the resource fhirpath reads.
const maxInputBytes = 64 << 20

// fhirpath evaluates one FHIRPath expression, on a FHIR JSON resource from
// --input or standard input, or on nothing when the expression needs no
// input, and prints the result collection.
func (e *env) fhirpath(args []string) int {
	fs := e.flags("fhirpath")
	input := fs.String("input", "", "FHIR JSON resource `FILE` to evaluate on; \"-\" reads standard input")
	asJSON := fs.Bool("json", false, "print the result as a JSON array of {type, value} objects")
	expr, code, ok := e.parseOne(fs, fhirpathSynopsis, args)
	if !ok {
		return code
	}
	if expr == "" {
		e.errorf("missing EXPRESSION")
		e.hint("usage: %s", fhirpathSynopsis)
		return 2
	}

	compiled, err := fhirpath.Compile(expr)
	if err != nil {
		e.errorf("%v", err)
		e.pointAt(expr, err)
		e.hint("the offset counts bytes of the expression from 0; string literals take single quotes, as in name.where(use = 'official')")
		return 2
	}
	var inputs []fhirpath.Value
	if *input != "" {
		node, err := readResource(*input)
		if errors.Is(err, os.ErrNotExist) {
			e.errorf("--input: file %s not found", *input)
			e.hint("check the path, or pass - to read the resource from standard input")
			return 2
		}
		// A file that cannot be read, such as a directory, has no element
		// to fix.
		var pathErr *iofs.PathError
		if errors.As(err, &pathErr) {
			e.errorf("--input: cannot read %s: %v", *input, pathErr.Err)
			e.hint("--input takes a FHIR JSON resource file, or - to read the resource from standard input")
			return 2
		}
		if err != nil {
			e.errorf("%v", err)
			e.hint("--input takes a valid FHIR JSON resource: fix the element named above")
			return 2
		}
		inputs = append(inputs, node)
		e.noteOtherResourceType(expr, node)
	}
	result, err := compiled.Evaluate(fhirpath.EvalContext{Context: e.ctx}, inputs...)
	if err != nil {
		e.errorf("%v", err)
		e.pointAt(expr, err)
		if errors.Is(err, fhirpath.ErrLimit) {
			e.hint("the limits are fixed; narrow the expression (where(), first(), a repeat() that stops) so that it visits or builds less")
		}
		return 1
	}
	if *asJSON {
		fmt.Fprintf(e.stdout, "%s\n", fhirpath.FormatJSON(result))
	} else {
		fmt.Fprint(e.stdout, fhirpath.FormatText(result))
	}
	return 0
}

// noteOtherResourceType prints a note when the expression starts with the
// name of a resource type that the input is not. FHIRPath then selects
// nothing, without an error, so "Patient.name" on a Bundle prints nothing.
func (e *env) noteOtherResourceType(expr string, input *fhirpath.Node) {
	first := leadingIdentifier(expr)
	named := fhirmodel.R4().Type(first)
	inputType := input.Type()
	if named == nil || named.Kind != fhirmodel.KindResource || inputType == nil {
		return
	}
	// A base type such as DomainResource names every resource derived
	// from it.
	for t := inputType; t != nil; t = fhirmodel.R4().Type(t.Base) {
		if t.Name == first {
			return
		}
	}
	fmt.Fprintf(e.stderr, "gatehouse: note: the expression starts with %s, but the input is a %s, so the expression selects nothing from it\n", first, inputType.Name)
}

// leadingIdentifier returns the identifier the expression starts with, or
// "" when it starts with something else.
func leadingIdentifier(expr string) string {
	expr = strings.TrimLeft(expr, " \t\r\n")
	end := 0
	for end < len(expr) {
		c := expr[end]
		if c == '_' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || end > 0 && '0' <= c && c <= '9' {
			end++
			continue
		}
		break
	}
	return expr[:end]
}

// pointAt prints the expression and a caret under the byte offset that
// err names, as compilers do, so the user need not count bytes. Errors
// without an offset print nothing.
func (e *env) pointAt(expr string, err error) {
	offset := -1
	var syntaxErr *fhirpath.SyntaxError
	var typeErr *fhirpath.TypeError
	var evalErr *fhirpath.EvalError
	switch {
	case errors.As(err, &syntaxErr):
		offset = syntaxErr.Offset
	case errors.As(err, &typeErr):
		offset = typeErr.Offset
	case errors.As(err, &evalErr):
		offset = evalErr.Offset
	}
	if offset < 0 || offset > len(expr) || strings.ContainsAny(expr, "\n\r\t") {
		return
	}
	column := utf8.RuneCountInString(expr[:offset])
	fmt.Fprintf(e.stderr, "    %s\n    %s^\n", expr, strings.Repeat(" ", column))
}

func readResource(path string) (*fhirpath.Node, error) {
	var r io.Reader
	if path == "-" {
		r = os.Stdin
	} else {
		f, err := os.Open(path)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		r = f
	}
	data, err := io.ReadAll(io.LimitReader(r, maxInputBytes+1))
	if err != nil {
		return nil, err
	}
	if len(data) > maxInputBytes {
		return nil, fmt.Errorf("%s is larger than %d bytes", path, maxInputBytes)
	}
	node, err := fhirpath.ParseJSON(data)
	if err == nil {
		// Invalid FHIR is rejected at intake, as invalid JSON is. The FHIR R4
		// date type requires valid dates, so no expression may read a String
		// typed as FHIR.date.
		err = fhirpath.CheckPrimitives(node)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return node, nil
}
