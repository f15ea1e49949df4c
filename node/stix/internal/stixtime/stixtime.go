// Package stixtime parses STIX 2.1 timestamps (RFC 3339, UTC, "Z" suffix,
// optional fractional seconds).
package stixtime

import (
	"errors"
	"time"
)

var errFormat = errors.New("not a STIX timestamp (YYYY-MM-DDTHH:MM:SS[.s+]Z)")

// Parse parses s, which must have the form YYYY-MM-DDTHH:MM:SS[.s+]Z with a
// valid calendar date; a leap second (:60) is accepted and folded into the
// next second. It also returns the number of fractional-second digits.
func Parse(s string) (time.Time, int, error) {
	// YYYY-MM-DDTHH:MM:SS = 19 bytes, then optional .d+, then Z.
	if len(s) < 20 || s[len(s)-1] != 'Z' {
		return time.Time{}, 0, errFormat
	}
	for i := 0; i < 19; i++ {
		c := s[i]
		switch i {
		case 4, 7:
			if c != '-' {
				return time.Time{}, 0, errFormat
			}
		case 10:
			if c != 'T' {
				return time.Time{}, 0, errFormat
			}
		case 13, 16:
			if c != ':' {
				return time.Time{}, 0, errFormat
			}
		default:
			if c < '0' || c > '9' {
				return time.Time{}, 0, errFormat
			}
		}
	}
	frac := 0
	rest := s[19 : len(s)-1]
	if rest != "" {
		if rest[0] != '.' || len(rest) < 2 {
			return time.Time{}, 0, errFormat
		}
		for i := 1; i < len(rest); i++ {
			if rest[i] < '0' || rest[i] > '9' {
				return time.Time{}, 0, errFormat
			}
		}
		frac = len(rest) - 1
	}
	num := func(a, b int) int {
		n := 0
		for i := a; i < b; i++ {
			n = n*10 + int(s[i]-'0')
		}
		return n
	}
	year, month, day := num(0, 4), num(5, 7), num(8, 10)
	hour, minute, sec := num(11, 13), num(14, 16), num(17, 19)
	if month < 1 || month > 12 || day < 1 || hour > 23 || minute > 59 || sec > 60 {
		return time.Time{}, 0, errFormat
	}
	nsec := 0
	for i := 0; i < 9; i++ {
		nsec *= 10
		if i < frac {
			nsec += int(rest[1+i] - '0')
		}
	}
	leap := sec == 60
	if leap {
		sec = 59
	}
	t := time.Date(year, time.Month(month), day, hour, minute, sec, nsec, time.UTC)
	if t.Day() != day || int(t.Month()) != month {
		return time.Time{}, 0, errors.New("invalid calendar date")
	}
	if leap {
		t = t.Add(time.Second)
	}
	return t, frac, nil
}
