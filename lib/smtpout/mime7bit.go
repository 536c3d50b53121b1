package smtpout

import (
	"bytes"
	"encoding/base64"
	"mime"
	"mime/quotedprintable"
	"strings"
	"unicode/utf8"
)

// maxMIMEDepth bounds the recursion into nested multiparts and messages.
const maxMIMEDepth = 16

// to7bit converts a CRLF-normalised message for a server without
// 8BITMIME (RFC 6152 §3): every body part holding 8-bit bytes is
// re-encoded, text as quoted-printable and anything else as base64,
// recursing into multiparts and message/rfc822. Everything else is kept
// byte for byte (boundaries, preambles, other parts), so a part that was
// already 7-bit is untouched. Header fields themselves are not changed;
// 8-bit bytes in them stay (only SMTPUTF8 could carry them properly).
func to7bit(msg []byte) []byte {
	if !has8bit(msg) {
		return msg
	}
	hdr, body := splitHeader(msg)
	out := convertEntity(hdr, body, "text/plain", 0)
	if headerField(hdr, "MIME-Version") != "" || !has8bit(body) {
		return out
	}
	// A message without MIME headers: say what the encoding means.
	extra := "MIME-Version: 1.0\r\n"
	if headerField(hdr, "Content-Type") == "" {
		charset := "unknown-8bit"
		if utf8.Valid(body) {
			charset = "utf-8"
		}
		extra += "Content-Type: text/plain; charset=" + charset + "\r\n"
	}
	return append([]byte(extra), out...)
}

// convertEntity converts one MIME entity given as its header block and
// body; defType is the type when the header names none.
func convertEntity(hdr, body []byte, defType string, depth int) []byte {
	if !has8bit(body) || depth > maxMIMEDepth {
		return concat(hdr, body)
	}
	mediaType, params := defType, map[string]string(nil)
	if ct := headerField(hdr, "Content-Type"); ct != "" {
		if mt, p, err := mime.ParseMediaType(ct); err == nil {
			mediaType, params = mt, p
		} else {
			mediaType = "text/plain" // RFC 2045 §5.2: an unreadable type is text/plain
		}
	}
	cte := strings.ToLower(headerField(hdr, "Content-Transfer-Encoding"))
	switch cte {
	case "", "7bit", "8bit", "binary":
	default:
		return concat(hdr, body) // already encoded: 8-bit bytes there are garbage we can't fix
	}
	switch {
	case strings.HasPrefix(mediaType, "multipart/") && params["boundary"] != "":
		sub := "text/plain"
		if mediaType == "multipart/digest" {
			sub = "message/rfc822"
		}
		if cte != "" && cte != "7bit" {
			hdr = setTransferEncoding(hdr, "7bit")
		}
		return concat(hdr, convertMultipart(body, params["boundary"], sub, depth))
	case mediaType == "message/rfc822":
		if cte != "" && cte != "7bit" {
			hdr = setTransferEncoding(hdr, "7bit")
		}
		h2, b2 := splitHeader(body)
		return concat(hdr, convertEntity(h2, b2, "text/plain", depth+1))
	case strings.HasPrefix(mediaType, "text/"):
		return concat(setTransferEncoding(hdr, "quoted-printable"), encodeQP(body))
	default:
		return concat(setTransferEncoding(hdr, "base64"), encodeBase64(body))
	}
}

