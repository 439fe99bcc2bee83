package validate

import (
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gatehouse-health/gatehouse/internal/corpustest"
)

// xhtmlCases are narratives at the edges of what quickXHTML accepts.
var xhtmlCases = []string{
	`<div xmlns="http://www.w3.org/1999/xhtml">x</div>`,
	` <div xmlns='http://www.w3.org/1999/xhtml' class="a">a &amp; b&nbsp;<br/><p>é</p></div> `,
	`<div xmlns="http://www.w3.org/1999/xhtml">&nbsp;</div>`,
	`<div xmlns="http://www.w3.org/1999/xhtml"><img src="a.png"/></div>`,
	`<div xmlns="http://www.w3.org/1999/xhtml"><a href=" JavaScript:x">a</a></div>`,
	`<div xmlns="http://www.w3.org/1999/xhtml"><a href="&nbsp;javascript:x">a</a></div>`,
	`<div xmlns="http://www.w3.org/1999/xhtml"><a href="x?a=1&amp;b=2">a</a></div>`,
	"<div xmlns=\"http://www.w3.org/1999/xhtml\"><span title=\"a &quot;b&quot;\nc\">x</span></div>",
	`<div xmlns="http://www.w3.org/1999/xhtml"><span title="a &copy; b">x</span></div>`,
	`<div xmlns="http://www.w3.org/1999/xhtml"><script>x</script></div>`,
	`<div xmlns="http://www.w3.org/1999/xhtml" onclick="x">a</div>`,
	`<div>x</div>`,
	`<div xmlns="http://www.w3.org/1999/xhtml"><p>x</div>`,
	`<div xmlns="http://www.w3.org/1999/xhtml"><p xmlns="http://www.w3.org/1999/xhtml">x</p></div>`,
	`<div xmlns="http://www.w3.org/1999/xhtml" xml:lang="en"><td nowrap="nowrap">x</td></div>`,
	`<div xmlns="http://www.w3.org/1999/xhtml">a &copy; b</div>`,
	`<div xmlns="http://www.w3.org/1999/xhtml">a]]>b</div>`,
	`<div xmlns="http://www.w3.org/1999/xhtml"><!-- c -->x</div>`,
	"<div xmlns=\"http://www.w3.org/1999/xhtml\">a\x01</div>",
	"<div xmlns=\"http://www.w3.org/1999/xhtml\">\xff</div>",
	`<div xmlns="http://www.w3.org/1999/xhtml" class="a" class="b">x</div>`,
	`<div xmlns="http://www.w3.org/1999/xhtml"></div><div xmlns="http://www.w3.org/1999/xhtml">x</div>`,
}

// TestQuickXHTMLNeverAcceptsInvalid requires checkXHTML to accept every
// narrative quickXHTML accepts: the edge cases above, the narratives of
// the R4 examples, and random changes to both.
func TestQuickXHTMLNeverAcceptsInvalid(t *testing.T) {
	inputs := append([]string(nil), xhtmlCases...)
	inputs = append(inputs, corpusNarratives(t)...)
	rng := rand.New(rand.NewPCG(3, 4))
	alphabet := `<>/="' &;:abdipvxmlnsr` + "\t\x01\xc3\xa9"
	checked := 0
	for _, in := range inputs {
		variants := []string{in}
		for range 20 {
			variants = append(variants, mutate(rng, in, alphabet))
		}
		for _, s := range variants {
			if quickXHTML(s) {
				checked++
				if err := checkXHTML(s); err != nil {
					t.Errorf("quickXHTML accepts %q, checkXHTML rejects it: %v", s, err)
				}
			}
		}
	}
	if checked == 0 {
		t.Fatal("quickXHTML accepted nothing")
	}
}

// TestQuickXHTMLCoversCorpus requires the quick check to decide most
// published narratives, or it would not save anything.
func TestQuickXHTMLCoversCorpus(t *testing.T) {
	divs := corpusNarratives(t)
	accepted := 0
	for _, d := range divs {
		if quickXHTML(d) {
			accepted++
		}
	}
	t.Logf("quickXHTML accepts %d of %d narratives", accepted, len(divs))
	if accepted*10 < len(divs)*8 {
		t.Errorf("quickXHTML accepts %d of %d narratives of the R4 examples, want at least 80%%", accepted, len(divs))
	}
}

// corpusNarratives returns the top-level narrative of every R4 example
// that has one.
func corpusNarratives(t testing.TB) []string {
	t.Helper()
	dir := filepath.Join(corpustest.Unpack(t, "fhir-r4-examples/hl7.fhir.r4.examples-4.0.1.tgz"), "package")
	files, _ := filepath.Glob(filepath.Join(dir, "*.json"))
	var out []string
	for _, f := range files {
		if isConformanceFile(filepath.Base(f)) {
			continue
		}
		body, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		tree, err := parseTree(body, DefaultLimits)
		if err != nil {
			continue
		}
		if div := tree.prop("text").prop("div"); div != nil && div.kind == kindString {
			out = append(out, div.text)
		}
	}
	if len(out) < 100 {
		t.Fatalf("only %d narratives found", len(out))
	}
	return out
}

