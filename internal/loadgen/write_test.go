package loadgen

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestWriteBundlesIdentifiers requires every written Bundle to carry its
// own Bundle.identifier and Claim identifier, so that no two files name
// the same submission.
func TestWriteBundlesIdentifiers(t *testing.T) {
	reqs, err := Builtin(3, 1, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if n, err := WriteBundles(dir, reqs); err != nil || n != len(reqs) {
		t.Fatalf("WriteBundles = %d, %v; want %d, nil", n, err, len(reqs))
	}

	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != len(reqs) {
		t.Fatalf("%d files, want %d", len(entries), len(reqs))
	}
	seen := map[string]string{}
	for _, entry := range entries {
		data, err := os.ReadFile(filepath.Join(dir, entry.Name()))
		if err != nil {
			t.Fatal(err)
		}
		var bundle struct {
			Identifier struct{ Value string }
			Entry      []struct {
				Resource struct {
					ResourceType string
					Identifier   []struct{ Value string }
				}
			}
		}
		if err := json.Unmarshal(data, &bundle); err != nil {
			t.Fatalf("%s: %v", entry.Name(), err)
		}
		ids := []string{bundle.Identifier.Value}
		for _, e := range bundle.Entry {
			if e.Resource.ResourceType == "Claim" && len(e.Resource.Identifier) > 0 {
				ids = append(ids, e.Resource.Identifier[0].Value)
			}
		}
		if len(ids) != 2 {
			t.Errorf("%s: identifiers %q, want the Bundle's and the Claim's", entry.Name(), ids)
		}
		for _, id := range ids {
			if other, ok := seen[id]; ok && other != entry.Name() {
				t.Errorf("%s and %s share the identifier %q", other, entry.Name(), id)
			}
			seen[id] = entry.Name()
		}
	}
}

func TestSourceFileName(t *testing.T) {
	tests := []struct{ name, want string }{
		{"Ann_Roe_1.json#claim3", "Ann_Roe_1-claim3"},
		{"pas-request.json", "pas-request"},
		{"builtin 7", "builtin-7"},
		{"../x/y", "..-x-y"},
	}
	for _, tt := range tests {
		if got := sourceFileName(tt.name); got != tt.want {
			t.Errorf("sourceFileName(%q) = %q, want %q", tt.name, got, tt.want)
		}
	}
}
