package maildir

import (
	"encoding/base64"
	"errors"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// Modified UTF-7 (RFC 3501 §5.1.3): printable ASCII stands for itself
// except "&", written "&-"; any other run of characters is UTF-16BE in
// base64 with "," for "/", no padding, between "&" and "-".

var mutf7Base64 = base64.NewEncoding("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,").
	WithPadding(base64.NoPadding).Strict()

var errMUTF7 = errors.New("invalid modified UTF-7")

func isPrintableASCII(r rune) bool { return r >= 0x20 && r <= 0x7e }

// encodeMUTF7 encodes valid UTF-8 s.
func encodeMUTF7(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		if isPrintableASCII(r) {
			if r == '&' {
				b.WriteString("&-")
			} else {
				b.WriteByte(byte(r))
			}
			i += n
			continue
		}
		// A run of characters that need encoding, up to the next printable ASCII.
		j := i
		var units []uint16
		for j < len(s) {
			r, n := utf8.DecodeRuneInString(s[j:])
			if isPrintableASCII(r) {
				break
			}
			units = utf16.AppendRune(units, r)
			j += n
		}
		raw := make([]byte, 0, 2*len(units))
		for _, u := range units {
			raw = append(raw, byte(u>>8), byte(u))
		}
		b.WriteByte('&')
		b.WriteString(mutf7Base64.EncodeToString(raw))
		b.WriteByte('-')
		i = j
	}
	return b.String()
}

// decodeMUTF7 decodes s strictly: only what encodeMUTF7 could have
// produced is accepted, so every decodable name has one spelling.
func decodeMUTF7(s string) (string, error) {
	var b strings.Builder
	prevRun := false // the previous token was a base64 run
	for i := 0; i < len(s); {
		c := s[i]
		if !isPrintableASCII(rune(c)) {
			return "", errMUTF7
		}
		if c != '&' {
			b.WriteByte(c)
			i++
			prevRun = false
			continue
		}
		end := strings.IndexByte(s[i+1:], '-')
		if end < 0 {
			return "", errMUTF7
		}
		enc := s[i+1 : i+1+end]
		i += end + 2
		if enc == "" {
			b.WriteByte('&')
			prevRun = false
			continue
		}
		if prevRun { // two runs in a row would have been one
			return "", errMUTF7
		}
		raw, err := mutf7Base64.DecodeString(enc)
		if err != nil || len(raw)%2 != 0 {
			return "", errMUTF7
		}
		units := make([]uint16, len(raw)/2)
		for k := range units {
			units[k] = uint16(raw[2*k])<<8 | uint16(raw[2*k+1])
		}
		for k := 0; k < len(units); k++ {
			u := units[k]
			var r rune
			switch {
			case utf16.IsSurrogate(rune(u)):
				if k+1 >= len(units) {
					return "", errMUTF7
				}
				r = utf16.DecodeRune(rune(u), rune(units[k+1]))
				if r == utf8.RuneError {
					return "", errMUTF7
				}
				k++
			default:
				r = rune(u)
			}
			if isPrintableASCII(r) { // must have been written as itself
				return "", errMUTF7
			}
			b.WriteRune(r)
		}
		prevRun = true
	}
	return b.String(), nil
}
