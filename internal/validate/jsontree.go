package validate

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"unsafe"

	"github.com/go-json-experiment/json/jsontext"

	"github.com/gatehouse-health/gatehouse/internal/chunks"
	"github.com/gatehouse-health/gatehouse/internal/fhirjson"
	"github.com/gatehouse-health/gatehouse/internal/fhirmodel"
	"github.com/gatehouse-health/gatehouse/internal/fhirpath"
)

// Limits caps what Validate accepts. Zero fields take the DefaultLimits
// value.
type Limits struct {
	MaxBytes        int64 // whole document
	MaxDepth        int   // nesting of JSON objects and arrays
	MaxStringLength int   // one JSON string, in bytes
	MaxArrayItems   int   // items of one JSON array
	MaxNodes        int   // JSON values in one document
}

// DefaultLimits accept a 10 MiB PAS Bundle with attachments. The nesting,
// string and size limits are those of fhirjson.DefaultLimits, and 50,000 items
// per array and a million values per document are far beyond any
// published example.
var DefaultLimits = Limits{
	MaxBytes:        fhirjson.DefaultLimits.MaxBytes,
	MaxDepth:        fhirjson.DefaultLimits.MaxDepth,
	MaxStringLength: fhirjson.DefaultLimits.MaxStringLength,
	MaxArrayItems:   50_000,
	MaxNodes:        1 << 20,
}

func (l Limits) withDefaults() Limits {
	if l.MaxBytes <= 0 {
		l.MaxBytes = DefaultLimits.MaxBytes
	}
	if l.MaxDepth <= 0 {
		l.MaxDepth = DefaultLimits.MaxDepth
	}
	if l.MaxStringLength <= 0 {
		l.MaxStringLength = DefaultLimits.MaxStringLength
	}
	if l.MaxArrayItems <= 0 {
		l.MaxArrayItems = DefaultLimits.MaxArrayItems
	}
	if l.MaxNodes <= 0 {
		l.MaxNodes = DefaultLimits.MaxNodes
	}
	return l
}

// JSON value kinds, as jsontext names them.
const (
	kindObject = '{'
	kindArray  = '['
	kindString = '"'
	kindNumber = '0'
	kindTrue   = 't'
	kindFalse  = 'f'
	kindNull   = 'n'
)

// jnode is one JSON value of the document being validated. Unlike the
// FHIRPath tree it keeps the JSON syntax: arrays, nulls, the JSON
// kind of each primitive and the text of numbers.
type jnode struct {
	kind byte
	// unescaped marks a string that had no escapes in the source. Both
	// readers reject raw control characters in a string, so such text has
	// none, and the primitive check skips its scan for them.
	unescaped bool
	text      string  // string value, or the text of a number
	props     []jprop // object members, in document order
	items     []*jnode

	// modelType is the type the FHIRPath tree builder read an object as,
	// and the member fields of props are indexes into its member names.
	// It is nil until the builder records a member.
	modelType *fhirmodel.Type
}

type jprop struct {
	name string
	val  *jnode
	// member is 1 + the fhirmodel member index of name without its "_",
	// in the parent object's modelType, or 0 when not recorded.
	member int32
}

func (n *jnode) isScalar() bool {
	return n.kind != kindObject && n.kind != kindArray && n.kind != kindNull
}

// prop returns the value of the member called name, or nil.
func (n *jnode) prop(name string) *jnode {
	if n == nil {
		return nil
	}
	for i := range n.props {
		if n.props[i].name == name {
			return n.props[i].val
		}
	}
	return nil
}

// str returns the member's string value, or "".
func (n *jnode) str(name string) string {
	if v := n.prop(name); v != nil && v.kind == kindString {
		return v.text
	}
	return ""
}

// The methods below let fhirpath.ParseDecoded build the FHIRPath tree
// from this tree instead of tokenising the document a second time.

