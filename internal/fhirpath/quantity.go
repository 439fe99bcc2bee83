package fhirpath

import (
	"math/big"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
)

// Quantity is System.Quantity: a decimal value with a unit. The unit is a
// UCUM code ("mg", "[lb_av]", "10*3/uL") or one of the FHIRPath calendar
// duration keywords in singular form ("year", "month", "week", "day",
// "hour", "minute", "second", "millisecond").
type Quantity struct {
	Value Decimal
	Unit  string
}

// String formats q as a FHIRPath literal: 4 days prints as "4 day", UCUM
// units are quoted ("4.5 'mg'").
func (q Quantity) String() string {
	if isCalendarUnit(q.Unit) {
		return q.Value.String() + " " + q.Unit
	}
	return q.Value.String() + " '" + q.Unit + "'"
}

func isCalendarUnit(u string) bool {
	switch u {
	case "year", "month", "week", "day", "hour", "minute", "second", "millisecond":
		return true
	}
	return false
}

// calendarToUCUM maps the calendar keywords whose length is fixed to the
// UCUM unit of the same length. Year and month are absent: a calendar year
// is not the UCUM year 'a' of 365.25 days.
var calendarToUCUM = map[string]string{
	"week": "wk", "day": "d", "hour": "h", "minute": "min", "second": "s", "millisecond": "ms",
}

// ucumToCalendar is calendarToUCUM reversed, and its values are distinct.
var ucumToCalendar = func() map[string]string {
	out := make(map[string]string, len(calendarToUCUM))
	for word, ucum := range calendarToUCUM {
		out[ucum] = word
	}
	return out
}()

// Dimensions of a unit: exponents of the base quantities below.
type dimensions [8]int8

const (
	dimLength = iota
	dimMass
	dimTime
	dimTemperature
	dimAmount        // mol
	dimEquivalents   // eq
	dimEnzymeUnits   // U
	dimInternational // [IU], [iU]
)

// unitDef is a unit reduced to a factor times base units.
type unitDef struct {
	factor *big.Rat
	dims   dimensions
}

type atomDef struct {
	factor string // decimal or fraction text
	dims   dimensions
	metric bool // accepts SI prefixes
	base   string
}

// ucumAtoms covers the UCUM units in common clinical use: SI base and
// derived units, customary length and mass, time, volume, and the
// arbitrary units of laboratory results. Derived atoms refer to another
// atom through base.
var ucumAtoms = map[string]atomDef{
	"m":     {factor: "1", dims: dimensions{dimLength: 1}, metric: true},
	"g":     {factor: "1", dims: dimensions{dimMass: 1}, metric: true},
	"s":     {factor: "1", dims: dimensions{dimTime: 1}, metric: true},
	"K":     {factor: "1", dims: dimensions{dimTemperature: 1}, metric: true},
	"mol":   {factor: "1", dims: dimensions{dimAmount: 1}, metric: true},
	"eq":    {factor: "1", dims: dimensions{dimEquivalents: 1}, metric: true},
	"U":     {factor: "1", dims: dimensions{dimEnzymeUnits: 1}, metric: true},
	"[IU]":  {factor: "1", dims: dimensions{dimInternational: 1}, metric: true},
	"[iU]":  {factor: "1", dims: dimensions{dimInternational: 1}, metric: true},
	"1":     {factor: "1"},
	"%":     {factor: "1/100"},
	"[ppm]": {factor: "1/1000000"},

	"min": {factor: "60", base: "s"},
	"h":   {factor: "3600", base: "s"},
	"d":   {factor: "86400", base: "s"},
	"wk":  {factor: "604800", base: "s"},
	"mo":  {factor: "2629800", base: "s"},  // mean Julian month, 30.4375 d
	"a":   {factor: "31557600", base: "s"}, // Julian year, 365.25 d

	"L":       {factor: "1/1000", base: "m3", metric: true},
	"l":       {factor: "1/1000", base: "m3", metric: true},
	"Hz":      {factor: "1", base: "s-1", metric: true},
	"N":       {factor: "1000", base: "g.m.s-2", metric: true},
	"Pa":      {factor: "1000", base: "g.m-1.s-2", metric: true},
	"J":       {factor: "1000", base: "g.m2.s-2", metric: true},
	"W":       {factor: "1000", base: "g.m2.s-3", metric: true},
	"bar":     {factor: "100000000", base: "g.m-1.s-2", metric: true},
	"cal":     {factor: "4184", base: "g.m2.s-2", metric: true},
	"mm[Hg]":  {factor: "133322", base: "g.m-1.s-2"},
	"cm[H2O]": {factor: "98066.5", base: "g.m-1.s-2"},

	"[in_i]":   {factor: "0.0254", base: "m"},
	"[ft_i]":   {factor: "0.3048", base: "m"},
	"[yd_i]":   {factor: "0.9144", base: "m"},
	"[mi_i]":   {factor: "1609.344", base: "m"},
	"[lb_av]":  {factor: "453.59237", base: "g"},
	"[oz_av]":  {factor: "28.349523125", base: "g"},
	"[gr]":     {factor: "0.06479891", base: "g"},
	"[foz_us]": {factor: "0.0295735295625", base: "L"},
	"[gal_us]": {factor: "3.785411784", base: "L"},
	"[pt_us]":  {factor: "0.473176473", base: "L"},
	"[drp]":    {factor: "0.00005", base: "L"},
	"[degF]":   {factor: "5/9", base: "K"}, // NOTE: a difference of degrees; the offset is not applied
	"Cel":      {factor: "1", base: "K"},   // NOTE: as [degF], conversions ignore the offset
}

