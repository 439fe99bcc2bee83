package fhirpath

import (
	"strconv"
	"strings"
)

// iif and the conversion functions.
func init() {
	register("iif", 2, 3, fnIif)

	conversion("Boolean", convertToBoolean)
	conversion("Integer", convertToInteger)
	conversion("Decimal", convertToDecimal)
	conversion("String", func(v Value) (Value, bool) {
		s, ok := toString(v)
		return String(s), ok
	})
	conversion("Date", convertToDate)
	conversion("DateTime", convertToDateTime)
	conversion("Time", convertToTime)

	register("toQuantity", 0, 1, func(c *call) (Collection, error) { return quantityConversion(c, false) })
	register("convertsToQuantity", 0, 1, func(c *call) (Collection, error) { return quantityConversion(c, true) })
}

// conversion registers toX() and convertsToX() for one target type.
func conversion(name string, convert func(Value) (Value, bool)) {
	register("to"+name, 0, 0, func(c *call) (Collection, error) {
		v, ok, err := c.singleInput()
		if err != nil || !ok {
			return nil, err
		}
		if r, ok := convert(v); ok {
			return c.ev.single(r), nil
		}
		return nil, nil
	})
	register("convertsTo"+name, 0, 0, func(c *call) (Collection, error) {
		v, ok, err := c.singleInput()
		if err != nil || !ok {
			return nil, err
		}
		_, ok = convert(v)
		return boolResult(ok)
	})
}

// fnIif evaluates the criterion and then only the chosen branch. The
// input, when there is one, is $this for all three arguments.
func fnIif(c *call) (Collection, error) {
	if len(c.input) > 1 {
		return nil, c.errorf("expects at most one input item, got %d", len(c.input))
	}
	sc := c.sc
	if len(c.input) == 1 {
		sc = c.ev.pushScope()
		defer c.ev.popScope(sc)
		*sc = scope{this: c.input, index: c.sc.index, hasIndex: c.sc.hasIndex, total: c.sc.total, hasTotal: c.sc.hasTotal}
	}
	cond, err := c.node.args[0].eval(c.ev, sc, sc.this)
	if err != nil {
		return nil, err
	}
	if len(cond) > 1 {
		return nil, c.errorf("criterion yields %d items, expected one boolean", len(cond))
	}
	branch := 2
	if len(cond) == 1 {
		b, ok := primitiveValue(cond[0]).(Boolean)
		if !ok {
			return nil, c.errorf("criterion is %s, expected a boolean", describe(cond[0]))
		}
		if b {
			branch = 1
		}
	}
	if branch >= len(c.node.args) {
		return nil, nil
	}
	return c.node.args[branch].eval(c.ev, sc, sc.this)
}

func convertToBoolean(v Value) (Value, bool) {
	switch x := systemValue(v).(type) {
	case Boolean:
		return x, true
	case Integer:
		if x == 0 || x == 1 {
			return Boolean(x == 1), true
		}
	case Decimal:
		switch {
		case x.Cmp(DecimalFromInt(1)) == 0:
			return Boolean(true), true
		case x.Sign() == 0:
			return Boolean(false), true
		}
	case String:
		switch strings.ToLower(string(x)) {
		case "true", "t", "yes", "y", "1", "1.0":
			return Boolean(true), true
		case "false", "f", "no", "n", "0", "0.0":
			return Boolean(false), true
		}
	}
	return nil, false
}

func convertToInteger(v Value) (Value, bool) {
	switch x := systemValue(v).(type) {
	case Integer:
		return x, true
	case Boolean:
		if x {
			return Integer(1), true
		}
		return Integer(0), true
	case String:
		if !isIntegerText(string(x)) {
			return nil, false
		}
		i, err := strconv.ParseInt(string(x), 10, 64)
		if err != nil {
			return nil, false
		}
		return Integer(i), true
	}
	return nil, false
}

func convertToDecimal(v Value) (Value, bool) {
	switch x := systemValue(v).(type) {
	case Decimal:
		return x, true
	case Integer:
		return DecimalFromInt(int64(x)), true
	case Boolean:
		if x {
			return DecimalFromInt(1), true
		}
		return DecimalFromInt(0), true
	case String:
		if !isDecimalText(string(x)) {
			return nil, false
		}
		d, err := ParseDecimal(string(x))
		return d, err == nil
	}
	return nil, false
}

func convertToDate(v Value) (Value, bool) {
	switch x := systemValue(v).(type) {
	case Date:
		return x, true
	case DateTime:
		t := x.temporal
		t.prec = min(t.prec, PrecisionDay)
		t.hour, t.minute, t.second, t.nanos, t.frac, t.hasTZ, t.zulu, t.tzMinutes = 0, 0, 0, 0, "", false, false, 0
		return Date{t}, true
	case String:
		if d, err := ParseDate(string(x)); err == nil {
			return d, true
		}
		if dt, err := ParseDateTime(string(x)); err == nil {
			return convertToDate(dt)
		}
	}
	return nil, false
}

func convertToDateTime(v Value) (Value, bool) {
	switch x := systemValue(v).(type) {
	case DateTime:
		return x, true
	case Date:
		return dateToDateTime(x), true
	case String:
		if dt, err := ParseDateTime(string(x)); err == nil {
			return dt, true
		}
	}
	return nil, false
}

func convertToTime(v Value) (Value, bool) {
	switch x := systemValue(v).(type) {
	case Time:
		return x, true
	case String:
		if t, err := ParseTime(strings.TrimPrefix(string(x), "T")); err == nil {
			return t, true
		}
	}
	return nil, false
}

func convertToQuantity(v Value) (Quantity, bool) {
	switch x := systemValue(v).(type) {
	case Quantity:
		return x, true
	case Integer, Decimal:
		return Quantity{Value: toDecimal(x), Unit: "1"}, true
	case Boolean:
		d, _ := convertToDecimal(x)
		return Quantity{Value: d.(Decimal), Unit: "1"}, true
	case String:
		number, unit, keyword, ok := splitQuantityText(string(x))
		if !ok {
			return Quantity{}, false
		}
		d, err := ParseDecimal(number)
		if err != nil {
			return Quantity{}, false
		}
		switch {
		case unit != "":
			return Quantity{Value: d, Unit: unit}, true
		case keyword != "":
			u, ok := calendarUnits[keyword]
			return Quantity{Value: d, Unit: u}, ok
		}
		return Quantity{Value: d, Unit: "1"}, true
	}
	return Quantity{}, false
}

func quantityConversion(c *call, test bool) (Collection, error) {
	v, ok, err := c.singleInput()
	if err != nil || !ok {
		return nil, err
	}
	q, ok := convertToQuantity(v)
	if ok && len(c.node.args) == 1 {
		unit, given, err := c.stringArg(0)
		if err != nil {
			return nil, err
		}
		if given {
			if u, isCal := calendarUnits[unit]; isCal {
				unit = u
			}
			q, ok = convertQuantity(q, unit)
		}
	}
	if test {
		return boolResult(ok)
	}
	if !ok {
		return nil, nil
	}
	return c.ev.single(q), nil
}
