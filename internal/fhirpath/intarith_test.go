package fhirpath

import (
	"math"
	"math/big"
	"testing"
)

// TestIntegerProductOverflow compares Integer multiplication with the
// exact product: the result must be the product when it fits 64 bits and
// an overflow error otherwise, at and around the limits.
func TestIntegerProductOverflow(t *testing.T) {
	values := []int64{0, 1, -1, 2, -2, 3, 10, -10, 1 << 31, -(1 << 31), 1 << 32, 3037000499, 3037000500, -3037000500,
		math.MaxInt64, math.MinInt64, math.MaxInt64 / 2, math.MinInt64 / 2, math.MaxInt64/2 + 1, math.MinInt64/2 - 1}
	for _, a := range values {
		for _, b := range values {
			exact := new(big.Int).Mul(big.NewInt(a), big.NewInt(b))
			got, err := intArith("*", Integer(a), Integer(b))
			if !exact.IsInt64() {
				if err != errIntegerOverflow {
					t.Errorf("%d * %d = %v, %v; want an overflow error", a, b, got, err)
				}
				continue
			}
			if err != nil || got != Integer(exact.Int64()) {
				t.Errorf("%d * %d = %v, %v; want %d", a, b, got, err, exact.Int64())
			}
		}
	}
}
