package userdb

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// sizeUnits are the quota suffixes, in binary units.
var sizeUnits = []struct {
	suffix byte
	shift  uint
}{{'T', 40}, {'G', 30}, {'M', 20}, {'K', 10}}

// ParseSize parses a quota: "0" or "-" for unlimited (0), otherwise a
// number of bytes with an optional K, M, G or T suffix (case-insensitive,
// powers of 1024).
func ParseSize(s string) (int64, error) {
	if s == "-" {
		return 0, nil
	}
	num, shift := s, uint(0)
	if s != "" {
		last := s[len(s)-1] &^ 0x20 // upper-case an ASCII letter
		for _, u := range sizeUnits {
			if last == u.suffix {
				num, shift = s[:len(s)-1], u.shift
			}
		}
	}
	if num == "" || strings.TrimLeft(num, "0123456789") != "" {
		return 0, fmt.Errorf("size %q: want digits with an optional K, M, G or T", s)
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n > math.MaxInt64>>shift {
		return 0, fmt.Errorf("size %q: too large", s)
	}
	return n << shift, nil
}

// FormatSize formats a quota with the largest suffix that divides it
// exactly ("2G", "1536K", "1000"); 0 is "0", unlimited.
func FormatSize(n int64) string {
	if n > 0 {
		for _, u := range sizeUnits {
			if n%(1<<u.shift) == 0 {
				return strconv.FormatInt(n>>u.shift, 10) + string(u.suffix)
			}
		}
	}
	return strconv.FormatInt(n, 10)
}
