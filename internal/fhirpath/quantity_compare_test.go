package fhirpath

import (
	"math/big"
	"math/rand/v2"
	"testing"
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
