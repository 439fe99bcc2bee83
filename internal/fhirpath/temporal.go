package fhirpath

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Precision of a date, date-time or time value: the last component given.
type Precision uint8

// Precisions, coarsest first.
const (
	PrecisionYear Precision = iota + 1
	PrecisionMonth
	PrecisionDay
	PrecisionHour
	PrecisionMinute
	PrecisionSecond
	PrecisionMillisecond // a fraction of a second was given
)

// temporal contains the components of a Date, DateTime or Time. Components
// finer than prec are zero (month and day are 1).
type temporal struct {
	year, month, day     int
	hour, minute, second int
	nanos                int    // fraction of the second
	frac                 string // fraction digits as written, for output
	prec                 Precision
	hasTZ                bool
	zulu                 bool // the offset was written "Z"
	tzMinutes            int  // offset east of UTC
}

// Date is System.Date: a calendar date of year, month or day precision.
type Date struct{ temporal }

// DateTime is System.DateTime: a date with optional time of day and time
// zone offset, of any precision from year to fractional seconds.
type DateTime struct{ temporal }

// Time is System.Time: a time of day without date or time zone.
type Time struct{ temporal }

// Precision returns the precision of d.
func (d Date) Precision() Precision { return d.prec }

// Precision returns the precision of d.
func (d DateTime) Precision() Precision { return d.prec }

// Precision returns the precision of t.
func (t Time) Precision() Precision { return t.prec }

var errTemporalSyntax = errors.New("invalid date or time syntax")

// ParseDate reads YYYY, YYYY-MM or YYYY-MM-DD.
func ParseDate(s string) (Date, error) {
	t, rest, err := parseDatePart(s)
	if err != nil || rest != "" {
		return Date{}, errTemporalSyntax
	}
	return Date{t}, nil
}

// ParseDateTime reads a date optionally followed by 'T', a time of day and a
// time zone offset (Z or ±hh:mm). "2015T" is a date-time of year precision.
func ParseDateTime(s string) (DateTime, error) {
	t, rest, err := parseDatePart(s)
	if err != nil {
		return DateTime{}, err
	}
	if rest == "" {
		return DateTime{t}, nil
	}
	if rest[0] != 'T' {
		return DateTime{}, errTemporalSyntax
	}
	rest = rest[1:]
	if rest == "" {
		return DateTime{t}, nil
	}
	tm, rest, err := parseTimePart(rest)
	if err != nil {
		return DateTime{}, err
	}
	t.hour, t.minute, t.second, t.nanos, t.frac, t.prec = tm.hour, tm.minute, tm.second, tm.nanos, tm.frac, tm.prec
	if rest != "" {
		if err := t.parseZone(rest); err != nil {
			return DateTime{}, err
		}
	}
	return DateTime{t}, nil
}

// ParseTime reads hh, hh:mm, hh:mm:ss or hh:mm:ss.fff.
func ParseTime(s string) (Time, error) {
	t, rest, err := parseTimePart(s)
	if err != nil || rest != "" {
		return Time{}, errTemporalSyntax
	}
	return Time{t}, nil
}

func parseDatePart(s string) (temporal, string, error) {
	t := temporal{month: 1, day: 1}
	var ok bool
	if t.year, s, ok = fixedDigits(s, 4); !ok {
		return t, s, errTemporalSyntax
	}
	t.prec = PrecisionYear
	if strings.HasPrefix(s, "-") {
		if t.month, s, ok = fixedDigits(s[1:], 2); !ok || t.month < 1 || t.month > 12 {
			return t, s, errTemporalSyntax
		}
		t.prec = PrecisionMonth
		if strings.HasPrefix(s, "-") {
			if t.day, s, ok = fixedDigits(s[1:], 2); !ok || t.day < 1 || t.day > daysIn(t.year, t.month) {
				return t, s, errTemporalSyntax
			}
			t.prec = PrecisionDay
		}
	}
	return t, s, nil
}