var ucumPrefixes = map[string]string{
	"Y": "1e24", "Z": "1e21", "E": "1e18", "P": "1e15", "T": "1e12", "G": "1e9",
	"M": "1e6", "k": "1e3", "h": "1e2", "da": "1e1", "d": "1e-1", "c": "1e-2",
	"m": "1e-3", "u": "1e-6", "n": "1e-9", "p": "1e-12", "f": "1e-15", "a": "1e-18",
	"z": "1e-21", "y": "1e-24",
}

// parseUnit reduces a UCUM unit expression to a factor and dimensions. It
// accepts the UCUM term syntax: components joined by '.' and '/', integer
// exponents, parentheses, annotations in braces and factors like 10*3.
func parseUnit(u string) (unitDef, bool) {
	if u == "" {
		return unitDef{factor: big.NewRat(1, 1)}, true
	}
	p := unitParser{s: u}
	d, ok := p.term(0)
	if !ok || p.i != len(p.s) || d.factor.Sign() <= 0 {
		return unitDef{}, false // "0" or "10*-0" style factors cannot convert
	}
	return d, true
}

type unitParser struct {
	s string
	i int
}

func (p *unitParser) term(depth int) (unitDef, bool) {
	if depth > 8 {
		return unitDef{}, false
	}
	acc := unitDef{factor: big.NewRat(1, 1)}
	divide := false
	if p.i < len(p.s) && p.s[p.i] == '/' {
		divide = true
		p.i++
	}
	for {
		c, ok := p.component(depth)
		if !ok {
			return unitDef{}, false
		}
		acc, ok = combine(acc, c, divide)
		if !ok {
			return unitDef{}, false
		}
		if p.i >= len(p.s) || (p.s[p.i] != '.' && p.s[p.i] != '/') {
			return acc, true
		}
		divide = p.s[p.i] == '/'
		p.i++
	}
}

// maxUnitExponent bounds every exponent in a unit, whether written on
// an atom ("m3"), on a parenthesised term or reached by repeating a
// component ("m.m.m"). Clinical units stay far below it. It keeps the
// int8 dimensions from wrapping ("m256" is not dimensionless) and bounds
// the work of raising a factor to a power.
const maxUnitExponent = 12

// maxUnitFactorBits bounds the numerator and denominator of a unit's
// factor. The largest prefix and power of ten (10^24) take 80 bits, so
// only a hostile unit such as "Mm/mm.Mm/mm..." reaches it.
const maxUnitFactorBits = 1024

func combine(a, b unitDef, divide bool) (unitDef, bool) {
	out := unitDef{factor: new(big.Rat)}
	if divide {
		out.factor.Quo(a.factor, b.factor)
	} else {
		out.factor.Mul(a.factor, b.factor)
	}
	for i := range out.dims {
		n := int(a.dims[i]) + int(b.dims[i])
		if divide {
			n = int(a.dims[i]) - int(b.dims[i])
		}
		if abs(n) > maxUnitExponent {
			return unitDef{}, false
		}
		out.dims[i] = int8(n)
	}
	return out, factorInBounds(out.factor)
}

