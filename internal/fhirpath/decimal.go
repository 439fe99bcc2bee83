package fhirpath

import (
	"errors"
	"math"
	"math/big"
	"math/bits"
	"strconv"
	"strings"
)

// Decimal is System.Decimal: an exact decimal number that keeps the
// number of digits after the decimal point it was written with, so 1.10
// prints as "1.10" and still equals 1.1.
//
// The value is coef × 10^-scale. The zero Decimal is 0.
type Decimal struct {
	coef    *big.Int // nil means zero; never modified after construction
	scale   int32    // digits after the decimal point, never negative
	negZero bool     // a zero written or computed with a minus sign, kept for output
}

// Limits on decimals, so that arithmetic on hostile input stays cheap.
const (
	maxDecimalScale   = 1000 // digits after the decimal point
	maxDecimalBits    = 4096 // size of the coefficient (about 1233 digits)
	divisionScale     = 8    // minimum digits kept by an inexact division
	defaultBoundaries = 8    // precision of lowBoundary() and highBoundary()
)

var errDecimalRange = errors.New("decimal out of range")

var bigTen = big.NewInt(10)

// ParseDecimal reads a decimal in FHIR JSON number syntax (an optional
// sign, digits, an optional fraction and an optional exponent).
func ParseDecimal(s string) (Decimal, error) {
	mant, exp := s, 0
	if i := strings.IndexAny(s, "eE"); i >= 0 {
		e, err := strconv.Atoi(s[i+1:])
		if err != nil || e > maxDecimalScale || e < -maxDecimalScale {
			return Decimal{}, errors.New("invalid exponent")
		}
		mant, exp = s[:i], e
	}
	neg := false
	switch {
	case strings.HasPrefix(mant, "-"):
		neg, mant = true, mant[1:]
	case strings.HasPrefix(mant, "+"):
		mant = mant[1:]
	}
	intPart, frac, hasDot := strings.Cut(mant, ".")
	if intPart == "" || (hasDot && frac == "") || !allDigits(intPart) || !allDigits(frac) {
		return Decimal{}, errors.New("invalid decimal syntax")
	}
	coef, ok := new(big.Int).SetString(intPart+frac, 10)
	if !ok {
		return Decimal{}, errors.New("invalid decimal syntax")
	}
	if neg {
		coef.Neg(coef)
	}
	scale := len(frac) - exp
	if scale < 0 {
		coef.Mul(coef, pow10(-scale))
		scale = 0
	}
	if scale > maxDecimalScale || coef.BitLen() > maxDecimalBits {
		return Decimal{}, errDecimalRange
	}
	return Decimal{coef: coef, scale: int32(scale)}, nil
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if !isDigit(s[i]) {
			return false
		}
	}
	return true
}

// pow10 returns 10^n. The result may be shared, so callers use it only
// as an operand and never modify it.
func pow10(n int) *big.Int {
	if n >= 0 && n < len(smallPowersOf10) {
		return smallPowersOf10[n]
	}
	return new(big.Int).Exp(bigTen, big.NewInt(int64(n)), nil)
}

// smallPowersOf10 contains 10^0 to 10^39, the scales decimals commonly have.
var smallPowersOf10 = func() []*big.Int {
	out := make([]*big.Int, 40)
	for i := range out {
		out[i] = new(big.Int).Exp(bigTen, big.NewInt(int64(i)), nil)
	}
	return out
}()

// DecimalFromInt returns i as a decimal with no fraction digits.
func DecimalFromInt(i int64) Decimal {
	if i >= 0 && i < int64(len(smallInts)) {
		return Decimal{coef: smallInts[i]}
	}
	return Decimal{coef: big.NewInt(i)}
}

// smallInts contains the coefficients of DecimalFromInt(0) to (255), shared
// because integers in that range meet decimals most often (counts,
// lengths, the unit factor 1).
var smallInts = func() []*big.Int {
	out := make([]*big.Int, 256)
	for i := range out {
		out[i] = big.NewInt(int64(i))
	}
	return out
}()