// TestJavaScriptScheme pins hasJavaScriptScheme to the expression it
// replaces, applied to the link as a browser's URL parser reads it: with
// leading C0 controls removed and tabs, line feeds and carriage returns
// removed everywhere. Runes whose lower case is ASCII are included.
func TestJavaScriptScheme(t *testing.T) {
	cases := []string{
		"javascript:x", "JavaScript:x", " \t\njavascript:x", "\u00a0javascript:x", "\u2003JAVASCRIPT:",
		"javascr\u0130pt:x", "javascr\u0131pt:x", "javascript", "javascript :x", "java script:x",
		"http://x/javascript:", "", " ", "j", "\xffjavascript:", "javascript:\xff", "javascript\u212a",
		"java\tscript:x", "java\nscript:x", "j\ra\tv\na\tscript\t:x", "\x01\x1fjavascript:x",
		"javascript\u00a0:x", "java\fscript:x",
	}
	browser := strings.NewReplacer("\t", "", "\n", "", "\r", "")
	for _, v := range cases {
		read := browser.Replace(strings.TrimLeft(v, "\x00\x01\x1f"))
		want := strings.HasPrefix(strings.ToLower(strings.TrimSpace(read)), "javascript:")
		if got := hasJavaScriptScheme(v); got != want {
			t.Errorf("hasJavaScriptScheme(%q) = %v, want %v", v, got, want)
		}
	}
}

// TestXHTMLNameLists checks the allowed names against a few that txt-1
// allows and a few it does not, case included.
func TestXHTMLNameLists(t *testing.T) {
	for _, name := range []string{"div", "a", "h6", "tbody", "var", "img", "br"} {
		if !isXHTMLElement(name) {
			t.Errorf("element %q is allowed, isXHTMLElement returns false", name)
		}
	}
	for _, name := range []string{"script", "DIV", "h7", "form", "iframe", "style", ""} {
		if isXHTMLElement(name) {
			t.Errorf("element %q is not allowed, isXHTMLElement returns true", name)
		}
	}
	for _, name := range []string{"href", "src", "class", "style", "colspan", "width", "title"} {
		if !isXHTMLAttribute(name) {
			t.Errorf("attribute %q is allowed, isXHTMLAttribute returns false", name)
		}
	}
	for _, name := range []string{"onclick", "HREF", "xmlns", "formaction", "srcset", ""} {
		if isXHTMLAttribute(name) {
			t.Errorf("attribute %q is not allowed, isXHTMLAttribute returns true", name)
		}
	}
}

// TestQuickXHTMLAllocations requires the quick path to allocate nothing
// on a clean narrative of ordinary depth.
func TestQuickXHTMLAllocations(t *testing.T) {
	div := `<div xmlns="http://www.w3.org/1999/xhtml" xml:lang="en"><table class="grid"><tr><td>a &amp; b</td>` +
		`<td><a href="http://example.org/x">é</a><br/></td></tr></table><p><img src="a.png" alt="a"/></p></div>`
	if !quickXHTML(div) {
		t.Fatal("quickXHTML rejects a clean narrative")
	}
	if n := testing.AllocsPerRun(100, func() { quickXHTML(div) }); n != 0 {
		t.Errorf("quickXHTML allocates %v times per narrative, want 0", n)
	}
}

// TestQuickXHTMLDeepNesting checks narrative nested deeper than the
// stack quickXHTML keeps without allocating, closed and unclosed.
func TestQuickXHTMLDeepNesting(t *testing.T) {
	depth := maxQuickDepth + 8
	div := `<div xmlns="http://www.w3.org/1999/xhtml">` + strings.Repeat("<span>", depth) + "x" + strings.Repeat("</span>", depth) + "</div>"
	if !quickXHTML(div) {
		t.Errorf("quickXHTML rejects %d nested spans", depth)
	}
	if err := checkXHTML(div); err != nil {
		t.Errorf("checkXHTML rejects %d nested spans: %v", depth, err)
	}
	unclosed := `<div xmlns="http://www.w3.org/1999/xhtml">` + strings.Repeat("<span>", depth) + "x" + strings.Repeat("</span>", depth-1) + "</div>"
	if quickXHTML(unclosed) {
		t.Errorf("quickXHTML accepts %d spans with one left open", depth)
	}
}

// FuzzQuickXHTML requires checkXHTML to accept whatever quickXHTML
// accepts, from the edge cases above as seeds.
func FuzzQuickXHTML(f *testing.F) {
	for _, s := range xhtmlCases {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if quickXHTML(s) {
			if err := checkXHTML(s); err != nil {
				t.Fatalf("quickXHTML accepts %q, checkXHTML rejects it: %v", s, err)
			}
		}
	})
}

// TestNarrativeReadDifferentlyByHTML checks that narratives an HTML
// parser would turn into elements are refused, and that harmless CDATA
// sections and comments still pass.
func TestNarrativeReadDifferentlyByHTML(t *testing.T) {
	const root = `<div xmlns="http://www.w3.org/1999/xhtml">`
	for div, ok := range map[string]bool{
		`<![CDATA[ x><img src="x"/> ]]>text`: false,
		`<!--><img src="x"/>-->text`:         false,
		`<!---><img src="x"/>-->text`:        false,
		`<![CDATA[ a < b & c ]]>text`:        true,
		`<!-- a > b -->text`:                 true,
		`<!-- -> -->text`:                    true,
	} {
		err := checkXHTML(root + div + `</div>`)
		if (err == nil) != ok {
			t.Errorf("%s: error %v, want accepted %v", div, err, ok)
		}
	}
}
