package fhirpath

import (
	"math"
	"math/big"
	"math/rand/v2"
	"testing"
)

// The int64 fast paths of Decimal must agree with plain math/big
// arithmetic. The reference functions below do each operation on
// big.Int coefficients only, the way the package did before the fast
// paths.

func refCoefAt(d Decimal, scale int32) *big.Int {
	return new(big.Int).Mul(d.big(), new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(scale-d.scale)), nil))
}

func refRoundLastDigit(x *big.Int) *big.Int {
	q, r := new(big.Int).QuoRem(x, big.NewInt(10), new(big.Int))
	switch {
	case r.Cmp(big.NewInt(5)) >= 0:
		q.Add(q, big.NewInt(1))
	case r.Cmp(big.NewInt(-5)) <= 0:
		q.Sub(q, big.NewInt(1))
	}
	return q
}

func refRoundTo(d Decimal, p int) Decimal {
	if p >= int(d.scale) {
		return Decimal{coef: refCoefAt(d, int32(p)), scale: int32(p)}
	}
	c := d.big()
	if drop := int(d.scale) - p; drop > 1 {
		c = new(big.Int).Quo(c, new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(drop-1)), nil))
	}
	return Decimal{coef: refRoundLastDigit(c), scale: int32(p)}
}

func refTruncate(d Decimal, p int) Decimal {
	if p >= int(d.scale) {
		return Decimal{coef: refCoefAt(d, int32(p)), scale: int32(p)}
	}
	return Decimal{coef: new(big.Int).Quo(d.big(), new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(int(d.scale)-p)), nil)), scale: int32(p)}
}

func refTrimZeros(d Decimal) Decimal {
	c, s := new(big.Int).Set(d.big()), d.scale
	for s > 0 {
		q, rem := new(big.Int).QuoRem(c, big.NewInt(10), new(big.Int))
		if rem.Sign() != 0 {
			break
		}
		c, s = q, s-1
	}
	return Decimal{coef: c, scale: s}
}

func sameDecimal(a, b Decimal) bool {
	return a.scale == b.scale && a.big().Cmp(b.big()) == 0
}

func randomDecimal(r *rand.Rand) Decimal {
	var x int64
	switch r.IntN(4) {
	case 0:
		x = r.Int64N(2000) - 1000
	case 1:
		x = r.Int64()
	case 2:
		x = math.MaxInt64 - r.Int64N(100)
	default:
		x = math.MinInt64 + r.Int64N(100)
	}
	if r.IntN(2) == 0 {
		x = -x
	}
	return Decimal{coef: big.NewInt(x), scale: int32(r.IntN(20))}
}

func TestDecimalFastPathsMatchBig(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for range 20000 {
		d, e := randomDecimal(r), randomDecimal(r)
		s := max(d.scale, e.scale)

		if got, want := d.Cmp(e), refCoefAt(d, s).Cmp(refCoefAt(e, s)); got != want {
			t.Fatalf("%v.Cmp(%v) = %d, want %d", d, e, got, want)
		}
		sum, err := d.Add(e)
		if want := (Decimal{coef: new(big.Int).Add(refCoefAt(d, s), refCoefAt(e, s)), scale: s}); err == nil && !sameDecimal(sum, want) {
			t.Fatalf("%v.Add(%v) = %v, want %v", d, e, sum, want)
		}
		product, err := d.Mul(e)
		if want := (Decimal{coef: new(big.Int).Mul(d.big(), e.big()), scale: d.scale + e.scale}); err == nil && !sameDecimal(product, want) {
			t.Fatalf("%v.Mul(%v) = %v, want %v", d, e, product, want)
		}
		if got, want := d.Neg(), (Decimal{coef: new(big.Int).Neg(d.big()), scale: d.scale}); !sameDecimal(got, want) {
			t.Fatalf("%v.Neg() = %v, want %v", d, got, want)
		}
		if got, want := d.Abs(), (Decimal{coef: new(big.Int).Abs(d.big()), scale: d.scale}); !sameDecimal(got, want) {
			t.Fatalf("%v.Abs() = %v, want %v", d, got, want)
		}
		if got, want := d.trimZeros(), refTrimZeros(d); !sameDecimal(got, want) {
			t.Fatalf("%v.trimZeros() = %v, want %v", d, got, want)
		}
		p := r.IntN(25)
		if got, want := d.RoundTo(p), refRoundTo(d, p); !sameDecimal(got, want) {
			t.Fatalf("%v.RoundTo(%d) = %v, want %v", d, p, got, want)
		}
		if got, want := d.Truncate(p), refTruncate(d, p); !sameDecimal(got, want) {
			t.Fatalf("%v.Truncate(%d) = %v, want %v", d, p, got, want)
		}
	}
}
