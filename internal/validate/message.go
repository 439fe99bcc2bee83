package validate

import (
	"fmt"
	"strconv"
	"strings"
)

// sprintf formats the messages formatMessage does not substitute itself.
// Tests replace it to count them.
var sprintf = fmt.Sprintf

// formatMessage returns fmt.Sprintf(format, args...) for an issue's
// message, or format itself when there are no arguments. Nearly every
// message has only %s verbs with string arguments and %d verbs with int
// arguments, and it substitutes those itself, in one allocation and
// without the reflection Sprintf does per argument. Any other verb, flag
// or width, an argument of another type, or a count that does not match
// goes to Sprintf, so the text is the same as Sprintf's.
func formatMessage(format string, args []any) string {
	if len(args) == 0 {
		return format
	}
	if !plainArgs(args) {
		return sprintf(format, args...)
	}
	var b strings.Builder
	b.Grow(messageSize(format, args))
	next := 0
	rest := format
	for {
		// Text up to the next verb is copied in one piece.
		i := strings.IndexByte(rest, '%')
		if i < 0 {
			b.WriteString(rest)
			break
		}
		b.WriteString(rest[:i])
		if i+1 == len(rest) {
			return sprintf(format, args...)
		}
		verb := rest[i+1]
		rest = rest[i+2:]
		switch {
		case verb == '%':
			b.WriteByte('%')
		case next == len(args):
			return sprintf(format, args...)
		case verb == 's':
			s, ok := args[next].(string)
			if !ok {
				return sprintf(format, args...)
			}
			b.WriteString(s)
			next++
		case verb == 'd':
			n, ok := args[next].(int)
			if !ok {
				return sprintf(format, args...)
			}
			var digits [20]byte
			b.Write(strconv.AppendInt(digits[:0], int64(n), 10))
			next++
		default:
			return sprintf(format, args...)
		}
	}
	if next != len(args) {
		return sprintf(format, args...)
	}
	return b.String()
}

// plainArgs reports whether every argument is a string or an int, the
// types formatMessage substitutes itself.
func plainArgs(args []any) bool {
	for _, a := range args {
		switch a.(type) {
		case string, int:
		default:
			return false
		}
	}
	return true
}

// messageSize returns an upper bound of the length of the message, so
// that it is built in one allocation. An int takes at most 20 bytes.
func messageSize(format string, args []any) int {
	n := len(format)
	for _, a := range args {
		if s, ok := a.(string); ok {
			n += len(s)
		} else {
			n += 20
		}
	}
	return n
}