// convertMultipart converts each body part between the boundaries,
// keeping the preamble, the delimiter lines and the epilogue as they are.
func convertMultipart(body []byte, boundary, subType string, depth int) []byte {
	delim := []byte("--" + boundary)
	type span struct{ start, end int } // a delimiter line, with its CRLF
	var delims []span
	closed := false
	for pos := 0; pos < len(body) && !closed; {
		end := bytes.Index(body[pos:], []byte("\r\n"))
		lineEnd := len(body)
		if end >= 0 {
			lineEnd = pos + end + 2
		}
		line := bytes.TrimRight(body[pos:lineEnd], "\r\n")
		if rest, ok := bytes.CutPrefix(line, delim); ok {
			rest = bytes.TrimRight(rest, " \t")
			if len(rest) == 0 || bytes.Equal(rest, []byte("--")) {
				delims = append(delims, span{pos, lineEnd})
				closed = len(rest) == 2
			}
		}
		pos = lineEnd
	}
	if len(delims) == 0 {
		return body // not really multipart: leave it alone
	}
	var out bytes.Buffer
	out.Write(body[:delims[0].start])
	for i, d := range delims {
		out.Write(body[d.start:d.end])
		if i == len(delims)-1 && closed {
			out.Write(body[d.end:]) // epilogue
			break
		}
		partEnd := len(body)
		if i+1 < len(delims) {
			partEnd = delims[i+1].start
		}
		part := body[d.end:partEnd]
		crlf := bytes.HasSuffix(part, []byte("\r\n")) && i+1 < len(delims)
		if crlf {
			part = part[:len(part)-2] // the CRLF before a delimiter belongs to it
		}
		h, b := splitHeader(part)
		out.Write(convertEntity(h, b, subType, depth+1))
		if crlf {
			out.WriteString("\r\n")
		}
	}
	return out.Bytes()
}

// headerField returns the unfolded value of the first field named name in
// a header block, or "".
func headerField(hdr []byte, name string) string {
	lines := strings.Split(string(hdr), "\n")
	for i := 0; i < len(lines); i++ {
		k, v, ok := strings.Cut(lines[i], ":")
		if !ok || !strings.EqualFold(strings.TrimRight(k, " \t"), name) {
			continue
		}
		val := strings.TrimRight(v, "\r")
		for i+1 < len(lines) && len(lines[i+1]) > 0 && (lines[i+1][0] == ' ' || lines[i+1][0] == '\t') {
			i++
			val += " " + strings.TrimRight(lines[i], "\r")
		}
		return strings.TrimSpace(val)
	}
	return ""
}

// setTransferEncoding removes every Content-Transfer-Encoding field from a
// header block and adds one with the given value before the blank line.
func setTransferEncoding(hdr []byte, enc string) []byte {
	var out bytes.Buffer
	lines := bytes.SplitAfter(hdr, []byte("\n"))
	skipping := false
	for _, l := range lines {
		if len(l) == 0 {
			continue
		}
		if bytes.Equal(l, []byte("\r\n")) || bytes.Equal(l, []byte("\n")) {
			break // the blank line: written below
		}
		if skipping && (l[0] == ' ' || l[0] == '\t') {
			continue
		}
		skipping = false
		if k, _, ok := bytes.Cut(l, []byte(":")); ok && strings.EqualFold(strings.TrimSpace(string(k)), "Content-Transfer-Encoding") {
			skipping = true
			continue
		}
		out.Write(l)
		if !bytes.HasSuffix(l, []byte("\n")) {
			out.WriteString("\r\n")
		}
	}
	out.WriteString("Content-Transfer-Encoding: " + enc + "\r\n\r\n")
	return out.Bytes()
}

func encodeQP(body []byte) []byte {
	var b bytes.Buffer
	w := quotedprintable.NewWriter(&b)
	w.Write(body)
	w.Close()
	if !bytes.HasSuffix(b.Bytes(), []byte("\r\n")) && bytes.HasSuffix(body, []byte("\r\n")) {
		b.WriteString("\r\n")
	}
	return b.Bytes()
}

func encodeBase64(body []byte) []byte {
	enc := base64.StdEncoding.EncodeToString(body)
	var b bytes.Buffer
	for len(enc) > 76 {
		b.WriteString(enc[:76])
		b.WriteString("\r\n")
		enc = enc[76:]
	}
	b.WriteString(enc)
	b.WriteString("\r\n")
	return b.Bytes()
}

func concat(a, b []byte) []byte {
	out := make([]byte, 0, len(a)+len(b))
	return append(append(out, a...), b...)
}
