package mailview

import (
	"bytes"
	"encoding/base64"
	"io"
	"mime"
	"strings"
	"unicode/utf8"

	"github.com/emersion/go-message/charset"
	"golang.org/x/text/encoding/charmap"
)

// decodeBody undoes the node's Content-Transfer-Encoding, leniently: bad
// base64 or quoted-printable decodes what it can and is reported.
func decodeBody(n *node, p *parser) []byte {
	cte := strings.ToLower(strings.TrimSpace(n.header.get("Content-Transfer-Encoding")))
	if i := strings.IndexAny(cte, " \t;("); i >= 0 {
		cte = cte[:i]
	}
	switch cte {
	case "", "7bit", "8bit", "binary":
		return n.body
	case "base64":
		b, ok := decodeBase64(n.body)
		if !ok {
			p.problem("part %s: damaged base64, decoded what could be", n.part())
		}
		return b
	case "quoted-printable":
		b, ok := decodeQP(n.body)
		if !ok {
			p.problem("part %s: damaged quoted-printable, decoded what could be", n.part())
		}
		return b
	default:
		p.problem("part %s: unknown Content-Transfer-Encoding %q, shown undecoded", n.part(), clip(cte))
		return n.body
	}
}

// decodeBase64 skips line breaks and spaces, treats any '=' as the end of
// one encoded run (some encoders concatenate padded blocks) and drops a
// trailing lone character. ok is false if anything but whitespace was
// skipped or a run was cut short.
func decodeBase64(in []byte) (out []byte, ok bool) {
	// Fast path: well-formed base64 (the decoder skips CR and LF itself).
	out = make([]byte, base64.StdEncoding.DecodedLen(len(in)))
	if n, err := base64.StdEncoding.Decode(out, bytes.TrimRight(in, " \t\r\n")); err == nil {
		return out[:n], true
	}
	ok = true
	out = make([]byte, 0, len(in)*3/4)
	run := make([]byte, 0, 76)
	flush := func() {
		if len(run)%4 == 1 {
			ok = false
			run = run[:len(run)-1]
		}
		dec := make([]byte, base64.RawStdEncoding.DecodedLen(len(run)))
		n, err := base64.RawStdEncoding.Decode(dec, run)
		if err != nil {
			ok = false
		}
		out = append(out, dec[:n]...)
		run = run[:0]
	}
	for _, c := range in {
		switch {
		case 'A' <= c && c <= 'Z', 'a' <= c && c <= 'z', '0' <= c && c <= '9', c == '+', c == '/':
			run = append(run, c)
		case c == '=':
			if len(run) > 0 {
				flush()
			}
		case c == '\r', c == '\n', c == ' ', c == '\t':
		default:
			ok = false
		}
	}
	if len(run) > 0 {
		flush()
	}
	return out, ok
}

// decodeQP decodes quoted-printable (RFC 2045 6.7): "=XX", soft line
// breaks, trailing white space on a line dropped. A stray '=' is kept as is.
func decodeQP(in []byte) (out []byte, ok bool) {
	ok = true
	out = make([]byte, 0, len(in))
	for i := 0; i < len(in); i++ {
		c := in[i]
		switch {
		case c == '=':
			if i+2 < len(in) && isHex(in[i+1]) && isHex(in[i+2]) {
				out = append(out, unhex(in[i+1])<<4|unhex(in[i+2]))
				i += 2
				continue
			}
			j := i + 1
			for j < len(in) && (in[j] == ' ' || in[j] == '\t') {
				j++
			}
			if j == len(in) {
				i = j
				continue
			}
			if in[j] == '\n' {
				i = j
				continue
			}
			if in[j] == '\r' && j+1 < len(in) && in[j+1] == '\n' {
				i = j + 1
				continue
			}
			ok = false
			out = append(out, c)
		case c == ' ' || c == '\t':
			j := i
			for j < len(in) && (in[j] == ' ' || in[j] == '\t') {
				j++
			}
			if j < len(in) && in[j] != '\r' && in[j] != '\n' {
				out = append(out, in[i:j]...)
			}
			i = j - 1
		default:
			out = append(out, c)
		}
	}
	return out, ok
}

// decodeCharset converts text in the named charset to UTF-8. Latin-1 and
// ASCII labels are read as windows-1252, as browsers do (mislabelled
// windows-1252 is far more common than C1 controls). An unknown charset
// yields the text as UTF-8 (or windows-1252 if it is not valid UTF-8) and
// ok false.
func decodeCharset(b []byte, cs string) (s string, ok bool) {
	cs = strings.ToLower(strings.Trim(strings.TrimSpace(cs), `"'`))
	switch cs {
	case "", "us-ascii", "ascii", "us", "ansi_x3.4-1968", "iso-ir-6", "utf-8", "utf8", "unicode-1-1-utf-8":
		if utf8.Valid(b) {
			return string(b), true
		}
		if cs == "utf-8" || cs == "utf8" {
			return strings.ToValidUTF8(string(b), "\uFFFD"), true
		}
		return decodeCharset(b, "windows-1252")
	case "iso-8859-1", "iso8859-1", "iso_8859-1", "latin1", "latin-1", "l1", "cp819", "windows-1252", "cp1252", "x-cp1252":
		out, err := charmap.Windows1252.NewDecoder().Bytes(b)
		if err != nil {
			return strings.ToValidUTF8(string(b), "\uFFFD"), false
		}
		return string(out), true
	}
	r, err := charset.Reader(cs, bytes.NewReader(b))
	if err == nil {
		var out []byte
		if out, err = io.ReadAll(r); err == nil {
			return strings.ToValidUTF8(string(out), "\uFFFD"), true
		}
	}
	if utf8.Valid(b) {
		return string(b), false
	}
	s, _ = decodeCharset(b, "windows-1252")
	return s, false
}

// wordDecoder decodes RFC 2047 encoded words with decodeCharset's rules.
var wordDecoder = &mime.WordDecoder{CharsetReader: func(cs string, in io.Reader) (io.Reader, error) {
	b, err := io.ReadAll(in)
	if err != nil {
		return nil, err
	}
	s, ok := decodeCharset(b, cs)
	if !ok {
		return nil, errUnknownCharset
	}
	return strings.NewReader(s), nil
}}

type charsetError struct{}

func (charsetError) Error() string { return "unknown charset" }

var errUnknownCharset error = charsetError{}

// decodeWords decodes the encoded words of an unstructured header value and
// turns control characters (a decoded CR/LF, NUL, …) into spaces.
func decodeWords(v string) string {
	d, _ := decodeWordsOK(v)
	return d
}

// decodeWordsOK is decodeWords that also reports whether every encoded word
// could be decoded; if not, the value is shown as it came.
func decodeWordsOK(v string) (string, bool) {
	d, err := wordDecoder.DecodeHeader(v)
	if err != nil {
		return cleanControls(v), false
	}
	return cleanControls(d), true
}

func cleanControls(s string) string {
	return strings.Map(func(r rune) rune {
		if r < ' ' || r == 0x7f || (r >= 0x80 && r < 0xa0) || r == '\u2028' || r == '\u2029' {
			return ' '
		}
		return r
	}, s)
}
