// Package fhirjson is the strict JSON intake every body passes through before
// any other component reads it.
//
// Check accepts a document only if it is a single JSON value, optionally
// surrounded by whitespace, that:
//
//   - is valid UTF-8 and contains no escaped lone surrogate (\ud800 alone);
//   - has no object with two members of the same name;
//   - stays within Limits (total size, nesting depth, string length).
//
// Because every later stage reads the exact bytes Check accepted, two
// components can never disagree about what a body says: there is no second,
// laxer parser on the request path. Numbers are not converted; their decimal
// text is kept as written, which FHIR requires because decimal precision is
// significant.
package fhirjson

import (
	"bytes"
	"errors"
	"fmt"
	"sync"

	"github.com/go-json-experiment/json/jsontext"
)

// Limits caps what a document may contain.
type Limits struct {
	MaxBytes        int64 // whole document
	MaxDepth        int   // nesting of objects and arrays
	MaxStringLength int   // one string, in bytes after unescaping
}

// DefaultLimits are sized for FHIR bundles with attachments: 10 MiB bodies,
// 64 levels of nesting (FHIR resources rarely exceed 15), 8 MiB strings.
var DefaultLimits = Limits{MaxBytes: 10 << 20, MaxDepth: 64, MaxStringLength: 8 << 20}

// ErrTooLarge is returned, wrapped, when the document exceeds MaxBytes.
var ErrTooLarge = errors.New("document too large")

// SyntaxError describes why a document was rejected. Offset is the byte
// offset where the problem was detected. The message never contains
// document content.
type SyntaxError struct {
	Offset int64
	Reason string
}

func (e *SyntaxError) Error() string {
	return fmt.Sprintf("fhirjson: invalid JSON at byte %d: %s", e.Offset, e.Reason)
}

// strictOptions make a decoder reject duplicate member names and invalid
// UTF-8.
var strictOptions = []jsontext.Options{jsontext.AllowDuplicateNames(false), jsontext.AllowInvalidUTF8(false)}

// decoders holds decoders between Checks. A reused decoder keeps the
// per-object name sets it grew for duplicate detection.
var decoders = sync.Pool{New: func() any { return jsontext.NewDecoder(noInput, strictOptions...) }}

// noInput is the empty input of a pooled decoder, so that it keeps no
// document alive. A decoder never reads during Reset.
var noInput = bytes.NewReader(nil)

// Check validates doc against the rules in the package documentation.
func Check(doc []byte, lim Limits) error {
	return check(doc, lim, nil)
}

// check is Check that, with head set, also reads the top-level members
// resourceType, id and type into it during the same pass.
func check(doc []byte, lim Limits, head *headReader) error {
	if lim.MaxBytes > 0 && int64(len(doc)) > lim.MaxBytes {
		return fmt.Errorf("fhirjson: %w: %d bytes, limit %d", ErrTooLarge, len(doc), lim.MaxBytes)
	}
	dec := decoders.Get().(*jsontext.Decoder)
	defer func() {
		dec.Reset(noInput)
		decoders.Put(dec)
	}()
	// A bytes.Buffer lets the decoder read doc in place instead of copying
	// it into a buffer of its own.
	dec.Reset(bytes.NewBuffer(doc), strictOptions...)

	// A string unescapes to at most its own bytes, which are fewer than
	// the document's, so only a document longer than the string limit
	// needs each string's length.
	if lim.MaxStringLength > 0 && len(doc) <= lim.MaxStringLength {
		lim.MaxStringLength = 0
	}
	// A document is exactly one value.
	if err := walkValue(dec, lim, head); err != nil {
		return err
	}
	if _, err := dec.ReadToken(); err == nil {
		return &SyntaxError{Offset: dec.InputOffset(), Reason: "trailing data after the top-level value"}
	} else if !isEOF(err) {
		return syntaxError(dec, err)
	}
	return nil
}

// CheckObject is Check plus the requirement that the top-level value is an
// object, as every FHIR resource is.
func CheckObject(doc []byte, lim Limits) error {
	return checkObject(doc, lim, nil)
}

// CheckObjectHead is CheckObject followed by ReadHead, in one pass over
// doc. A document that CheckObject rejects returns CheckObject's error. One
// that it accepts but whose head ReadHead rejects returns a *HeadError
// wrapping ReadHead's error.
func CheckObjectHead(doc []byte, lim Limits) (Head, error) {
	var h headReader
	if err := checkObject(doc, lim, &h); err != nil {
		return Head{}, err
	}
	if h.err != nil {
		return Head{}, &HeadError{Err: h.err}
	}
	return h.head, nil
}

func checkObject(doc []byte, lim Limits, head *headReader) error {
	if err := check(doc, lim, head); err != nil {
		return err
	}
	if firstNonSpace(doc) != '{' {
		return &SyntaxError{Offset: 0, Reason: "top-level value is not an object"}
	}
	return nil
}

func walkValue(dec *jsontext.Decoder, lim Limits, head *headReader) error {
	for {
		tok, err := dec.ReadToken()
		if err != nil {
			if isEOF(err) {
				return &SyntaxError{Offset: dec.InputOffset(), Reason: "unexpected end of input"}
			}
			return syntaxError(dec, err)
		}
		if tok.Kind() == '"' && lim.MaxStringLength > 0 && len(tok.String()) > lim.MaxStringLength {
			return &SyntaxError{Offset: dec.InputOffset(), Reason: fmt.Sprintf("string longer than %d bytes", lim.MaxStringLength)}
		}
		depth := dec.StackDepth()
		if depth > depthOrDefault(lim.MaxDepth) {
			return &SyntaxError{Offset: dec.InputOffset(), Reason: fmt.Sprintf("nesting deeper than %d levels", depthOrDefault(lim.MaxDepth))}
		}
		if depth == 0 {
			return nil
		}
		if head != nil && depth == 1 {
			head.note(dec, tok)
		}
	}
}

func syntaxError(dec *jsontext.Decoder, err error) error {
	var se *jsontext.SyntacticError
	if errors.As(err, &se) {
		return &SyntaxError{Offset: se.ByteOffset, Reason: describe(se.Err)}
	}
	return &SyntaxError{Offset: dec.InputOffset(), Reason: "unreadable input"}
}

// describe keeps the decoder's reason but drops any quoted input it carries,
// because the input may be PHI.
func describe(err error) string {
	if err == nil {
		return "syntax error"
	}
	msg := err.Error()
	if i := bytes.IndexAny([]byte(msg), "\"'`"); i > 0 {
		msg = string(bytes.TrimRight([]byte(msg[:i]), " :"))
	}
	return msg
}

func depthOrDefault(d int) int {
	if d <= 0 {
		return DefaultLimits.MaxDepth
	}
	return d
}

func isEOF(err error) bool {
	return err != nil && err.Error() == "EOF"
}

func firstNonSpace(b []byte) byte {
	for _, c := range b {
		switch c {
		case ' ', '\t', '\r', '\n':
			continue
		}
		return c
	}
	return 0
}