// bigZero is the coefficient of the zero Decimal. Like every coefficient
// it is never modified.
var bigZero = new(big.Int)

var bigOne = big.NewInt(1)

func (d Decimal) big() *big.Int {
	if d.coef == nil {
		return bigZero
	}
	return d.coef
}

// smallCoefAt returns the coefficient of d at a scale not below its own
// as an int64, and ok=false when it does not fit.
func (d Decimal) smallCoefAt(scale int32) (int64, bool) {
	c := d.big()
	if !c.IsInt64() {
		return 0, false
	}
	x := c.Int64()
	for range scale - d.scale {
		if x > math.MaxInt64/10 || x < math.MinInt64/10 {
			return 0, false
		}
		x *= 10
	}
	return x, true
}

// Scale returns the number of digits after the decimal point.
func (d Decimal) Scale() int { return int(d.scale) }

// Sign returns -1, 0 or +1.
func (d Decimal) Sign() int { return d.big().Sign() }

// String formats d with exactly Scale() fraction digits.
func (d Decimal) String() string {
	c := d.big()
	digits := new(big.Int).Abs(c).String()
	neg := c.Sign() < 0 || (c.Sign() == 0 && d.negZero)
	if d.scale > 0 {
		if pad := int(d.scale) + 1 - len(digits); pad > 0 {
			digits = strings.Repeat("0", pad) + digits
		}
		cut := len(digits) - int(d.scale)
		digits = digits[:cut] + "." + digits[cut:]
	}
	if neg {
		return "-" + digits
	}
	return digits
}

// coefAt returns the coefficient of d at a scale not below its own.
func (d Decimal) coefAt(scale int32) *big.Int {
	if scale == d.scale {
		return d.big()
	}
	return new(big.Int).Mul(d.big(), pow10(int(scale-d.scale)))
}

// Cmp compares numerically: 1.10 and 1.1 are equal.
func (d Decimal) Cmp(e Decimal) int {
	s := max(d.scale, e.scale)
	if x, ok := d.smallCoefAt(s); ok {
		if y, ok := e.smallCoefAt(s); ok {
			return cmpInt64(x, y)
		}
	}
	return d.coefAt(s).Cmp(e.coefAt(s))
}

// smallDecimal returns x × 10^-scale.
func smallDecimal(x int64, scale int32) Decimal {
	if x >= 0 && x < int64(len(smallInts)) {
		return Decimal{coef: smallInts[x], scale: scale}
	}
	return Decimal{coef: big.NewInt(x), scale: scale}
}

// smallPow10 returns 10^n for n in 0..18, the powers an int64 can represent.
func smallPow10(n int) (int64, bool) {
	if n < 0 || n > 18 {
		return 0, false
	}
	p := int64(1)
	for range n {
		p *= 10
	}
	return p, true
}

// roundLastDigitInt64 is roundLastDigit for an int64.
func roundLastDigitInt64(x int64) int64 {
	q, r := x/10, x%10
	switch {
	case r >= 5:
		q++
	case r <= -5:
		q--
	}
	return q
}

func cmpInt64(x, y int64) int {
	switch {
	case x < y:
		return -1
	case x > y:
		return 1
	}
	return 0
}

func checked(d Decimal) (Decimal, error) {
	if d.big().BitLen() > maxDecimalBits || d.scale > maxDecimalScale {
		return Decimal{}, errDecimalRange
	}
	return d, nil
}

// Add returns d+e at the larger of the two scales.
func (d Decimal) Add(e Decimal) (Decimal, error) {
	s := max(d.scale, e.scale)
	if x, ok := d.smallCoefAt(s); ok {
		if y, ok := e.smallCoefAt(s); ok {
			if sum := x + y; (sum > x) == (y > 0) {
				return checked(Decimal{coef: big.NewInt(sum), scale: s})
			}
		}
	}
	return checked(Decimal{coef: new(big.Int).Add(d.coefAt(s), e.coefAt(s)), scale: s})
}

// Sub returns d-e at the larger of the two scales.
func (d Decimal) Sub(e Decimal) (Decimal, error) { return d.Add(e.Neg()) }

