// Package validate checks FHIR R4 JSON resources against
// StructureDefinition snapshots: the core definitions and the profiles of
// the packages fhirpkg ships in the binary (Da Vinci PAS, US Core, CRD,
// PDex, CARIN Blue Button) or that the caller adds.
//
// For each resource it checks:
//
//   - JSON shape: strict intake (fhirjson), arrays exactly where the base
//     definition repeats, no empty arrays, objects or strings, nulls only
//     to align a primitive array with its "_name" twin;
//   - elements: unknown members, cardinality, allowed types and choice
//     types ("valueQuantity"), contained resources, Bundle entries;
//   - primitives: the JSON kind, the regex of the type (run on Go's RE2,
//     so matching is linear in the input), 32-bit integers, real calendar
//     dates, maximum lengths, narrative XHTML (txt-1, txt-2 natively);
//   - invariants: ele-1 and ext-1 natively, every other constraint through
//     the FHIRPath engine, compiled once per validator. Outcomes that only
//     the presence of named elements decides are reused (absent.go), and
//     ref-1, dom-6, bdl-3, bdl-4, bdl-7 and bdl-8 are settled in Go when
//     they hold;
//   - terminology: required bindings are errors, extensible and preferred
//     bindings warnings, against value sets expanded offline from the
//     packages' code systems. Codes of systems no package enumerates (CPT,
//     ICD-10-CM, HCPCS, LOINC, SNOMED CT, NUBC, X12...) are checked for
//     syntax, and check digits where the system has one, and reported as
//     not verified, never as valid;
//   - profiles: meta.profile and the caller's profiles, fixed and pattern
//     values, slicing (value, pattern, type, profile and exists
//     discriminators), extensions against their definitions, reference
//     target types and profiles, and Bundle rules (unique and absolute
//     fullUrl, fullUrl matching the resource, references resolving inside
//     self-contained Bundles).
//
// Results are lists of outcome.Issue: severity, issue-type code, a
// diagnostic and the FHIRPath location of the problem, such as
//
//	{"severity": "error", "code": "required",
//	 "diagnostics": "minimum required = 1, but only 0 found (from http://hl7.org/fhir/StructureDefinition/ClaimResponse|4.0.1)",
//	 "expression": ["Bundle.entry[0].resource.created"]}
//
// Diagnostics name the rule and the definition it comes from, never a
// value of the instance, because OperationOutcomes travel back to the
// partner and into logs. The exceptions are canonical URLs the instance
// gives (profiles, extensions), which are part of its structure.
//
// The package never logs. Input is capped (Limits): size, nesting, string
// length, array length and number of values. Nested validations (contained
// resources, Bundle entries, profile checks of references) are capped at
// 24 levels, and FHIRPath evaluation has its own step limits.
package validate