func factorInBounds(f *big.Rat) bool {
	return f.Num().BitLen() <= maxUnitFactorBits && f.Denom().BitLen() <= maxUnitFactorBits
}

func (p *unitParser) component(depth int) (unitDef, bool) {
	if p.i >= len(p.s) {
		return unitDef{}, false
	}
	switch p.s[p.i] {
	case '(':
		p.i++
		d, ok := p.term(depth + 1)
		if !ok || p.i >= len(p.s) || p.s[p.i] != ')' {
			return unitDef{}, false
		}
		p.i++
		return p.exponent(d)
	case '{':
		end := strings.IndexByte(p.s[p.i:], '}')
		if end < 0 {
			return unitDef{}, false
		}
		p.i += end + 1
		return unitDef{factor: big.NewRat(1, 1)}, true
	}
	start := p.i
	for p.i < len(p.s) && p.s[p.i] != '.' && p.s[p.i] != '/' && p.s[p.i] != '(' && p.s[p.i] != ')' && p.s[p.i] != '{' {
		if p.s[p.i] == '[' {
			end := strings.IndexByte(p.s[p.i:], ']')
			if end < 0 {
				return unitDef{}, false
			}
			p.i += end + 1
			continue
		}
		p.i++
	}
	d, ok := simpleUnit(p.s[start:p.i])
	if !ok {
		return unitDef{}, false
	}
	// An annotation may follow a unit directly: mL{total}.
	if p.i < len(p.s) && p.s[p.i] == '{' {
		end := strings.IndexByte(p.s[p.i:], '}')
		if end < 0 {
			return unitDef{}, false
		}
		p.i += end + 1
	}
	return d, true
}

func (p *unitParser) exponent(d unitDef) (unitDef, bool) {
	start := p.i
	if p.i < len(p.s) && (p.s[p.i] == '-' || p.s[p.i] == '+') {
		p.i++
	}
	for p.i < len(p.s) && isDigit(p.s[p.i]) {
		p.i++
	}
	if p.i == start {
		return d, true
	}
	n, err := strconv.Atoi(p.s[start:p.i])
	if err != nil {
		return unitDef{}, false
	}
	return power(d, n)
}

// power raises d to the integer power n. It fails when n or a resulting
// dimension exceeds maxUnitExponent or the factor exceeds
// maxUnitFactorBits.
func power(d unitDef, n int) (unitDef, bool) {
	// Not abs(n), which overflows for the minimum int.
	if n < -maxUnitExponent || n > maxUnitExponent {
		return unitDef{}, false
	}
	out := unitDef{factor: big.NewRat(1, 1)}
	for i := 0; i < abs(n); i++ {
		out.factor.Mul(out.factor, d.factor)
	}
	if n < 0 {
		out.factor.Inv(out.factor)
	}
	for i := range d.dims {
		e := int(d.dims[i]) * n
		if abs(e) > maxUnitExponent {
			return unitDef{}, false
		}
		out.dims[i] = int8(e)
	}
	return out, factorInBounds(out.factor)
}

func abs(n int) int {
	if n < 0 {
		return -n
	}
	return n
}

// simpleUnit resolves an atom with optional prefix and exponent, or an
// integer factor such as 10*3 or 1000.
func simpleUnit(s string) (unitDef, bool) {
	if s == "" {
		return unitDef{}, false
	}
	if d, ok := tenPower(s); ok {
		return d, true
	}
	if allDigits(s) {
		f, ok := new(big.Rat).SetString(s)
		return unitDef{factor: f}, ok && f.Sign() > 0
	}
	atom, exp := splitExponent(s)
	if atom == "" {
		return unitDef{}, false
	}
	d, ok := atomUnit(atom)
	if !ok {
		return unitDef{}, false
	}
	return power(d, exp)
}