// Mul returns d×e, exactly.
func (d Decimal) Mul(e Decimal) (Decimal, error) {
	if x, ok := d.smallCoefAt(d.scale); ok {
		if y, ok := e.smallCoefAt(e.scale); ok {
			hi, lo := bits.Mul64(uint64(absInt64(x)), uint64(absInt64(y)))
			if hi == 0 && lo <= math.MaxInt64 && x != math.MinInt64 && y != math.MinInt64 {
				p := int64(lo)
				if (x < 0) != (y < 0) {
					p = -p
				}
				return checked(smallDecimal(p, d.scale+e.scale))
			}
		}
	}
	return checked(Decimal{coef: new(big.Int).Mul(d.big(), e.big()), scale: d.scale + e.scale})
}

// Quo returns d÷e, rounded half away from zero to at least divisionScale
// digits after the point, with trailing zeros removed (so 1/2 is 0.5).
// Division by zero reports ok=false.
func (d Decimal) Quo(e Decimal) (q Decimal, ok bool, err error) {
	if e.Sign() == 0 {
		return Decimal{}, false, nil
	}
	scale := max(int32(divisionScale), d.scale, e.scale)
	// q = d/e at scale: (dc × 10^(scale + es - ds + 1)) / ec, then round.
	shift := int(scale+e.scale-d.scale) + 1
	num := new(big.Int).Set(d.big())
	if shift >= 0 {
		num.Mul(num, pow10(shift))
	} else {
		num.Quo(num, pow10(-shift))
	}
	quo := new(big.Int).Quo(num, e.big())
	q = Decimal{coef: roundLastDigit(quo), scale: scale}
	return q.trimZeros(), true, nil
}

// roundLastDigit drops the last decimal digit of x, rounding half away from
// zero.
func roundLastDigit(x *big.Int) *big.Int {
	q, r := new(big.Int).QuoRem(x, bigTen, new(big.Int))
	switch {
	case r.Cmp(big.NewInt(5)) >= 0:
		q.Add(q, big.NewInt(1))
	case r.Cmp(big.NewInt(-5)) <= 0:
		q.Sub(q, big.NewInt(1))
	}
	return q
}

// trimZeros removes trailing fraction zeros.
func (d Decimal) trimZeros() Decimal {
	if x, ok := d.smallCoefAt(d.scale); ok {
		s := d.scale
		for s > 0 && x%10 == 0 {
			x, s = x/10, s-1
		}
		if s == d.scale {
			return Decimal{coef: d.coef, scale: s} // as below, without negZero
		}
		return Decimal{coef: big.NewInt(x), scale: s}
	}
	c := new(big.Int).Set(d.big())
	s := d.scale
	r := new(big.Int)
	for s > 0 {
		q, _ := new(big.Int).QuoRem(c, bigTen, r)
		if r.Sign() != 0 {
			break
		}
		c, s = q, s-1
	}
	return Decimal{coef: c, scale: s}
}

// Neg returns -d.
func (d Decimal) Neg() Decimal {
	if x, ok := d.smallCoefAt(d.scale); ok && x != math.MinInt64 {
		return smallDecimal(-x, d.scale)
	}
	return Decimal{coef: new(big.Int).Neg(d.big()), scale: d.scale}
}

// Abs returns |d|.
func (d Decimal) Abs() Decimal {
	if x, ok := d.smallCoefAt(d.scale); ok && x != math.MinInt64 {
		return smallDecimal(absInt64(x), d.scale)
	}
	return Decimal{coef: new(big.Int).Abs(d.big()), scale: d.scale}
}

func absInt64(x int64) int64 {
	if x < 0 {
		return -x
	}
	return x
}

