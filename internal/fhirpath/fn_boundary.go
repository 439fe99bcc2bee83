package fhirpath

// Precision and boundary functions: precision(), lowBoundary(),
// highBoundary() and comparable().
func init() {
	register("lowBoundary", 0, 1, func(c *call) (Collection, error) { return boundary(c, false) })
	register("highBoundary", 0, 1, func(c *call) (Collection, error) { return boundary(c, true) })
	register("precision", 0, 0, fnPrecision)
	register("comparable", 1, 1, fnComparable)
}

func boundary(c *call, high bool) (Collection, error) {
	v, ok, err := c.singleInput()
	if err != nil || !ok {
		return nil, err
	}
	digits, given := -1, false
	if len(c.node.args) == 1 {
		if digits, given, err = c.intArg(0); err != nil {
			return nil, err
		}
	}
	switch x := systemValue(v).(type) {
	case Integer, Decimal:
		if !given {
			digits = defaultBoundaries
		}
		d, ok := toDecimal(x).boundary(digits, high)
		return optional(c.ev, d, ok), nil
	case Quantity:
		if !given {
			digits = defaultBoundaries
		}
		d, ok := x.Value.boundary(digits, high)
		return optional(c.ev, Quantity{Value: d, Unit: x.Unit}, ok), nil
	case Date:
		if !given {
			digits = 8
		}
		t, ok := x.temporal.boundary(digits, high, false, true)
		return optional(c.ev, Date{t}, ok), nil
	case DateTime:
		if !given {
			digits = 17
		}
		t, ok := x.temporal.boundary(digits, high, false, false)
		return optional(c.ev, DateTime{t}, ok), nil
	case Time:
		if !given {
			digits = 9
		}
		t, ok := x.temporal.boundary(digits, high, true, false)
		return optional(c.ev, Time{t}, ok), nil
	}
	return nil, c.errorf("expects a number, quantity, date or time, got %s", describe(v))
}

func optional(ev *evaluator, v Value, ok bool) Collection {
	if !ok {
		return nil
	}
	return ev.single(v)
}

func fnPrecision(c *call) (Collection, error) {
	v, ok, err := c.singleInput()
	if err != nil || !ok {
		return nil, err
	}
	switch x := systemValue(v).(type) {
	case Integer:
		return c.ev.single(Integer(0)), nil
	case Decimal:
		return c.ev.single(Integer(x.Scale())), nil
	case Date:
		return c.ev.single(Integer(x.precisionDigits(false))), nil
	case DateTime:
		return c.ev.single(Integer(x.precisionDigits(false))), nil
	case Time:
		return c.ev.single(Integer(x.precisionDigits(true))), nil
	}
	return nil, c.errorf("expects a number, date or time, got %s", describe(v))
}

func fnComparable(c *call) (Collection, error) {
	v, ok, err := c.singleInput()
	if err != nil || !ok {
		return nil, err
	}
	other, err := c.arg(0)
	if err != nil || len(other) == 0 {
		return nil, err
	}
	a, aok := convertToQuantity(v)
	b, bok := convertToQuantity(other[0])
	if _, isString := stringOf(v); !aok || !bok || isString {
		return nil, c.errorf("expects quantities")
	}
	_, comparable := compareQuantities(a, b, false)
	return boolResult(comparable)
}
