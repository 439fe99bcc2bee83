package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/gatehouse-health/gatehouse/internal/safefile"
)

// MaxFileBytes caps the configuration file size.
const MaxFileBytes = 4 << 20

// ErrSyntax is wrapped by the error of a file that is not well-formed YAML,
// which names a line but no key.
var ErrSyntax = errors.New("invalid YAML")

// FileError is the error of a file that cannot be used as a configuration
// at all: unreadable, a directory, empty, over MaxFileBytes or holding
// several YAML documents. Such an error names no key to fix. Its message
// is the wrapped error's.
type FileError struct{ Err error }

func (e *FileError) Error() string { return e.Err.Error() }

func (e *FileError) Unwrap() error { return e.Err }

// Load reads, strictly decodes and validates the configuration file at path.
func Load(path string) (*File, error) {
	f, _, err := LoadWithData(path)
	return f, err
}

// LoadWithData is Load that also returns the bytes it read, for callers
// that need the text again, such as to find the line of a key. Reading the
// file a second time would find a pipe such as a shell's <(...) empty.
func LoadWithData(path string) (*File, []byte, error) {
	data, err := readCapped(path)
	if err != nil {
		return nil, nil, err
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, nil, fmt.Errorf("config: %w", err)
	}
	f, err := Parse(data, filepath.Dir(abs))
	if err != nil {
		return nil, nil, fmt.Errorf("config: %s: %w", path, err)
	}
	return f, data, nil
}

// Parse decodes and validates a configuration document. dir is the
// directory relative paths are resolved against.
func Parse(data []byte, dir string) (*File, error) {
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrSyntax, err)
	}
	if len(root.Content) == 0 {
		return nil, &FileError{Err: errors.New("the file is empty")}
	}
	paths := map[int]string{}
	indexPaths(root.Content[0], "", paths)
	if err := checkBools(root.Content[0]); err != nil {
		return nil, err
	}

	f := &File{dir: dir}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(f); err != nil {
		return nil, withPaths(err, paths)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return nil, &FileError{Err: errors.New("the file contains more than one YAML document: keep one configuration per file")}
	}
	f.applyDefaults()
	if err := f.Validate(); err != nil {
		return nil, err
	}
	return f, nil
}

// readCapped reads path with safefile.ReadCapped, so a FIFO without a
// writer reads as an empty file instead of hanging the caller, which
// catches SIGTERM.
func readCapped(path string) ([]byte, error) {
	data, err := safefile.ReadCapped(path, MaxFileBytes)
	if err != nil {
		return nil, &FileError{Err: fmt.Errorf("config: %w", err)}
	}
	return data, nil
}

// indexPaths records, for each line holding a mapping key or a sequence
// item, the dotted key path of that node, so decoder errors, which carry only
// line numbers, can name the key.
func indexPaths(n *yaml.Node, path string, out map[int]string) {
	switch n.Kind {
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			key, val := n.Content[i], n.Content[i+1]
			p := key.Value
			if path != "" {
				p = path + "." + key.Value
			}
			out[key.Line] = p
			indexPaths(val, p, out)
		}
	case yaml.SequenceNode:
		for i, item := range n.Content {
			p := fmt.Sprintf("%s[%d]", path, i)
			if _, taken := out[item.Line]; !taken || item.Kind == yaml.ScalarNode {
				out[item.Line] = p
			}
			indexPaths(item, p, out)
		}
	}
}

var lineRE = regexp.MustCompile(`^line (\d+): (.*)$`)

// withPaths rewrites yaml.v3 errors ("line 7: field x not found in type
// config.Partner") into key-path errors.
func withPaths(err error, paths map[int]string) error {
	var te *yaml.TypeError
	if !errors.As(err, &te) {
		return fmt.Errorf("%w: %w", ErrSyntax, err)
	}
	var errs []error
	for _, msg := range te.Errors {
		m := lineRE.FindStringSubmatch(msg)
		if m == nil {
			errs = append(errs, errors.New(msg))
			continue
		}
		line, _ := strconv.Atoi(m[1])
		errs = append(errs, &Error{Path: paths[line], Line: line, Msg: rephrase(m[2])})
	}
	return errors.Join(errs...)
}

var (
	unknownRE = regexp.MustCompile(`^field (\S+) not found in type \S+$`)
	typeRE    = regexp.MustCompile("^cannot unmarshal !!(\\w+) `(.*)` into (\\S+)$")
)

func rephrase(msg string) string {
	if m := unknownRE.FindStringSubmatch(msg); m != nil {
		return fmt.Sprintf("unknown key %q: check the spelling against the key table in docs/architecture.md", m[1])
	}
	if m := typeRE.FindStringSubmatch(msg); m != nil {
		want := m[3]
		switch want {
		case "time.Duration":
			want = "a duration such as 30s or 5m"
		case "int64", "int":
			want = "a whole number"
		case "string":
			want = "a string"
		default:
			if strings.HasPrefix(want, "[]") {
				want = "a list"
			} else if strings.HasPrefix(want, "config.") {
				want = "a mapping of keys"
			}
		}
		return fmt.Sprintf("invalid value %q: expected %s", m[2], want)
	}
	return msg
}