// RoundTo rounds half away from zero to p digits after the point.
func (d Decimal) RoundTo(p int) Decimal {
	if p >= int(d.scale) {
		if x, ok := d.smallCoefAt(int32(p)); ok {
			return smallDecimal(x, int32(p))
		}
		return Decimal{coef: d.coefAt(int32(p)), scale: int32(p)}
	}
	if x, ok := d.smallCoefAt(d.scale); ok {
		if div, ok := smallPow10(int(d.scale) - p - 1); ok {
			return smallDecimal(roundLastDigitInt64(x/div), int32(p))
		}
	}
	c := d.big()
	if drop := int(d.scale) - p; drop > 1 {
		c = new(big.Int).Quo(c, pow10(drop-1))
	}
	return Decimal{coef: roundLastDigit(c), scale: int32(p)}
}

// Truncate drops the digits after position p, rounding toward zero.
func (d Decimal) Truncate(p int) Decimal {
	if p >= int(d.scale) {
		if x, ok := d.smallCoefAt(int32(p)); ok {
			return smallDecimal(x, int32(p))
		}
		return Decimal{coef: d.coefAt(int32(p)), scale: int32(p)}
	}
	if x, ok := d.smallCoefAt(d.scale); ok {
		if div, ok := smallPow10(int(d.scale) - p); ok {
			return smallDecimal(x/div, int32(p)) // truncates toward zero, as big.Int.Quo does
		}
	}
	return Decimal{coef: new(big.Int).Quo(d.big(), pow10(int(d.scale)-p)), scale: int32(p)}
}

// Floor returns the largest integer not above d.
func (d Decimal) Floor() *big.Int {
	if d.scale == 0 {
		return d.big()
	}
	// Euclidean division by a positive divisor rounds toward -infinity.
	q, _ := new(big.Int).DivMod(d.big(), pow10(int(d.scale)), new(big.Int))
	return q
}

// Ceiling returns the smallest integer not below d.
func (d Decimal) Ceiling() *big.Int {
	f := d.Floor()
	if (Decimal{coef: f}).Cmp(d) != 0 {
		f = new(big.Int).Add(f, big.NewInt(1))
	}
	return f
}

// IsInteger reports whether d has no fractional value.
func (d Decimal) IsInteger() bool { return (Decimal{coef: d.Floor()}).Cmp(d) == 0 }

// Float64 returns the nearest float64.
func (d Decimal) Float64() float64 {
	f, _ := strconv.ParseFloat(d.String(), 64)
	return f
}

// decimalFromFloat converts a finite float to a decimal of at most 15
// significant digits.
func decimalFromFloat(f float64) (Decimal, bool) {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return Decimal{}, false
	}
	// A float64 carries 15 significant digits reliably, and more would
	// print binary noise (0.30000000000000004).
	s := strconv.FormatFloat(f, 'g', 15, 64)
	d, err := ParseDecimal(s)
	if err != nil {
		return Decimal{}, false
	}
	return d.trimZeros(), true
}

// int64Value returns i as int64 if it fits.
func int64Value(i *big.Int) (Integer, bool) {
	if !i.IsInt64() {
		return 0, false
	}
	return Integer(i.Int64()), true
}

func toDecimal(v Value) Decimal {
	switch x := v.(type) {
	case Integer:
		return DecimalFromInt(int64(x))
	case Decimal:
		return x
	}
	return Decimal{}
}

// boundary returns the low or high boundary of d at precision p digits
// after the point: the smallest or largest value that rounds to d at its
// own scale, cut to p digits.
func (d Decimal) boundary(p int, high bool) (Decimal, bool) {
	if p < 0 || p > 28 {
		return Decimal{}, false
	}
	if d.Sign() < 0 {
		// A negative value's boundary mirrors the positive one. A result
		// of zero keeps the sign, so the low boundary of -0.0034 at one
		// digit prints as -0.0.
		b, ok := d.Neg().boundary(p, !high)
		b = b.Neg()
		b.negZero = b.Sign() == 0
		return b, ok
	}
	half := Decimal{coef: big.NewInt(5), scale: d.scale + 1}
	var b Decimal
	if high {
		b, _ = d.Add(half)
	} else {
		b, _ = d.Sub(half)
	}
	if p >= int(b.scale) {
		return Decimal{coef: b.coefAt(int32(p)), scale: int32(p)}, true
	}
	if high {
		return b.RoundTo(p), true
	}
	return b.Truncate(p), true
}
