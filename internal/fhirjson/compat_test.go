package fhirjson

import (
	"encoding/json"
	"unicode/utf8"
)

func jsonValid(b []byte) bool { return json.Valid(b) && utf8.Valid(b) }