func parseTimePart(s string) (temporal, string, error) {
	t := temporal{month: 1, day: 1}
	var ok bool
	if t.hour, s, ok = fixedDigits(s, 2); !ok || t.hour > 23 {
		return t, s, errTemporalSyntax
	}
	t.prec = PrecisionHour
	if !strings.HasPrefix(s, ":") {
		return t, s, nil
	}
	if t.minute, s, ok = fixedDigits(s[1:], 2); !ok || t.minute > 59 {
		return t, s, errTemporalSyntax
	}
	t.prec = PrecisionMinute
	if !strings.HasPrefix(s, ":") {
		return t, s, nil
	}
	if t.second, s, ok = fixedDigits(s[1:], 2); !ok || t.second > 59 {
		return t, s, errTemporalSyntax
	}
	t.prec = PrecisionSecond
	if strings.HasPrefix(s, ".") {
		n := 1
		for n < len(s) && isDigit(s[n]) {
			n++
		}
		if n == 1 {
			return t, s, errTemporalSyntax
		}
		t.frac = s[1:n]
		digits := (t.frac + "000000000")[:9]
		t.nanos, _ = strconv.Atoi(digits)
		t.prec = PrecisionMillisecond
		s = s[n:]
	}
	return t, s, nil
}

func (t *temporal) parseZone(s string) error {
	if s == "Z" {
		t.hasTZ, t.zulu = true, true
		return nil
	}
	if len(s) != 6 || (s[0] != '+' && s[0] != '-') || s[3] != ':' {
		return errTemporalSyntax
	}
	h, _, ok1 := fixedDigits(s[1:3], 2)
	m, _, ok2 := fixedDigits(s[4:], 2)
	if !ok1 || !ok2 || m > 59 || h*60+m > 14*60 {
		return errTemporalSyntax
	}
	t.hasTZ = true
	t.tzMinutes = h*60 + m
	if s[0] == '-' {
		t.tzMinutes = -t.tzMinutes
	}
	return nil
}

func fixedDigits(s string, n int) (int, string, bool) {
	if len(s) < n || !allDigits(s[:n]) {
		return 0, s, false
	}
	v, _ := strconv.Atoi(s[:n])
	return v, s[n:], true
}

func daysIn(year, month int) int {
	return time.Date(year, time.Month(month)+1, 0, 0, 0, 0, 0, time.UTC).Day()
}

func parseTemporalLiteral(t token) (Value, error) {
	switch t.kind {
	case tokDate:
		return ParseDate(t.text)
	case tokDateTime:
		return ParseDateTime(t.text)
	default:
		return ParseTime(strings.TrimPrefix(t.text, "T"))
	}
}

// String formats d as YYYY, YYYY-MM or YYYY-MM-DD.
func (d Date) String() string { return d.dateString() }

func (t temporal) dateString() string {
	s := fmt.Sprintf("%04d", t.year)
	if t.prec >= PrecisionMonth {
		s += fmt.Sprintf("-%02d", t.month)
	}
	if t.prec >= PrecisionDay {
		s += fmt.Sprintf("-%02d", t.day)
	}
	return s
}

func (t temporal) timeString() string {
	s := fmt.Sprintf("%02d", t.hour)
	if t.prec >= PrecisionMinute {
		s += fmt.Sprintf(":%02d", t.minute)
	}
	if t.prec >= PrecisionSecond {
		s += fmt.Sprintf(":%02d", t.second)
	}
	if t.prec >= PrecisionMillisecond {
		s += "." + t.frac
	}
	return s
}

func (t temporal) zoneString() string {
	if !t.hasTZ {
		return ""
	}
	if t.zulu {
		return "Z"
	}
	off := t.tzMinutes
	sign := '+'
	if off < 0 {
		sign, off = '-', -off
	}
	return fmt.Sprintf("%c%02d:%02d", sign, off/60, off%60)
}

// String formats d in ISO 8601 as FHIR writes it, for example
// 2015-02-04T14:34:28.123+10:00. A year-precision date-time prints as the
// date alone.
func (d DateTime) String() string {
	s := d.dateString()
	if d.prec >= PrecisionHour {
		s += "T" + d.timeString() + d.zoneString()
	}
	return s
}

// String formats t as hh:mm:ss.fff, to its precision.
func (t Time) String() string { return t.timeString() }