// JSONKind implements fhirpath.DecodedJSON.
func (n *jnode) JSONKind() byte { return n.kind }

// JSONText implements fhirpath.DecodedJSON.
func (n *jnode) JSONText() string { return n.text }

// JSONLen implements fhirpath.DecodedJSON.
func (n *jnode) JSONLen() int { return len(n.props) + len(n.items) }

// JSONMember implements fhirpath.DecodedJSON.
func (n *jnode) JSONMember(i int) (string, fhirpath.DecodedJSON) {
	return n.props[i].name, n.props[i].val
}

// JSONItem implements fhirpath.DecodedJSON.
func (n *jnode) JSONItem(i int) fhirpath.DecodedJSON { return n.items[i] }

// RecordMember implements fhirpath.MemberRecorder. Indexes recorded under
// another type are cleared, so that every recorded member of n refers to
// n.modelType.
func (n *jnode) RecordMember(i int, parent *fhirmodel.Type, index int) {
	if n.modelType != parent {
		for j := range n.props {
			n.props[j].member = 0
		}
		n.modelType = parent
	}
	n.props[i].member = int32(index) + 1
}

// parseTree checks doc with the rules of the strict intake (fhirjson) and
// reads it into a tree, in one pass: the decoder rejects duplicate names
// and invalid UTF-8, and the parser applies the intake's size, depth and
// string limits. When the pass fails, fhirjson.CheckObject runs to give
// the intake's own error, so errors read as they did when the intake ran
// first. Only a document the intake accepts gets the parser's error.
func parseTree(doc []byte, lim Limits) (*jnode, error) {
	return parseTreeIn(doc, lim, nil)
}

// parseTreeIn is parseTree with the nodes taken from arena, when it is not
// nil. The tree is then valid until the arena is reset.
func parseTreeIn(doc []byte, lim Limits, arena *treeArena) (*jnode, error) {
	root, err := readTree(doc, lim, arena)
	if err == nil {
		return root, nil
	}
	if cerr := fhirjson.CheckObject(doc, intakeLimits(lim)); cerr != nil {
		return nil, cerr
	}
	return nil, err
}

func intakeLimits(lim Limits) fhirjson.Limits {
	return fhirjson.Limits{MaxBytes: lim.MaxBytes, MaxDepth: lim.MaxDepth, MaxStringLength: lim.MaxStringLength}
}

// errIntake marks a fault the intake reports in its own words.
var errIntake = errors.New("validate: document rejected by the intake")

func readTree(doc []byte, lim Limits, arena *treeArena) (*jnode, error) {
	if int64(len(doc)) > lim.MaxBytes {
		return nil, errIntake
	}
	// One copy of the document contains every string of the tree: members
	// and values without escapes are substrings of it, so reading them
	// allocates nothing.
	src := string(doc)
	if root := scanTree(src, lim, arena); root != nil {
		return root, nil
	}
	// The decoder reads what the scanner gave up on, and returns the error.
	return decodeTree(doc, src, lim, arena)
}

// decodeTree reads doc into a tree with the jsontext decoder. src is doc
// as a string, from which the tree's strings are cut.
func decodeTree(doc []byte, src string, lim Limits, arena *treeArena) (*jnode, error) {
	p := &treeParser{lim: lim, intake: true, src: src, arena: arena}
	if arena != nil {
		p.dec = arena.decoder(doc)
		p.props, p.items = arena.propStack[:0], arena.itemStack[:0]
		defer func() {
			// After a failure the stacks still contain members and items.
			clear(p.props)
			clear(p.items)
			arena.propStack, arena.itemStack = p.props[:0], p.items[:0]
		}()
	} else {
		p.dec = jsontext.NewDecoder(bytes.NewBuffer(doc), decoderOptions...)
	}
	root, err := p.value()
	if err != nil {
		return nil, err
	}
	if root.kind != kindObject {
		return nil, errIntake
	}
	if _, err := p.dec.ReadToken(); !errors.Is(err, io.EOF) {
		return nil, errors.New("validate: data after the top-level value")
	}
	return root, nil
}

