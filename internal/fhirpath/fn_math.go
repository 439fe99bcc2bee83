package fhirpath

import (
	"math"
	"math/big"
)

// Math functions. abs, ceiling, floor, round, truncate and power with an
// integer exponent are exact. exp, ln, log, sqrt and power with a
// fractional exponent go through float64 and keep 15 significant digits.
func init() {
	register("abs", 0, 0, fnAbs)
	register("ceiling", 0, 0, func(c *call) (Collection, error) { return rounding(c, Decimal.Ceiling) })
	register("floor", 0, 0, func(c *call) (Collection, error) { return rounding(c, Decimal.Floor) })
	register("truncate", 0, 0, func(c *call) (Collection, error) {
		return rounding(c, func(d Decimal) *big.Int { return d.Truncate(0).big() })
	})
	register("round", 0, 1, fnRound)
	register("sqrt", 0, 0, floatFunc(math.Sqrt))
	register("exp", 0, 0, floatFunc(math.Exp))
	register("ln", 0, 0, floatFunc(math.Log))
	register("log", 1, 1, fnLog)
	register("power", 1, 1, fnPower)

	register("sum", 0, 0, fnSum)
	register("min", 0, 0, func(c *call) (Collection, error) { return extreme(c, -1) })
	register("max", 0, 0, func(c *call) (Collection, error) { return extreme(c, 1) })
	register("avg", 0, 0, fnAvg)
}

// numericInput returns the single Integer, Decimal or Quantity input.
func (c *call) numericInput() (Value, bool, error) {
	v, ok, err := c.singleInput()
	if err != nil || !ok {
		return nil, false, err
	}
	switch x := systemValue(v).(type) {
	case Integer, Decimal, Quantity:
		return x, true, nil
	case nil:
		return nil, false, nil // a primitive with only extensions
	}
	return nil, false, c.errorf("expects a number, got %s", describe(v))
}

func fnAbs(c *call) (Collection, error) {
	v, ok, err := c.numericInput()
	if err != nil || !ok {
		return nil, err
	}
	switch x := v.(type) {
	case Integer:
		if x == math.MinInt64 {
			return nil, c.errorf("integer overflow")
		}
		if x < 0 {
			return c.ev.single(-x), nil
		}
		return c.ev.single(x), nil
	case Decimal:
		return c.ev.single(x.Abs()), nil
	default:
		q := x.(Quantity)
		return c.ev.single(Quantity{Value: q.Value.Abs(), Unit: q.Unit}), nil
	}
}

func rounding(c *call, f func(Decimal) *big.Int) (Collection, error) {
	v, ok, err := c.numericInput()
	if err != nil || !ok {
		return nil, err
	}
	switch x := v.(type) {
	case Integer:
		return c.ev.single(x), nil
	case Decimal:
		i, ok := int64Value(f(x))
		if !ok {
			return nil, c.errorf("result out of integer range")
		}
		return c.ev.single(i), nil
	}
	return nil, c.errorf("expects a number, got %s", describe(v))
}

func fnRound(c *call) (Collection, error) {
	v, ok, err := c.numericInput()
	if err != nil || !ok {
		return nil, err
	}
	p := 0
	if len(c.node.args) == 1 {
		n, given, err := c.intArg(0)
		if err != nil {
			return nil, err
		}
		if given {
			if n < 0 || n > maxDecimalScale {
				return nil, c.errorf("precision %d out of range", n)
			}
			p = n
		}
	}
	switch x := v.(type) {
	case Integer:
		return c.ev.single(DecimalFromInt(int64(x)).RoundTo(p)), nil
	case Decimal:
		return c.ev.single(x.RoundTo(p)), nil
	}
	return nil, c.errorf("expects a number, got %s", describe(v))
}

// floatResult converts a float result back. NaN and infinities (sqrt of a
// negative number, ln of zero) give empty.
func floatResult(ev *evaluator, f float64) (Collection, error) {
	d, ok := decimalFromFloat(f)
	if !ok {
		return nil, nil
	}
	return ev.single(d), nil
}