// instant returns the moment t denotes, treating a missing offset as UTC.
func (t temporal) instant() time.Time {
	loc := time.UTC
	if t.hasTZ && t.tzMinutes != 0 {
		loc = time.FixedZone("", t.tzMinutes*60)
	}
	return time.Date(t.year, time.Month(t.month), t.day, t.hour, t.minute, t.second, t.nanos, loc)
}

// fromInstant copies the components of tm into t, keeping t's precision and
// offset.
func (t temporal) fromInstant(tm time.Time) temporal {
	t.year, t.month, t.day = tm.Year(), int(tm.Month()), tm.Day()
	t.hour, t.minute, t.second, t.nanos = tm.Hour(), tm.Minute(), tm.Second(), tm.Nanosecond()
	if t.prec >= PrecisionMillisecond {
		t.frac = fracDigits(t.nanos, len(t.frac))
	}
	return t
}

func fracDigits(nanos, n int) string {
	s := fmt.Sprintf("%09d", nanos)
	if n < 3 {
		n = 3
	}
	if n > 9 {
		n = 9
	}
	return s[:n]
}

// comparePrecision maps millisecond precision onto second precision:
// FHIRPath compares seconds as one decimal component.
func comparePrecision(p Precision) Precision {
	if p == PrecisionMillisecond {
		return PrecisionSecond
	}
	return p
}

// compareTemporal orders a and b. ok is false when the order is unknown
// because the values stop at different precisions with equal common
// components, or because only one carries a time zone and the gap is
// within the range of possible offsets.
func compareTemporal(a, b temporal) (cmp int, ok bool) {
	if a.prec >= PrecisionHour && b.prec >= PrecisionHour {
		switch {
		case a.hasTZ && b.hasTZ:
			a = a.toUTC()
			b = b.toUTC()
		case a.hasTZ != b.hasTZ:
			gap := a.instant().Sub(b.instant())
			if gap > 14*time.Hour {
				return 1, true
			}
			if gap < -14*time.Hour {
				return -1, true
			}
			return 0, false
		}
	}
	pa, pb := comparePrecision(a.prec), comparePrecision(b.prec)
	ca, cb := a.components(), b.components()
	for i := 0; i < int(min(pa, pb)); i++ {
		if ca[i] != cb[i] {
			if ca[i] < cb[i] {
				return -1, true
			}
			return 1, true
		}
	}
	if pa != pb {
		return 0, false
	}
	return 0, true
}

func (t temporal) components() [6]int64 {
	return [6]int64{int64(t.year), int64(t.month), int64(t.day), int64(t.hour), int64(t.minute), int64(t.second)*1e9 + int64(t.nanos)}
}

func (t temporal) toUTC() temporal {
	u := t.fromInstant(t.instant().UTC())
	u.tzMinutes = 0
	return u
}

// asTemporal returns t with the date components zeroed, so that only the
// time of day is compared.
func (t Time) asTemporal() temporal {
	x := t.temporal
	x.year, x.month, x.day = 0, 0, 0
	return x
}

func timeCompare(a, b Time) (int, bool) {
	x, y := a.asTemporal(), b.asTemporal()
	pa, pb := comparePrecision(x.prec)-PrecisionDay, comparePrecision(y.prec)-PrecisionDay
	ca, cb := x.components(), y.components()
	for i := 3; i < 3+int(min(pa, pb)); i++ {
		if ca[i] != cb[i] {
			if ca[i] < cb[i] {
				return -1, true
			}
			return 1, true
		}
	}
	return 0, pa == pb
}

// dateToDateTime converts a Date to a DateTime of the same precision.
func dateToDateTime(d Date) DateTime { return DateTime(d) }