func tenPower(s string) (unitDef, bool) {
	for _, sep := range []string{"10*", "10^"} {
		if rest, ok := strings.CutPrefix(s, sep); ok {
			n, err := strconv.Atoi(rest)
			if err != nil || n < -24 || n > 24 {
				return unitDef{}, false
			}
			return unitDef{factor: ratPow10(n)}, true
		}
	}
	return unitDef{}, false
}

func ratPow10(n int) *big.Rat {
	r := new(big.Rat).SetInt(pow10(abs(n)))
	if n < 0 {
		r.Inv(r)
	}
	return r
}

// splitExponent splits "cm2" into "cm" and 2, "s-1" into "s" and -1.
func splitExponent(s string) (string, int) {
	i := len(s)
	for i > 0 && isDigit(s[i-1]) {
		i--
	}
	if i > 0 && (s[i-1] == '-' || s[i-1] == '+') && i < len(s) {
		i--
	}
	if i == len(s) || i == 0 {
		return s, 1
	}
	n, err := strconv.Atoi(s[i:])
	if err != nil {
		return s, 1
	}
	return s[:i], n
}

func atomUnit(atom string) (unitDef, bool) {
	if a, ok := ucumAtoms[atom]; ok {
		return resolveAtom(a)
	}
	for _, plen := range []int{2, 1} {
		if len(atom) <= plen {
			continue
		}
		pf, ok := ucumPrefixes[atom[:plen]]
		if !ok {
			continue
		}
		a, ok := ucumAtoms[atom[plen:]]
		if !ok || !a.metric {
			continue
		}
		d, ok := resolveAtom(a)
		if !ok {
			return unitDef{}, false
		}
		f, _ := new(big.Rat).SetString(pf)
		d.factor = new(big.Rat).Mul(d.factor, f)
		return d, true
	}
	return unitDef{}, false
}

func resolveAtom(a atomDef) (unitDef, bool) {
	f, ok := new(big.Rat).SetString(a.factor)
	if !ok {
		return unitDef{}, false
	}
	if a.base == "" {
		return unitDef{factor: f, dims: a.dims}, true
	}
	b, ok := parseUnit(a.base)
	if !ok {
		return unitDef{}, false
	}
	b.factor = new(big.Rat).Mul(b.factor, f)
	return b, true
}

// validUCUMSyntax reports whether a quantity literal's unit is a UCUM
// expression this package understands. Unknown atoms are accepted as long
// as they are well formed, because a unit may still be compared by text.
func validUCUMSyntax(u string) bool {
	return u != "" && !strings.ContainsAny(u, " \t\n")
}

// unitCache maps unit expressions to their parseUnit result, because
// parsing a unit costs more than the comparison that needs it and the
// units in use are few. It stops growing at maxCachedUnits entries, so
// units from hostile input cannot fill memory. Later units are parsed on
// every use. The cached factors are shared and never modified. Keys are
// copies: a unit read from a document may share the memory of the whole
// document, which a cached key would otherwise keep alive.
var (
	unitCache      sync.Map // string -> cachedUnitDef
	unitCacheSize  atomic.Int32
	maxCachedUnits int32 = 1024
)

type cachedUnitDef struct {
	def unitDef
	ok  bool
}

// cachedUnit is parseUnit through unitCache.
func cachedUnit(u string) (unitDef, bool) {
	if c, found := unitCache.Load(u); found {
		entry := c.(cachedUnitDef)
		return entry.def, entry.ok
	}
	d, ok := parseUnit(u)
	if unitCacheSize.Load() < maxCachedUnits {
		if _, loaded := unitCache.LoadOrStore(strings.Clone(u), cachedUnitDef{def: d, ok: ok}); !loaded {
			unitCacheSize.Add(1)
		}
	}
	return d, ok
}

