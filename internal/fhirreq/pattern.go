package fhirreq

import (
	"fmt"
	"strings"
)

// Pattern names a set of interactions in partner configuration. The forms
// are:
//
//	capabilities          GET [base]/metadata
//	Type/$op              type-level operation, e.g. Claim/$submit
//	Type/[id]/$op         instance-level operation on any instance
//	$op                   system-level operation
//	Type.read, Type.vread, Type.search, Type.create, Type.update,
//	Type.patch, Type.delete, Type.history
//	batch-transaction     POST [base]
//	search-system         GET [base]?_type=... and POST [base]/_search
//	history-system        GET [base]/_history
//
// A pattern names exactly one interaction kind on exactly one type; there are
// no wildcards, so an allowlist can be read as the full list of what a
// partner may do.
type Pattern struct {
	Kind      Kind
	Type      string
	Operation string
}

var verbKinds = map[string][]Kind{
	"read":    {Read},
	"vread":   {VRead},
	"search":  {SearchType},
	"create":  {Create},
	"update":  {Update},
	"patch":   {Patch},
	"delete":  {Delete},
	"history": {HistoryInstance, HistoryType},
}

// ParsePattern parses one allowlist entry. The returned patterns are
// equivalent to s; "Type.history" expands to instance and type history.
func ParsePattern(s string) ([]Pattern, error) {
	switch s {
	case "capabilities":
		return []Pattern{{Kind: Capabilities}}, nil
	case "batch-transaction":
		return []Pattern{{Kind: BatchTransaction}}, nil
	case "search-system":
		return []Pattern{{Kind: SearchSystem}}, nil
	case "history-system":
		return []Pattern{{Kind: HistorySystem}}, nil
	}
	if op, ok := operationName(s); ok {
		return []Pattern{{Kind: OperationSystem, Operation: op}}, nil
	}
	if typ, verb, ok := strings.Cut(s, "."); ok && !strings.Contains(s, "/") {
		kinds, known := verbKinds[verb]
		if !known || !resourceTypes[typ] {
			return nil, patternError(s)
		}
		out := make([]Pattern, len(kinds))
		for i, k := range kinds {
			out[i] = Pattern{Kind: k, Type: typ}
		}
		return out, nil
	}
	parts := strings.Split(s, "/")
	if !resourceTypes[parts[0]] {
		return nil, patternError(s)
	}
	switch {
	case len(parts) == 2:
		if op, ok := operationName(parts[1]); ok {
			return []Pattern{{Kind: OperationType, Type: parts[0], Operation: op}}, nil
		}
	case len(parts) == 3 && parts[1] == "[id]":
		if op, ok := operationName(parts[2]); ok {
			return []Pattern{{Kind: OperationInstance, Type: parts[0], Operation: op}}, nil
		}
	}
	return nil, patternError(s)
}

func patternError(s string) error {
	return fmt.Errorf("invalid interaction %q: use capabilities, Type/$op, Type/[id]/$op, $op, batch-transaction, search-system, history-system or Type.read|vread|search|create|update|patch|delete|history", s)
}

// Matches reports whether req is the interaction p names.
func (p Pattern) Matches(req *Request) bool {
	return p.Kind == req.Kind && p.Type == req.Type && p.Operation == req.Operation
}

// String returns the pattern in configuration syntax.
func (p Pattern) String() string {
	switch p.Kind {
	case Capabilities, BatchTransaction, SearchSystem, HistorySystem:
		return string(p.Kind)
	case OperationSystem:
		return "$" + p.Operation
	case OperationType:
		return p.Type + "/$" + p.Operation
	case OperationInstance:
		return p.Type + "/[id]/$" + p.Operation
	case HistoryInstance, HistoryType:
		return p.Type + ".history"
	case SearchType:
		return p.Type + ".search"
	}
	return p.Type + "." + string(p.Kind)
}

// Describe returns the request in pattern syntax, for records and denials.
// It contains no id or query, so it is safe to log.
func (req *Request) Describe() string {
	return Pattern{Kind: req.Kind, Type: req.Type, Operation: req.Operation}.String()
}

// Allowlist is a partner's configured interactions. Anything it does not
// name is denied.
type Allowlist []Pattern

// Missing returns the first interaction req needs that the allowlist does
// not name, in configuration syntax, and reports whether there is one. It
// is the one check for a whole request and for each entry of a batch or
// transaction, so the two cannot drift apart.
//
// A search at the base (search-system) with _type also needs each listed
// type's own search (Type.search), so the system form opens no type that a
// type-level search could not reach. Without _type it needs search-system
// alone; the policy engine then requires a read role on every data class
// and a wildcard search scope.
func (a Allowlist) Missing(req *Request) (string, bool) {
	if !a.names(req.Kind, req.Type, req.Operation) {
		return req.Describe(), true
	}
	if req.Kind != SearchSystem || req.Query == nil {
		return "", false
	}
	for _, typ := range req.Query.Types {
		if !a.names(SearchType, typ, "") {
			return Pattern{Kind: SearchType, Type: typ}.String(), true
		}
	}
	return "", false
}

func (a Allowlist) names(kind Kind, typ, operation string) bool {
	for _, p := range a {
		if p.Kind == kind && p.Type == typ && p.Operation == operation {
			return true
		}
	}
	return false
}
