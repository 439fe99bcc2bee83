package validate

import (
	"bytes"
	"strings"

	"github.com/gatehouse-health/gatehouse/internal/fhirpath"
	"github.com/gatehouse-health/gatehouse/internal/fhirreq"
	"github.com/gatehouse-health/gatehouse/internal/outcome"
)

// bundleIndex lists the entries of a Bundle being validated, so that
// references inside it resolve to its entries.
type bundleIndex struct {
	typ string // Bundle.type
	// selfContained is set when every reference must resolve inside the
	// Bundle: documents, messages, and Bundles of a profile listed in
	// Options.SelfContainedBundles.
	selfContained bool
	entries       []bundleEntry
	// path and fp locate the Bundle. reportsAsWalk is set when its walk
	// records issues as the top-level walk does, so that entry checks
	// can run for its entries (see entryCheck). entryChecks contains them.
	path          string
	fp            *fhirpath.Node
	reportsAsWalk bool
	entryChecks   map[*jnode]*entryCheck
	byFullURL     map[string]int
	byNode        map[*jnode]int // entry resources to their index
	versions      map[string]struct{}

	// byFoldedURL maps fhirreq.FoldFullURL of each fullUrl to the first
	// entry with that folded form.
	byFoldedURL map[string]int
}

type bundleEntry struct {
	fullURL string
	res     *jnode
	item    int // the index in Bundle.entry
}

// pushBundle indexes a Bundle's entries and checks the rules between them:
// fullUrl is unique, and a RESTful fullUrl ends with the entry resource's
// type and id.
func (r *run) pushBundle(n *jnode, path string, fp *fhirpath.Node, profiles []*structure) {
	entries := n.prop("entry")
	count := 0
	if entries != nil && entries.kind == kindArray {
		count = len(entries.items)
	}
	b := r.newBundleIndex(count)
	b.typ = n.str("type")
	b.path, b.fp, b.reportsAsWalk = path, fp, r.reportsAsWalk()
	b.selfContained = b.typ == "document" || b.typ == "message"
	for _, p := range profiles {
		b.selfContained = b.selfContained || r.v.selfContained[p.url]
	}
	for i := range count {
		if e := entries.items[i]; e.kind == kindObject {
			r.indexEntry(b, e, path, i)
		}
	}
	r.bundles = append(r.bundles, b)
}

// popBundle ends the innermost Bundle and keeps its index for the next
// Bundle of the run: a Bundle is validated again against each profile
// that applies to it and inside each profile check of it.
func (r *run) popBundle() {
	b := r.bundles[len(r.bundles)-1]
	r.bundles[len(r.bundles)-1] = nil
	r.bundles = r.bundles[:len(r.bundles)-1]
	clear(b.entries)
	clear(b.byFullURL)
	clear(b.byFoldedURL)
	clear(b.byNode)
	clear(b.versions)
	clear(b.entryChecks)
	*b = bundleIndex{entries: b.entries[:0], byFullURL: b.byFullURL, byFoldedURL: b.byFoldedURL, byNode: b.byNode, versions: b.versions, entryChecks: b.entryChecks}
	r.spareBundles = append(r.spareBundles, b)
}

// newBundleIndex returns an empty index. It reuses one the run has left,
// or makes the list and maps for count entries up front instead of
// growing a few times on the way.
func (r *run) newBundleIndex(count int) *bundleIndex {
	if n := len(r.spareBundles); n > 0 {
		b := r.spareBundles[n-1]
		r.spareBundles[n-1] = nil
		r.spareBundles = r.spareBundles[:n-1]
		return b
	}
	return &bundleIndex{entries: make([]bundleEntry, 0, count),
		byFullURL: make(map[string]int, count), byFoldedURL: make(map[string]int, count), byNode: make(map[*jnode]int, count), versions: make(map[string]struct{}, count),
		entryChecks: map[*jnode]*entryCheck{}}
}

// innermostBundle returns the index of the Bundle being validated that
// contains the current element most closely, or nil outside any Bundle.
func (r *run) innermostBundle() *bundleIndex {
	if len(r.bundles) == 0 {
		return nil
	}
	return r.bundles[len(r.bundles)-1]
}

