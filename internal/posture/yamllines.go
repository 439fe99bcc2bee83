package posture

import (
	"errors"
	"fmt"
	"strings"

	"go.yaml.in/yaml/v3"
)

// keyLines parses a YAML document into a node tree and returns the line of
// every key path, in the syntax config errors use: tls.cert_file,
// partners[0].scopes[2]. A mapping key maps to the line of the key, a
// sequence item to the line of the item.
func keyLines(data []byte) (map[string]int, error) {
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return nil, fmt.Errorf("invalid YAML: %w", err)
	}
	if len(root.Content) == 0 {
		return nil, errors.New("the file is empty")
	}
	out := map[string]int{}
	indexKeys(root.Content[0], "", out)
	return out, nil
}

func indexKeys(n *yaml.Node, path string, out map[string]int) {
	switch n.Kind {
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			key, val := n.Content[i], n.Content[i+1]
			p := key.Value
			if path != "" {
				p = path + "." + key.Value
			}
			out[p] = key.Line
			indexKeys(val, p, out)
		}
	case yaml.SequenceNode:
		for i, item := range n.Content {
			p := fmt.Sprintf("%s[%d]", path, i)
			out[p] = item.Line
			indexKeys(item, p, out)
		}
	}
}

// parentKey returns the key path one level up: partners[0] for
// partners[0].scopes, partners for partners[0], "" for a top-level key.
func parentKey(key string) string {
	i := strings.LastIndexAny(key, ".[")
	if i <= 0 {
		return ""
	}
	return key[:i]
}