type treeParser struct {
	dec   *jsontext.Decoder
	lim   Limits
	nodes int
	// intake applies the intake's depth and string limits while reading.
	intake bool
	// src is the text the decoder reads, when the caller has it as a
	// string. Strings of the tree are then cut from it.
	src string

	slab  []jnode  // nodes are allocated from here, a chunk at a time
	props []jprop  // members of the objects being read, innermost last
	items []*jnode // items of the arrays being read, innermost last

	arena *treeArena // when not nil, nodes, members and items come from it
}

// treeArena holds the nodes of instance trees, kept in a pooled run for
// the next validation. Trees of definitions, which caches keep, never use
// one.
type treeArena struct {
	nodes chunks.List[jnode]
	props chunks.List[jprop]
	items chunks.List[*jnode]

	// The decoder and the parser's stacks of members and items are reused
	// too: a new decoder grows its stacks of names and tokens again, a few
	// dozen allocations for a PAS Bundle. in is the decoder's input.
	dec       *jsontext.Decoder
	in        bytes.Buffer
	propStack []jprop
	itemStack []*jnode
}

// decoderOptions make the decoder reject what the intake rejects:
// duplicate member names and invalid UTF-8.
var decoderOptions = []jsontext.Options{jsontext.AllowDuplicateNames(false), jsontext.AllowInvalidUTF8(false)}

// decoder returns the arena's decoder, reset to read doc. A bytes.Buffer
// lets the decoder read doc in place instead of copying it into a buffer
// of its own, because the decoder only reads the bytes.
func (a *treeArena) decoder(doc []byte) *jsontext.Decoder {
	a.in = *bytes.NewBuffer(doc)
	if a.dec == nil {
		a.dec = jsontext.NewDecoder(&a.in, decoderOptions...)
	} else {
		a.dec.Reset(&a.in, decoderOptions...)
	}
	return a.dec
}

func (a *treeArena) reset() {
	a.nodes.Reset()
	a.props.Reset()
	a.items.Reset()
	if a.dec != nil {
		// Reset to an empty input, so that the pooled decoder does not
		// keep the document alive.
		a.in = bytes.Buffer{}
		a.dec.Reset(&a.in, decoderOptions...)
	}
	if cap(a.propStack) > maxKeptMapEntries || cap(a.itemStack) > maxKeptMapEntries {
		a.propStack, a.itemStack = nil, nil
	}
}

func (p *treeParser) newNode(kind byte) *jnode {
	return newTreeNode(p.arena, &p.slab, kind)
}

// newTreeNode returns a node of the given kind from arena, or from slab
// when arena is nil. slab is refilled 128 nodes at a time.
func newTreeNode(arena *treeArena, slab *[]jnode, kind byte) *jnode {
	if arena != nil {
		n := arena.nodes.One()
		n.kind = kind
		return n
	}
	if len(*slab) == 0 {
		*slab = make([]jnode, 128)
	}
	n := &(*slab)[0]
	*slab = (*slab)[1:]
	n.kind = kind
	return n
}

func (p *treeParser) value() (*jnode, error) {
	p.nodes++
	if p.nodes > p.lim.MaxNodes {
		return nil, fmt.Errorf("validate: document has more than %d JSON values", p.lim.MaxNodes)
	}
	if kind := byte(p.dec.PeekKind()); kind == kindObject || kind == kindArray {
		if _, err := p.dec.ReadToken(); err != nil {
			return nil, fmt.Errorf("validate: invalid JSON at byte %d", p.dec.InputOffset())
		}
		if p.intake && p.dec.StackDepth() > p.lim.MaxDepth {
			return nil, errIntake
		}
		n := p.newNode(kind)
		if kind == kindObject {
			return n, p.object(n)
		}
		return n, p.array(n)
	}
	raw, err := p.dec.ReadValue()
	if err != nil {
		return nil, fmt.Errorf("validate: invalid JSON at byte %d", p.dec.InputOffset())
	}
	n := p.newNode(byte(raw.Kind()))
	switch n.kind {
	case kindString:
		if n.text, err = p.stringValue(raw); err != nil {
			return nil, err
		}
		// The decoder rejects raw control characters as the scanner does.
		n.unescaped = bytes.IndexByte(raw, '\\') < 0
	case kindNumber:
		n.text = p.rawText(raw)
	}
	return n, nil
}