// indexEntry adds entry i of the Bundle at bundlePath to b. The entry's
// path is built only for an issue.
func (r *run) indexEntry(b *bundleIndex, e *jnode, bundlePath string, i int) {
	entry := bundleEntry{fullURL: e.str("fullUrl"), res: e.prop("resource"), item: i}
	at := len(b.entries)
	b.entries = append(b.entries, entry)
	if entry.res != nil {
		b.byNode[entry.res] = at
	}
	if entry.fullURL == "" {
		return
	}
	// R4 defines fullUrl as the absolute URL of the resource, but no bdl
	// invariant tests it. A reader that matches references as written
	// takes the entry at the relative fullUrl "Organization/1" for the
	// reference "Organization/1". A reader that follows R4 resolves the
	// reference against the referring entry's base and takes another one.
	if !hasScheme(entry.fullURL) {
		r.errorf(outcome.CodeInvalid, indexed(bundlePath+".entry", i)+".fullUrl",
			"fullUrl must be an absolute URL with a scheme, such as http://server/fhir/Type/id or urn:uuid:..., not a relative URL")
	}
	// bdl-7: fullUrl is unique, except for versions of one resource.
	versioned := entry.fullURL + "|" + entry.res.prop("meta").str("versionId")
	if _, dup := b.versions[versioned]; dup && !b.allowsDuplicates() {
		r.errorf(outcome.CodeDuplicate, indexed(bundlePath+".entry", i)+".fullUrl", "fullUrl is used by more than one entry")
	}
	b.versions[versioned] = struct{}{}
	if _, dup := b.byFullURL[entry.fullURL]; !dup {
		b.byFullURL[entry.fullURL] = at
	}
	folded := fhirreq.FoldFullURL(entry.fullURL)
	if first, seen := b.byFoldedURL[folded]; !seen {
		b.byFoldedURL[folded] = at
	} else if other := b.entries[first]; other.fullURL != entry.fullURL {
		r.errorf(outcome.CodeDuplicate, indexed(bundlePath+".entry", i)+".fullUrl",
			"fullUrl differs from the fullUrl of entry[%d] only in the letter case of its scheme or host, or in a trailing slash, so readers may take both as one entry; give each entry a distinct fullUrl", other.item)
	}
	if entry.res == nil || entry.res.kind != kindObject {
		return
	}
	typ, id, ok := restfulTail(entry.fullURL)
	rt, rid := entry.res.str("resourceType"), entry.res.str("id")
	if ok && (typ != rt || rid != "" && id != rid) {
		r.errorf(outcome.CodeInvalid, indexed(bundlePath+".entry", i)+".fullUrl", "fullUrl does not match the type and id of the entry's resource")
	}
}

// allowsDuplicates reports whether the Bundle type may list one resource
// several times (as versions of it), which history Bundles do.
func (b *bundleIndex) allowsDuplicates() bool { return b.typ == "history" }

// restfulTail returns the type and id a RESTful URL ends with
// ("http://x/fhir/Patient/1" or "Patient/1/_history/2").
func restfulTail(url string) (typ, id string, ok bool) {
	if strings.HasPrefix(url, "urn:") {
		return "", "", false
	}
	typ, id, ok = lastTwoSegments(url)
	if !ok || !resourceTypeNames[typ] || id == "" {
		return "", "", false
	}
	return typ, id, true
}

// lastTwoSegments returns the last two path segments of a reference
// without its "/_history/" part, which are the type and id of a RESTful
// reference. ok is false when the reference has no "/".
func lastTwoSegments(ref string) (typ, id string, ok bool) {
	if i := strings.Index(ref, "/_history/"); i >= 0 {
		ref = ref[:i]
	}
	slash := strings.LastIndexByte(ref, '/')
	if slash < 0 {
		return "", "", false
	}
	return ref[strings.LastIndexByte(ref[:slash], '/')+1 : slash], ref[slash+1:], true
}

