// Package fhirpath evaluates FHIRPath expressions (the normative N1
// release, as FHIR R4 uses it) over FHIR JSON resources.
//
// # Use
//
// An expression is compiled once and evaluated many times. A resource is
// parsed once into a node tree typed by the R4 model of package fhirmodel:
//
//	expr, err := fhirpath.Compile("name.where(use = 'official').given")
//	root, err := fhirpath.ParseJSON(body)
//	result, err := expr.Evaluate(fhirpath.EvalContext{}, root)
//	fmt.Print(fhirpath.FormatText(result))
//
// Compiled expressions and trees are immutable and safe for concurrent
// use. The package never logs, and trace() output goes to EvalContext.Trace.
//
// # Values
//
// A Collection contains Values: the System types Boolean, Integer (64-bit),
// Decimal (exact, keeping the digits it was written with), String, Date,
// DateTime, Time and Quantity, or *Node for elements of a resource tree. A
// primitive node (FHIR.string, FHIR.date, ...) carries its System value
// and, as children, the id and extensions of its "_name" JSON property.
// Choice elements are named without their type suffix: valueQuantity is
// the element "value" of type Quantity.
//
// # Semantics
//
// Operators propagate empty collections and use three-valued logic.
// Comparing dates or times of different precision returns empty, as does
// comparing a calendar year or month with a UCUM 'a' or 'mo'. Quantities
// compare after UCUM unit conversion for the common clinical units: mass,
// length, volume, time, pressure, energy and the arbitrary units of
// laboratory results (see quantity.go for the list). Strings are handled
// as Unicode code points. matches() and replaceMatches() use Go's RE2
// syntax, which runs in linear time.
//
// FHIR additions: extension(url), hasValue(), getValue(), resolve() (to
// contained resources, to entries of the enclosing Bundle by fullUrl or
// Type/id, then through EvalContext.Resolver), htmlChecks(), memberOf()
// through EvalContext.Terminology and conformsTo() through
// EvalContext.Conformance. Without those hooks, memberOf() and
// conformsTo() return an error rather than a guess.
//
// Where the R4 core definitions and the N1 text disagree, the engine
// follows the definitions: as() filters a collection like ofType(),
// because invariants such as dom-3 apply it to collections.
//
// # Limits
//
// Compile rejects expressions over MaxExpressionLength bytes or nested
// deeper than MaxDepth. ParseJSON rejects documents nested deeper than
// MaxJSONDepth or with more than MaxJSONNodes elements, duplicate member
// names and trailing data. Evaluate charges every item it visits against
// EvalContext.MaxSteps and caps intermediate collections at MaxCollection,
// returning an error wrapping ErrLimit instead of running away (deep
// descendants(), repeat() that keeps finding new values). A string that
// an evaluation builds (concatenation, replace(), a quantity's unit) is
// capped at 16 MiB and costs one step per 16 bytes. UCUM exponents and
// dimensions beyond 12 make a unit unknown: it equals no other unit, and
// ordering it against another unit returns empty.
//
// # Static checks
//
// Expression.Check verifies the element names of an expression against
// the model for a given input type before anything is evaluated, so a
// validator can reject an invariant that names a missing element
// ("Observation.valueQuantity" instead of "Observation.value").
package fhirpath