// add adds amount units to t. Years and months clamp the day to
// the end of the month. Finer units are exact. Units finer than the
// precision of a Date are converted to days, truncated.
func (t temporal) add(amount Decimal, unit string, isDate bool) (temporal, error) {
	whole := amount.Truncate(0)
	n, ok := int64Value(whole.big())
	if !ok || n > 1e6 || n < -1e6 {
		return t, errors.New("duration out of range")
	}
	switch unit {
	case "year":
		return t.addMonths(int(n) * 12), nil
	case "month":
		return t.addMonths(int(n)), nil
	case "week":
		return t.addDays(int(n) * 7), nil
	case "day":
		return t.addDays(int(n)), nil
	}
	if isDate {
		secs := secondsPer(unit)
		if secs == 0 {
			return t, nil
		}
		return t.addDays(int(int64(n) * secs / 86400)), nil
	}
	d := time.Duration(amount.Float64() * nanosecondsPer(unit))
	return t.fromInstant(t.instant().Add(d)), nil
}

// secondsPer returns the whole seconds in one hour, minute or second, and
// 0 for a millisecond or another unit.
func secondsPer(unit string) int64 {
	switch unit {
	case "hour":
		return 3600
	case "minute":
		return 60
	case "second":
		return 1
	}
	return 0
}

// nanosecondsPer returns the nanoseconds in one hour, minute, second or
// millisecond, and 0 for another unit.
func nanosecondsPer(unit string) float64 {
	switch unit {
	case "hour":
		return 3.6e12
	case "minute":
		return 6e10
	case "second":
		return 1e9
	case "millisecond":
		return 1e6
	}
	return 0
}

func (t temporal) addMonths(n int) temporal {
	m := t.year*12 + (t.month - 1) + n
	t.year, t.month = m/12, m%12+1
	if m < 0 {
		t.year, t.month = (m-11)/12, (m%12+12)%12+1
	}
	if last := daysIn(t.year, t.month); t.day > last {
		t.day = last
	}
	return t
}

func (t temporal) addDays(n int) temporal {
	return t.fromInstant(t.instant().AddDate(0, 0, n))
}

// dateTimeFromInstant returns the DateTime of tm at millisecond precision
// in tm's zone.
func dateTimeFromInstant(tm time.Time) DateTime {
	_, off := tm.Zone()
	t := temporal{prec: PrecisionMillisecond, hasTZ: true, tzMinutes: off / 60, frac: "000"}
	return DateTime{t.fromInstant(tm)}
}

// precisionDigits returns the precision() of a temporal value: the number
// of digits in its written form (4 for a year, 17 for a date-time to the
// millisecond, 9 for a time to the millisecond).
func (t temporal) precisionDigits(isTime bool) int {
	digits := [...]int{0, 4, 6, 8, 10, 12, 14, 17}[t.prec]
	if isTime {
		return digits - 8
	}
	return digits
}

// boundary returns the earliest or latest moment t may denote, at the
// precision given in digits (see precisionDigits). A missing offset is
// taken as +14:00 for the low boundary and -12:00 for the high one.
func (t temporal) boundary(digits int, high, isTime, isDate bool) (temporal, bool) {
	if isTime {
		digits += 8
	}
	var p Precision
	switch digits {
	case 4:
		p = PrecisionYear
	case 6:
		p = PrecisionMonth
	case 8:
		p = PrecisionDay
	case 10:
		p = PrecisionHour
	case 12:
		p = PrecisionMinute
	case 14:
		p = PrecisionSecond
	case 17:
		p = PrecisionMillisecond
	default:
		return t, false
	}
	if isDate && p > PrecisionDay {
		return t, false
	}
	if high {
		if t.prec < PrecisionMonth {
			t.month = 12
		}
		if t.prec < PrecisionDay {
			t.day = daysIn(t.year, t.month)
		}
		if t.prec < PrecisionHour {
			t.hour = 23
		}
		if t.prec < PrecisionMinute {
			t.minute = 59
		}
		if t.prec < PrecisionSecond {
			t.second = 59
		}
		if t.prec < PrecisionMillisecond {
			t.nanos = 999_000_000
		}
	}
	if p >= PrecisionMillisecond && t.prec < PrecisionMillisecond {
		t.frac = fracDigits(t.nanos, 3)
	}
	if p >= PrecisionHour && !isTime && !t.hasTZ {
		t.hasTZ = true
		t.tzMinutes = 14 * 60
		if high {
			t.tzMinutes = -12 * 60
		}
	}
	t.prec = p
	return t, true
}
