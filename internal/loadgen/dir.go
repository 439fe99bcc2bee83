package loadgen

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"

	"github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"

	"github.com/gatehouse-health/gatehouse/internal/fhirjson"
	"github.com/gatehouse-health/gatehouse/internal/pas"
)

// MaxBundleFileBytes caps one bundle file FromDir reads: the gateway's
// default request body cap.
const MaxBundleFileBytes = 10 << 20

// Skipped is a bundle file FromDir left out, with the reason.
type Skipped struct {
	File   string
	Reason string
}

// FromDir reads the PAS request Bundles (*.json, not recursive, in name
// order) of dir. Each must parse as a $submit request (pas.ParseRequest).
// A Bundle whose Claim updates a prior Claim (Claim.related) is skipped:
// each request is sent under a fresh identifier, and the payer rejects an
// update of a Claim it never received.
func FromDir(dir string) ([]*Template, []Skipped, error) {
	if st, err := os.Stat(dir); err != nil || !st.IsDir() {
		return nil, nil, fmt.Errorf("loadgen: bundles directory %s does not exist or is not a directory", dir)
	}
	names, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil {
		return nil, nil, fmt.Errorf("loadgen: %w", err)
	}
	sort.Strings(names)
	m := newMarkers()
	var out []*Template
	var skipped []Skipped
	for _, name := range names {
		t, reason, err := templateFromFile(name, m)
		if err != nil {
			return nil, nil, err
		}
		if reason != "" {
			skipped = append(skipped, Skipped{File: filepath.Base(name), Reason: reason})
			continue
		}
		out = append(out, t)
	}
	if len(out) == 0 {
		return nil, skipped, fmt.Errorf("loadgen: no PAS request bundles to replay in %s", dir)
	}
	return out, skipped, nil
}

// templateFromFile reads one bundle file, or returns why it is skipped.
func templateFromFile(name string, m markers) (*Template, string, error) {
	st, err := os.Stat(name)
	if err != nil {
		return nil, "", fmt.Errorf("loadgen: %w", err)
	}
	if st.Size() > MaxBundleFileBytes {
		return nil, "", fmt.Errorf("loadgen: %s is larger than %d bytes", name, MaxBundleFileBytes)
	}
	data, err := os.ReadFile(name)
	if err != nil {
		return nil, "", fmt.Errorf("loadgen: %w", err)
	}
	if err := fhirjson.CheckObject(data, fhirjson.DefaultLimits); err != nil {
		return nil, "", fmt.Errorf("loadgen: %s: %w", name, err)
	}
	req, err := pas.ParseRequest(data)
	if err != nil {
		return nil, "", fmt.Errorf("loadgen: %s is not a PAS request bundle: %w", name, err)
	}
	if len(req.Prior) > 0 {
		return nil, "it updates a prior Claim (Claim.related), which cannot be replayed under a new identifier", nil
	}
	doc, err := restamp(data, m)
	if err != nil {
		return nil, "", fmt.Errorf("loadgen: %s: %w", name, err)
	}
	t, err := m.cut(filepath.Base(name), len(req.Items), doc)
	return t, "", err
}

// object is a JSON object whose member values stay as written.
type object = map[string]jsontext.Value

// restamp puts the markers in place of the values of Bundle.identifier and
// of the Claim's first identifier with system and value, the one the payer
// keys the request on. Member order changes, but every value stays as
// written.
func restamp(data []byte, m markers) ([]byte, error) {
	var bundle object
	if err := json.Unmarshal(data, &bundle); err != nil {
		return nil, err
	}
	id, err := setMember(bundle["identifier"], "value", m.bundle)
	if err != nil {
		return nil, fmt.Errorf("Bundle.identifier: %w", err)
	}
	bundle["identifier"] = id

	var entries []object
	if err := json.Unmarshal(bundle["entry"], &entries); err != nil || len(entries) == 0 {
		return nil, errors.New("Bundle.entry: not a non-empty array of objects")
	}
	var claim object
	if err := json.Unmarshal(entries[0]["resource"], &claim); err != nil {
		return nil, errors.New("Bundle.entry[0].resource: not an object")
	}
	var ids []object
	if err := json.Unmarshal(claim["identifier"], &ids); err != nil {
		return nil, errors.New("Claim.identifier: not an array of objects")
	}
	if err := stampClaimID(ids, m.claim); err != nil {
		return nil, err
	}
	if claim["identifier"], err = json.Marshal(ids, json.Deterministic(true)); err != nil {
		return nil, err
	}
	if entries[0]["resource"], err = json.Marshal(claim, json.Deterministic(true)); err != nil {
		return nil, err
	}
	if bundle["entry"], err = json.Marshal(entries, json.Deterministic(true)); err != nil {
		return nil, err
	}
	return json.Marshal(bundle, json.Deterministic(true))
}

func stampClaimID(ids []object, marker string) error {
	for _, id := range ids {
		var system, value string
		if json.Unmarshal(id["system"], &system) != nil || json.Unmarshal(id["value"], &value) != nil || system == "" || value == "" {
			continue
		}
		v, err := json.Marshal(marker)
		if err != nil {
			return err
		}
		id["value"] = v
		return nil
	}
	return errors.New("Claim.identifier: none has both system and value")
}

// setMember returns the object raw with member name set to the string
// value.
func setMember(raw jsontext.Value, name, value string) (jsontext.Value, error) {
	var obj object
	if err := json.Unmarshal(raw, &obj); err != nil || obj == nil {
		return nil, errors.New("not an object")
	}
	v, err := json.Marshal(value)
	if err != nil {
		return nil, err
	}
	obj[name] = v
	return json.Marshal(obj, json.Deterministic(true))
}
