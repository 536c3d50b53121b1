package config

import (
	"fmt"
	"io"
	"reflect"
	"sort"
	"strings"
	"time"
)

// secretWords mark keys whose values are never printed.
var secretWords = []string{"password", "secret", "token"}

// Print writes the effective configuration as TOML-style key = value lines,
// sorted, with secret values masked.
func (c *Config) Print(w io.Writer) error {
	flat := flatten(reflect.ValueOf(c).Elem(), "")
	keys := make([]string, 0, len(flat))
	for k := range flat {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		v := flat[k]
		for _, s := range secretWords {
			if strings.Contains(k, s) {
				v = "********"
			}
		}
		if _, err := fmt.Fprintf(w, "%s = %s\n", k, tomlValue(v)); err != nil {
			return err
		}
	}
	return nil
}

func tomlValue(v any) string {
	switch x := v.(type) {
	case string:
		return fmt.Sprintf("%q", x)
	case []string:
		q := make([]string, len(x))
		for i, s := range x {
			q[i] = fmt.Sprintf("%q", s)
		}
		return "[" + strings.Join(q, ", ") + "]"
	case time.Duration:
		return fmt.Sprintf("%q", x.String())
	case []CertPair:
		parts := make([]string, len(x))
		for i, p := range x {
			parts[i] = fmt.Sprintf("{ cert = %q, key = %q }", p.Cert, p.Key)
		}
		return "[" + strings.Join(parts, ", ") + "]"
	default:
		return fmt.Sprint(x)
	}
}
