package mailview

import (
	"bytes"
	"strconv"
	"strings"
	"unicode/utf8"
)

// field is one header field, unfolded, value not yet decoded.
type field struct{ key, value string }

// header keeps fields in message order; get returns the first occurrence.
type header []field

func (h header) get(key string) string {
	for _, f := range h {
		if strings.EqualFold(f.key, key) {
			return f.value
		}
	}
	return ""
}

// parseHeader unfolds the header block. A line that is neither a field nor
// a continuation is skipped and reported; raw 8-bit values that are not
// UTF-8 are read as windows-1252.
func (p *parser) parseHeader(block []byte, path string) header {
	var h header
	bad := 0
	for _, line := range bytes.Split(block, []byte("\n")) {
		line = bytes.TrimSuffix(line, []byte("\r"))
		if len(line) == 0 {
			continue
		}
		if line[0] == ' ' || line[0] == '\t' {
			if len(h) > 0 {
				h[len(h)-1].value += " " + strings.TrimSpace(toUTF8(line))
			}
			continue
		}
		k, v, ok := bytes.Cut(line, []byte(":"))
		if !ok || !validFieldName(bytes.TrimRight(k, " \t")) {
			bad++
			continue
		}
		h = append(h, field{key: string(bytes.TrimRight(k, " \t")), value: strings.TrimSpace(toUTF8(v))})
	}
	if bad > 0 {
		where := "message"
		if path != "" {
			where = "part " + path
		}
		p.problem("%s: %d malformed header line(s) skipped", where, bad)
	}
	return h
}

func validFieldName(k []byte) bool {
	if len(k) == 0 {
		return false
	}
	for _, c := range k {
		if c <= ' ' || c >= 0x7f || c == ':' {
			return false
		}
	}
	return true
}

// toUTF8 returns b as a string, read as windows-1252 unless it is UTF-8.
func toUTF8(b []byte) string {
	if utf8.Valid(b) {
		return string(b)
	}
	s, _ := decodeCharset(b, "windows-1252")
	return s
}

// parseParams splits a Content-Type or Content-Disposition value into its
// lower-case value and parameters, leniently: unquoted values with spaces,
// RFC 2231 extended and continued parameters in any charset, and RFC 2047
// encoded words inside parameter values (as Outlook writes them).
func parseParams(s string) (value string, params map[string]string) {
	params = map[string]string{}
	value, rest, _ := strings.Cut(s, ";")
	value = strings.ToLower(strings.TrimSpace(value))
	if i := strings.IndexAny(value, " \t("); i >= 0 {
		value = value[:i]
	}
	type ext struct {
		charset string
		parts   map[int]string
		encoded map[int]bool
	}
	exts := map[string]*ext{}
	for rest != "" {
		var name, val string
		name, rest, _ = strings.Cut(rest, "=")
		name = strings.ToLower(strings.TrimSpace(name))
		if i := strings.LastIndexAny(name, "; \t"); i >= 0 {
			name = name[i+1:] // junk before the name, e.g. a stray token
		}
		rest = strings.TrimLeft(rest, " \t")
		if strings.HasPrefix(rest, `"`) {
			val, rest = quoted(rest[1:])
			_, rest, _ = strings.Cut(rest, ";")
		} else {
			val, rest, _ = strings.Cut(rest, ";")
			val = strings.TrimSpace(val)
		}
		if name == "" {
			continue
		}
		base, section, isExt := strings.Cut(name, "*")
		if !isExt {
			if _, dup := params[base]; !dup {
				params[base] = val
			}
			continue
		}
		e := exts[base]
		if e == nil {
			e = &ext{parts: map[int]string{}, encoded: map[int]bool{}}
			exts[base] = e
		}
		n, encoded := 0, strings.HasSuffix(section, "*") || section == ""
		section = strings.TrimSuffix(section, "*")
		if section != "" {
			var err error
			if n, err = strconv.Atoi(section); err != nil || n < 0 || n > 100 {
				continue
			}
		}
		if encoded && n == 0 {
			parts := strings.SplitN(val, "'", 3)
			if len(parts) == 3 {
				e.charset, val = parts[0], parts[2]
			}
		}
		e.parts[n], e.encoded[n] = val, encoded
	}
	for name, e := range exts {
		var raw []byte
		for i := 0; ; i++ {
			v, ok := e.parts[i]
			if !ok {
				break
			}
			if e.encoded[i] {
				raw = append(raw, percentDecode(v)...)
			} else {
				raw = append(raw, v...)
			}
		}
		if len(raw) == 0 {
			continue
		}
		cs := e.charset
		if cs == "" {
			cs = "utf-8"
		}
		v, _ := decodeCharset(raw, cs)
		params[name] = v // RFC 2231 wins over the plain parameter
	}
	for k, v := range params {
		if strings.Contains(v, "=?") {
			params[k] = decodeWords(v)
		}
	}
	return value, params
}

// quoted reads a quoted-string body (after the opening quote) and returns
// its value and what follows the closing quote.
func quoted(s string) (val, rest string) {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\\':
			if i+1 < len(s) {
				i++
				b.WriteByte(s[i])
			}
		case '"':
			return b.String(), s[i+1:]
		default:
			b.WriteByte(s[i])
		}
	}
	return b.String(), ""
}

func percentDecode(s string) []byte {
	out := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		if s[i] == '%' && i+2 < len(s) && isHex(s[i+1]) && isHex(s[i+2]) {
			out = append(out, unhex(s[i+1])<<4|unhex(s[i+2]))
			i += 2
			continue
		}
		out = append(out, s[i])
	}
	return out
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case c <= '9':
		return c - '0'
	case c <= 'F':
		return c - 'A' + 10
	default:
		return c - 'a' + 10
	}
}