// compareQuantities orders a and b after unit conversion. ok is false when
// the units are not comparable: different dimensions, a unit this package
// cannot convert, or a calendar year or month against a definite duration.
// With equivalence set, calendar years and months count as the UCUM 'a'
// and 'mo'.
func compareQuantities(a, b Quantity, equivalence bool) (int, bool) {
	if a.Unit == b.Unit {
		return a.Value.Cmp(b.Value), true
	}
	if ca, cb := calendarMonths(a.Unit), calendarMonths(b.Unit); ca > 0 && cb > 0 {
		x, _ := a.Value.Mul(DecimalFromInt(int64(ca)))
		y, _ := b.Value.Mul(DecimalFromInt(int64(cb)))
		return x.Cmp(y), true
	}
	if equivalence {
		a.Unit, b.Unit = definiteUnit(a.Unit), definiteUnit(b.Unit)
	}
	ua, fa, ok1 := unitFactor(a.Unit)
	ub, fb, ok2 := unitFactor(b.Unit)
	if !ok1 || !ok2 || fa.dims != fb.dims {
		return 0, false
	}
	if ua == ub {
		return a.Value.Cmp(b.Value), true
	}
	// a.Value × fa against b.Value × fb, with both sides multiplied by
	// the (positive) denominators, so no fraction is reduced.
	lhs := scaledProduct(a.Value.big(), fa.factor.Num(), fb.factor.Denom(), b.Value.scale)
	rhs := scaledProduct(b.Value.big(), fb.factor.Num(), fa.factor.Denom(), a.Value.scale)
	return lhs.Cmp(rhs), true
}

// unitFactor returns the UCUM unit that u is compared in (a calendar
// keyword of fixed length becomes its UCUM unit) and that unit's
// definition. Calendar years and months report ok=false.
func unitFactor(u string) (string, unitDef, bool) {
	if ucum, ok := calendarToUCUM[u]; ok {
		u = ucum
	}
	d, ok := cachedUnit(u)
	return u, d, ok
}

// scaledProduct returns x × y × z × 10^scale.
func scaledProduct(x, y, z *big.Int, scale int32) *big.Int {
	p := new(big.Int).Mul(x, y)
	p.Mul(p, z)
	return p.Mul(p, pow10(int(scale)))
}

func calendarMonths(u string) int {
	switch u {
	case "year":
		return 12
	case "month":
		return 1
	}
	return 0
}

func definiteUnit(u string) string {
	switch u {
	case "year":
		return "a"
	case "month":
		return "mo"
	}
	return u
}

// convertQuantity expresses q in unit, rounded as Decimal.Quo rounds.
func convertQuantity(q Quantity, unit string) (Quantity, bool) {
	if q.Unit == unit {
		return q, true
	}
	if from, to := calendarMonths(q.Unit), calendarMonths(unit); from > 0 && to > 0 {
		v, err := q.Value.Mul(DecimalFromInt(int64(from)))
		if err != nil {
			return Quantity{}, false
		}
		d, _, err := v.Quo(DecimalFromInt(int64(to)))
		return Quantity{Value: d, Unit: unit}, err == nil
	}
	// A UCUM year or month has no calendar equivalent.
	if isCalendarUnit(q.Unit) && (unit == "a" || unit == "mo") || isCalendarUnit(unit) && (q.Unit == "a" || q.Unit == "mo") {
		return Quantity{}, false
	}
	_, from, ok1 := unitFactor(q.Unit)
	_, to, ok2 := unitFactor(unit)
	if !ok1 || !ok2 || from.dims != to.dims {
		return Quantity{}, false
	}
	// q.Value × from / to as one fraction, which Quo rounds as it would
	// the reduced fraction: the quotient depends only on the value.
	num := scaledProduct(q.Value.big(), from.factor.Num(), to.factor.Denom(), 0)
	den := scaledProduct(from.factor.Denom(), to.factor.Num(), bigOne, q.Value.scale)
	d, ok, err := Decimal{coef: num}.Quo(Decimal{coef: den})
	if !ok || err != nil {
		return Quantity{}, false
	}
	return Quantity{Value: d, Unit: unit}, true
}

// multiplyUnits and divideUnits build the unit of a product or quotient of
// quantities.
func multiplyUnits(a, b string) string {
	switch {
	case a == "1" || a == "":
		return b
	case b == "1" || b == "":
		return a
	}
	return wrapUnit(a) + "." + wrapUnit(b)
}

func divideUnits(a, b string) string {
	switch {
	case a == b:
		return "1"
	case b == "1" || b == "":
		return a
	}
	return wrapUnit(a) + "/" + wrapUnit(b)
}

func wrapUnit(u string) string {
	if u, ok := calendarToUCUM[u]; ok {
		return u
	}
	if strings.ContainsAny(u, "./") {
		return "(" + u + ")"
	}
	return u
}