// resolveInBundle finds the entry a reference points to, following the
// FHIR rules. Absolute references match a fullUrl. A relative one is taken
// against the base of the referring entry's fullUrl, or, when that fullUrl
// is not RESTful, names the one entry with that type and id. A relative
// reference never matches a fullUrl as written, so it resolves to the
// entry that congruence and the built-in payer resolve it to.
//
// ambiguous is set, and target is nil, when some other entry is a
// reasonable reading of a relative reference too: its resource has that
// type and id, or its fullUrl ends in that type and id. Readers differ in
// what they take as RESTful (the case of the scheme, a type segment that
// is no resource type). They also differ in whether they look past the
// base. So the payer could act on an entry other than the one validated.
// variant is set, and target is nil, when the reference (made absolute
// against the referring entry's base) equals no fullUrl but equals one
// after fhirreq.FoldFullURL. Some readers resolve it to that entry, and
// others look outside the Bundle.
func (r *run) resolveInBundle(ref string) (target *jnode, ambiguous, variant bool) {
	b := r.innermostBundle()
	if b == nil {
		return nil, false, false
	}
	if isAbsolute(ref) {
		if i, ok := b.byFullURL[ref]; ok {
			return b.entries[i].res, false, false
		}
		_, variant = b.byFoldedURL[fhirreq.FoldFullURL(ref)]
		return nil, false, variant
	}
	// An entry at the relative fullUrl "Patient/1" is not the target of
	// "Patient/1", only another reading of it (see otherReading).
	typ, id, ok := restfulTail(ref)
	if !ok {
		return nil, false, false
	}
	found := -1
	if base := r.referringBase(b); base != "" {
		// The full URL is joined on the stack: looking up a converted
		// byte slice does not allocate, and most URLs fit the room.
		var room [128]byte
		full := append(append(room[:0], base...), ref...)
		if i, ok := b.byFullURL[string(full)]; ok {
			found = i
		} else if _, variant = b.byFoldedURL[fhirreq.FoldFullURL(string(full))]; variant {
			return nil, false, true
		}
	} else {
		found = b.onlyWithTypeAndID(typ, id)
	}
	if b.otherReading(found, typ, id) {
		return nil, true, false
	}
	if found < 0 {
		return nil, false, false
	}
	return b.entries[found].res, false, false
}

// onlyWithTypeAndID returns the index of the one entry whose resource has
// type typ and id id, or -1 when there is none or more than one.
func (b *bundleIndex) onlyWithTypeAndID(typ, id string) int {
	found := -1
	for i, e := range b.entries {
		if e.res == nil || e.res.str("resourceType") != typ || e.res.str("id") != id {
			continue
		}
		if found >= 0 {
			return -1
		}
		found = i
	}
	return found
}

// otherReading reports whether an entry other than the one at index found
// (-1 for none) has a resource of type typ with id id, or a fullUrl that
// ends in "/typ/id".
func (b *bundleIndex) otherReading(found int, typ, id string) bool {
	for i, e := range b.entries {
		if i == found {
			continue
		}
		if e.res != nil && e.res.str("resourceType") == typ && e.res.str("id") == id {
			return true
		}
		if tail, ok := strings.CutSuffix(e.fullURL, id); ok && strings.HasSuffix(tail, "/"+typ+"/") {
			return true
		}
	}
	return false
}

// referringBase returns the service base of the fullUrl of the entry being
// validated ("http://x/fhir/" of "http://x/fhir/Claim/1"), or "".
func (r *run) referringBase(b *bundleIndex) string {
	for i := len(r.resources) - 1; i >= 0; i-- {
		idx, ok := b.byNode[r.resources[i].node]
		if !ok {
			continue
		}
		url := b.entries[idx].fullURL
		typ, id, rest := restfulTail(url)
		if !rest {
			return ""
		}
		return url[:lastIndexOfStep(url, typ, id)]
	}
	return ""
}

// lastIndexOfStep returns the index of the last "typ/id" in url, without
// building that string. The caller knows url contains it.
func lastIndexOfStep(url, typ, id string) int {
	for end := len(url); ; {
		i := strings.LastIndex(url[:end], typ)
		if i < 0 {
			return -1
		}
		rest := url[i+len(typ):]
		if len(rest) > len(id) && rest[0] == '/' && rest[1:1+len(id)] == id {
			return i
		}
		end = i + len(typ) - 1
	}
}

// hasScheme reports whether url is an absolute URI: an RFC 3986 scheme
// (ALPHA *( ALPHA / DIGIT / "+" / "-" / "." )), a colon and at least one
// more character.
func hasScheme(url string) bool {
	colon := strings.IndexByte(url, ':')
	if colon < 1 || colon == len(url)-1 {
		return false
	}
	for i := range colon {
		c := url[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z':
		case i > 0 && ('0' <= c && c <= '9' || c == '+' || c == '-' || c == '.'):
		default:
			return false
		}
	}
	return true
}

func isAbsolute(ref string) bool {
	return strings.HasPrefix(ref, "urn:") || strings.Contains(ref, "://")
}

// isAbsoluteBytes is isAbsolute for a URL being built.
func isAbsoluteBytes(ref []byte) bool {
	return bytes.HasPrefix(ref, []byte("urn:")) || bytes.Contains(ref, []byte("://"))
}