func floatFunc(f func(float64) float64) func(c *call) (Collection, error) {
	return func(c *call) (Collection, error) {
		v, ok, err := c.numericInput()
		if err != nil || !ok {
			return nil, err
		}
		if _, isQ := v.(Quantity); isQ {
			return nil, c.errorf("expects a number, got a quantity")
		}
		return floatResult(c.ev, f(toDecimal(v).Float64()))
	}
}

func (c *call) numericArg(i int) (Decimal, bool, error) {
	a, err := c.arg(i)
	if err != nil || len(a) == 0 {
		return Decimal{}, false, err
	}
	if len(a) > 1 {
		return Decimal{}, false, c.errorf("argument %d expects one number, got %d items", i+1, len(a))
	}
	switch x := systemValue(a[0]).(type) {
	case Integer, Decimal:
		return toDecimal(x), true, nil
	case nil:
		return Decimal{}, false, nil
	}
	return Decimal{}, false, c.errorf("argument %d expects a number, got %s", i+1, describe(a[0]))
}

func fnLog(c *call) (Collection, error) {
	v, ok, err := c.numericInput()
	if err != nil || !ok {
		return nil, err
	}
	base, ok, err := c.numericArg(0)
	if err != nil || !ok {
		return nil, err
	}
	return floatResult(c.ev, math.Log(toDecimal(v).Float64())/math.Log(base.Float64()))
}

// fnPower keeps Integer results exact when both operands are integers and
// the exponent is not negative.
func fnPower(c *call) (Collection, error) {
	v, ok, err := c.numericInput()
	if err != nil || !ok {
		return nil, err
	}
	exp, ok, err := c.numericArg(0)
	if err != nil || !ok {
		return nil, err
	}
	a, _ := c.arg(0)
	if base, isInt := v.(Integer); isInt {
		if e, expInt := systemValue(a[0]).(Integer); expInt && e >= 0 {
			r := new(big.Int).Exp(big.NewInt(int64(base)), big.NewInt(int64(e)), nil)
			if i, ok := int64Value(r); ok {
				return c.ev.single(i), nil
			}
			return nil, c.errorf("integer overflow")
		}
	}
	if e, expInt := systemValue(a[0]).(Integer); expInt && e >= 0 && e <= 64 {
		r := DecimalFromInt(1)
		for i := Integer(0); i < e; i++ {
			if r, err = r.Mul(toDecimal(v)); err != nil {
				return nil, c.errorf("%v", err)
			}
		}
		return c.ev.single(r), nil
	}
	return floatResult(c.ev, math.Pow(toDecimal(v).Float64(), exp.Float64()))
}

func fnSum(c *call) (Collection, error) {
	if len(c.input) == 0 {
		return nil, nil
	}
	var total Value = Integer(0)
	for _, item := range c.input {
		v := systemValue(item)
		switch v.(type) {
		case Integer, Decimal, Quantity:
		default:
			return nil, c.errorf("expects numbers or quantities, got %s", describe(v))
		}
		r, err := arith("+", total, v)
		if err != nil {
			return nil, c.errorf("%v", err)
		}
		total = r
	}
	return c.ev.single(total), nil
}

func extreme(c *call, sign int) (Collection, error) {
	var best Value
	for _, item := range c.input {
		if best == nil {
			best = item
			continue
		}
		r, known, err := compareItems(c.node.at, item, best)
		if err != nil {
			return nil, err
		}
		if known && r*sign > 0 {
			best = item
		}
	}
	if best == nil {
		return nil, nil
	}
	return c.ev.single(systemValue(best)), nil
}

func fnAvg(c *call) (Collection, error) {
	sum, err := fnSum(c)
	if err != nil || len(sum) == 0 {
		return nil, err
	}
	r, err := arith("/", sum[0], Integer(len(c.input)))
	if err != nil {
		return nil, c.errorf("%v", err)
	}
	return c.ev.single(r), nil
}
