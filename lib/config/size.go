package config

import (
	"fmt"
	"reflect"
	"strconv"
	"strings"
)

// Size is a byte count written as a plain number or with a binary suffix:
// "512K", "50M", "2G", "1T".
type Size int64

// ParseSize parses a size such as "50M" (binary units). "0" means zero.
func ParseSize(s string) (Size, error) {
	s = strings.TrimSpace(strings.ToUpper(s))
	s = strings.TrimSuffix(strings.TrimSuffix(s, "B"), "I")
	if s == "" {
		return 0, fmt.Errorf("empty size")
	}
	mult := int64(1)
	switch s[len(s)-1] {
	case 'K':
		mult = 1 << 10
	case 'M':
		mult = 1 << 20
	case 'G':
		mult = 1 << 30
	case 'T':
		mult = 1 << 40
	}
	if mult > 1 {
		s = s[:len(s)-1]
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("invalid size %q", s)
	}
	if n > (1<<62)/mult {
		return 0, fmt.Errorf("size %q too large", s)
	}
	return Size(n * mult), nil
}

// String formats a size with the largest exact binary suffix.
func (s Size) String() string {
	n := int64(s)
	for _, u := range []struct {
		suffix string
		mult   int64
	}{{"T", 1 << 40}, {"G", 1 << 30}, {"M", 1 << 20}, {"K", 1 << 10}} {
		if n != 0 && n%u.mult == 0 {
			return strconv.FormatInt(n/u.mult, 10) + u.suffix
		}
	}
	return strconv.FormatInt(n, 10)
}

// sizeHook lets mapstructure decode "50M" or 52428800 into a Size.
func sizeHook(from, to reflect.Type, data any) (any, error) {
	if to != reflect.TypeFor[Size]() {
		return data, nil
	}
	switch d := data.(type) {
	case string:
		return ParseSize(d)
	case int:
		return Size(d), nil
	case int64:
		return Size(d), nil
	case float64:
		return Size(int64(d)), nil
	}
	return data, nil
}
