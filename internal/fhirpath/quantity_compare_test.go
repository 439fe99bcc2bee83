package fhirpath

import (
	"math/big"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"unsafe"
)

// compareQuantities and convertQuantity work on unreduced fractions; these
// references compute the same results with reduced big.Rat values.

func refCanonical(q Quantity) (*big.Rat, dimensions, bool) {
	unit := q.Unit
	if u, ok := calendarToUCUM[unit]; ok {
		unit = u
	}
	d, ok := parseUnit(unit)
	if !ok {
		return nil, dimensions{}, false
	}
	v := new(big.Rat).SetFrac(q.Value.big(), pow10(int(q.Value.scale)))
	return v.Mul(v, d.factor), d.dims, true
}

func refConvert(q Quantity, unit string) (Decimal, bool) {
	from, df, ok1 := refCanonical(q)
	to, dt, ok2 := refCanonical(Quantity{Value: DecimalFromInt(1), Unit: unit})
	if !ok1 || !ok2 || df != dt {
		return Decimal{}, false
	}
	r := new(big.Rat).Quo(from, to)
	d, ok, err := Decimal{coef: new(big.Int).Set(r.Num())}.Quo(Decimal{coef: new(big.Int).Set(r.Denom())})
	return d, ok && err == nil
}

var comparedUnits = []string{
	"g", "mg", "kg", "[lb_av]", "m", "cm", "[in_i]", "s", "min", "h", "d", "wk",
	"day", "week", "hour", "second", "millisecond", "ms", "L", "mL", "mm[Hg]", "kPa", "%", "1", "10*3/uL",
}

func TestQuantityConversionMatchesRationals(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for range 5000 {
		a := Quantity{Value: Decimal{coef: big.NewInt(r.Int64N(200000) - 100000), scale: int32(r.IntN(6))}, Unit: comparedUnits[r.IntN(len(comparedUnits))]}
		b := Quantity{Value: Decimal{coef: big.NewInt(r.Int64N(200000) - 100000), scale: int32(r.IntN(6))}, Unit: comparedUnits[r.IntN(len(comparedUnits))]}
		if a.Unit == b.Unit {
			continue
		}

		got, ok := compareQuantities(a, b, false)
		ra, da, ok1 := refCanonical(a)
		rb, db, ok2 := refCanonical(b)
		wantOK := ok1 && ok2 && da == db
		if ok != wantOK || ok && got != ra.Cmp(rb) {
			t.Fatalf("compareQuantities(%v, %v) = %d, %v; want %d, %v", a, b, got, ok, ra.Cmp(rb), wantOK)
		}

		conv, ok := convertQuantity(a, b.Unit)
		want, wantOK := refConvert(a, b.Unit)
		if ok != wantOK || ok && !sameDecimal(conv.Value, want) {
			t.Fatalf("convertQuantity(%v, %q) = %v, %v; want %v, %v", a, b.Unit, conv.Value, ok, want, wantOK)
		}
	}
}

// TestUnitCacheKeysAreCopies caches a unit cut from a large document. The
// cache lives as long as the process, so its key must not share the
// document's memory and keep the whole document alive.
func TestUnitCacheKeysAreCopies(t *testing.T) {
	doc, unit := inDocument("km/h")
	cachedUnit(unit)
	requireCopiedKey(t, &unitCache, doc, unit)
}

// TestRegexCacheKeysAreCopies is TestUnitCacheKeysAreCopies for the
// patterns of matches() and replaceMatches(), which may come from a
// document too.
func TestRegexCacheKeysAreCopies(t *testing.T) {
	doc, pattern := inDocument("^[a-z]{3}-cache-key-test$")
	if _, err := compileRegex(nil, pattern, false); err != nil {
		t.Fatal(err)
	}
	requireCopiedKey(t, &regexCache, doc, pattern)
}

// inDocument returns a large document and s cut from its middle.
func inDocument(s string) (doc, cut string) {
	pad := strings.Repeat(" ", 1<<16)
	doc = pad + s + pad
	return doc, doc[len(pad) : len(pad)+len(s)]
}

// requireCopiedKey fails unless cache holds key in memory outside doc.
func requireCopiedKey(t *testing.T, cache *sync.Map, doc, key string) {
	t.Helper()
	start := uintptr(unsafe.Pointer(unsafe.StringData(doc)))
	end := start + uintptr(len(doc))
	found := false
	cache.Range(func(k, _ any) bool {
		if k.(string) != key {
			return true
		}
		found = true
		if p := uintptr(unsafe.Pointer(unsafe.StringData(k.(string)))); p >= start && p < end {
			t.Error("the cached key shares the document's memory")
		}
		return false
	})
	if !found {
		t.Fatal("the key was not cached")
	}
}

// TestUnitExponentBounds parses units whose exponents a hostile document
// can choose. Before the bound, "m256" wrapped the int8 length dimension
// to 0 and compared equal to a pure number, and "km2147483647" multiplied
// the factor two billion times.
func TestUnitExponentBounds(t *testing.T) {
	rejected := []string{
		"m256",                  // wraps to dimensionless
		"m-128",                 // wraps to m128
		"m13",                   // above the bound
		"km2147483647",          // two billion multiplications
		"m-9223372036854775808", // abs overflows
		"(m3)5",                 // 15: the bound applies to the product too
		strings.Repeat("m.", 12) + "m",
		strings.Repeat("Mm/mm.", 200) + "m", // factor of 10^1800 with length 1
	}
	for _, u := range rejected {
		if _, ok := parseUnit(u); ok {
			t.Errorf("parseUnit(%.40q) succeeded, want a rejected unit", u)
		}
	}

	accepted := []string{"m12", "s-2", "(m3)4/m", "kg.m2.s-3", "10*24/L"}
	for _, u := range accepted {
		if _, ok := parseUnit(u); !ok {
			t.Errorf("parseUnit(%q) failed, want a unit", u)
		}
	}

	checkSingleStrings(t, []struct{ expr, want string }{
		{"1 'm256' = 1 '1'", "false"},
		{"1 'm12' > 1 'm'", ""},
	})
}