// stringValue returns the text of a JSON string read as raw.
func (p *treeParser) stringValue(raw jsontext.Value) (string, error) {
	var text string
	if bytes.IndexByte(raw, '\\') < 0 {
		quoted := p.rawText(raw)
		text = quoted[1 : len(quoted)-1]
	} else {
		// Unquoting never lengthens a string, so one buffer of len(raw)
		// holds the result, and nothing else refers to it once it is a
		// string. Narratives are the bulk of most bodies and all have
		// escaped quotes, so this saves a grown copy and a second one.
		b, err := jsontext.AppendUnquote(make([]byte, 0, len(raw)), raw)
		if err != nil {
			return "", fmt.Errorf("validate: invalid JSON at byte %d", p.dec.InputOffset())
		}
		text = unsafe.String(unsafe.SliceData(b), len(b))
	}
	if p.intake && len(text) > p.lim.MaxStringLength {
		return "", errIntake
	}
	return text, nil
}

// rawText returns raw, the value just read, as a string: cut from src
// when src contains it at the decoder's offset, else copied.
func (p *treeParser) rawText(raw []byte) string {
	end := int(p.dec.InputOffset())
	start := end - len(raw)
	if start >= 0 && end <= len(p.src) && p.src[start:end] == string(raw) {
		return p.src[start:end]
	}
	return string(raw)
}

func (p *treeParser) object(n *jnode) error {
	mark := len(p.props)
	for p.dec.PeekKind() == kindString {
		name, err := p.dec.ReadValue()
		if err != nil {
			return fmt.Errorf("validate: invalid JSON at byte %d", p.dec.InputOffset())
		}
		key, err := p.stringValue(name)
		if err != nil {
			return err
		}
		v, err := p.value()
		if err != nil {
			return err
		}
		p.props = append(p.props, jprop{name: key, val: v})
	}
	if len(p.props) > mark && p.arena != nil {
		n.props = p.arena.props.Take(len(p.props) - mark)
		copy(n.props, p.props[mark:])
		clear(p.props[mark:])
		p.props = p.props[:mark]
	} else if len(p.props) > mark {
		n.props = append(make([]jprop, 0, len(p.props)-mark), p.props[mark:]...)
		clear(p.props[mark:])
		p.props = p.props[:mark]
	}
	_, err := p.dec.ReadToken() // }
	return err
}

func (p *treeParser) array(n *jnode) error {
	mark := len(p.items)
	for p.dec.PeekKind() != ']' {
		if len(p.items)-mark >= p.lim.MaxArrayItems {
			return fmt.Errorf("validate: array at byte %d has more than %d items", p.dec.InputOffset(), p.lim.MaxArrayItems)
		}
		v, err := p.value()
		if err != nil {
			return err
		}
		p.items = append(p.items, v)
	}
	if len(p.items) > mark && p.arena != nil {
		n.items = p.arena.items.Take(len(p.items) - mark)
		copy(n.items, p.items[mark:])
		clear(p.items[mark:])
		p.items = p.items[:mark]
	} else if len(p.items) > mark {
		n.items = append(make([]*jnode, 0, len(p.items)-mark), p.items[mark:]...)
		clear(p.items[mark:])
		p.items = p.items[:mark]
	}
	_, err := p.dec.ReadToken() // ]
	return err
}
