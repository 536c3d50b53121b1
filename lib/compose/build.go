package compose

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"mime"
	"mime/quotedprintable"
	"net/mail"
	"path"
	"strings"
	"time"
	"unicode/utf8"
)

// maxNameRunes caps attachment names so their header stays well under
// 998 bytes even when every character is percent-encoded.
const maxNameRunes = 120

// Build returns the message for d with CRLF line ends. hostname names the
// right side of the Message-ID. Text that cannot go into a header is an
// error wrapping ErrInvalidHeader.
func Build(d Draft, now time.Time, hostname string) ([]byte, error) {
	return build(d, now, hostname, false)
}

// BuildDraft is Build with a Bcc header field, for the copy saved to Drafts
// (so Resume gets the Bcc recipients back). Never submit its output: every
// recipient would see the Bcc list.
func BuildDraft(d Draft, now time.Time, hostname string) ([]byte, error) {
	return build(d, now, hostname, true)
}

func build(d Draft, now time.Time, hostname string, withBcc bool) ([]byte, error) {
	if err := check(d, hostname); err != nil {
		return nil, err
	}
	var b bytes.Buffer
	h := &headerWriter{b: &b}
	h.field("Date", now.Format(time.RFC1123Z))
	h.field("Message-ID", "<"+randomID()+"@"+hostname+">")
	h.addresses("From", []*mail.Address{d.From})
	h.addresses("To", d.To)
	h.addresses("Cc", d.Cc)
	if withBcc {
		h.addresses("Bcc", d.Bcc)
	}
	h.field("Subject", encodeWords(d.Subject))
	if id := bracket(d.InReplyTo); id != "" {
		h.field("In-Reply-To", id)
	}
	if len(d.References) > 0 {
		ids := make([]string, 0, len(d.References))
		for _, r := range d.References {
			if id := bracket(r); id != "" {
				ids = append(ids, id)
			}
		}
		h.field("References", strings.Join(ids, " "))
	}
	h.field("MIME-Version", "1.0")

	if len(d.Attachments) == 0 {
		writeText(h, &b, d.Body)
		return b.Bytes(), nil
	}
	boundary := "=_" + randomID()
	h.field("Content-Type", `multipart/mixed; boundary="`+boundary+`"`)
	b.WriteString("\r\nThis is a message in MIME format.\r\n")
	b.WriteString("\r\n--" + boundary + "\r\n")
	writeText(&headerWriter{b: &b}, &b, d.Body)
	for _, f := range d.Attachments {
		b.WriteString("\r\n--" + boundary + "\r\n")
		writeFile(&b, f)
	}
	b.WriteString("\r\n--" + boundary + "--\r\n")
	return b.Bytes(), nil
}

// check refuses a draft whose header fields would carry line breaks or NUL.
func check(d Draft, hostname string) error {
	if d.From == nil {
		return fmt.Errorf("compose: %w: no From address", ErrInvalidHeader)
	}
	for _, list := range [][]*mail.Address{{d.From}, d.To, d.Cc, d.Bcc} {
		for _, a := range list {
			if err := checkAddress(a); err != nil {
				return err
			}
		}
	}
	fields := map[string]string{"Subject": d.Subject, "In-Reply-To": d.InReplyTo, "hostname": hostname}
	for i, r := range d.References {
		fields[fmt.Sprintf("References[%d]", i)] = r
	}
	for i, f := range d.Attachments {
		fields[fmt.Sprintf("attachment %d name", i+1)] = f.Name
		fields[fmt.Sprintf("attachment %d type", i+1)] = f.ContentType
	}
	for k, v := range fields {
		if strings.ContainsAny(v, "\r\n\x00") {
			return fmt.Errorf("compose: %w: %s contains a line break or NUL", ErrInvalidHeader, k)
		}
		if strings.IndexFunc(v, func(r rune) bool { return r < ' ' && r != '\t' || r == 0x7f }) >= 0 {
			return fmt.Errorf("compose: %w: %s contains a control character", ErrInvalidHeader, k)
		}
		if !utf8.ValidString(v) {
			return fmt.Errorf("compose: %w: %s is not UTF-8", ErrInvalidHeader, k)
		}
	}
	if hostname == "" || strings.ContainsAny(hostname, " \t<>@") {
		return fmt.Errorf("compose: %w: hostname %q", ErrInvalidHeader, hostname)
	}
	for _, id := range append([]string{d.InReplyTo}, d.References...) {
		if strings.ContainsAny(strings.Trim(strings.TrimSpace(id), "<>"), " \t<>") {
			return fmt.Errorf("compose: %w: message ID %q", ErrInvalidHeader, id)
		}
	}
	return nil
}

// writeText writes the Content-Type and body of the text part.
func writeText(h *headerWriter, b *bytes.Buffer, body string) {
	body = strings.ReplaceAll(body, "\r\n", "\n")
	body = strings.ReplaceAll(body, "\r", "\n")
	body = strings.ToValidUTF8(body, "\uFFFD")
	if body != "" && !strings.HasSuffix(body, "\n") {
		body += "\n"
	}
	h.field("Content-Type", "text/plain; charset=utf-8")
	if plain7bit(body) {
		h.field("Content-Transfer-Encoding", "7bit")
		b.WriteString("\r\n")
		b.WriteString(strings.ReplaceAll(body, "\n", "\r\n"))
		return
	}
	h.field("Content-Transfer-Encoding", "quoted-printable")
	b.WriteString("\r\n")
	qp := quotedprintable.NewWriter(b)
	qp.Write([]byte(strings.ReplaceAll(body, "\n", "\r\n"))) // writes to a bytes.Buffer do not fail
	qp.Close()
}

// plain7bit reports whether text can be sent as is: ASCII, short lines, no
// trailing white space (which transports may strip).
func plain7bit(s string) bool {
	for _, line := range strings.Split(s, "\n") {
		if len(line) > 76 || strings.HasSuffix(line, " ") || strings.HasSuffix(line, "\t") {
			return false
		}
		for i := 0; i < len(line); i++ {
			if c := line[i]; c >= 0x7f || (c < ' ' && c != '\t') {
				return false
			}
		}
	}
	return true
}

func writeFile(b *bytes.Buffer, f File) {
	name := fileName(f.Name)
	h := &headerWriter{b: b}
	h.field("Content-Type", contentType(f.ContentType, name)+param("name", name))
	h.field("Content-Disposition", "attachment"+param("filename", name))
	h.field("Content-Transfer-Encoding", "base64")
	b.WriteString("\r\n")
	enc := base64.StdEncoding.EncodeToString(f.Data)
	for len(enc) > 76 {
		b.WriteString(enc[:76] + "\r\n")
		enc = enc[76:]
	}
	if enc != "" {
		b.WriteString(enc + "\r\n")
	}
}

// param formats one parameter: a quoted string when the value is short
// plain ASCII, else RFC 2231 UTF-8 percent-encoding, split into numbered
// sections short enough to fold (mime.FormatMediaType writes one long line).
func param(key, value string) string {
	plain := len(value) <= 60
	for i := 0; i < len(value) && plain; i++ {
		c := value[i]
		plain = c >= ' ' && c < 0x7f && c != '"' && c != '\\'
	}
	if plain {
		return "; " + key + `="` + value + `"`
	}
	const attrChars = "!#$&+-.^_`|~"
	var enc strings.Builder
	var sections []string
	for i := 0; i < len(value); i++ {
		c := value[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte(attrChars, c) >= 0 {
			enc.WriteByte(c)
		} else {
			fmt.Fprintf(&enc, "%%%02X", c)
		}
		if enc.Len() >= 48 {
			sections = append(sections, enc.String())
			enc.Reset()
		}
	}
	if enc.Len() > 0 || len(sections) == 0 {
		sections = append(sections, enc.String())
	}
	if len(sections) == 1 {
		return "; " + key + "*=utf-8''" + sections[0]
	}
	var out strings.Builder
	for i, sec := range sections {
		if i == 0 {
			sec = "utf-8''" + sec
		}
		fmt.Fprintf(&out, "; %s*%d*=%s", key, i, sec)
	}
	return out.String()
}

// fileName drops directories and control characters and caps the length.
func fileName(s string) string {
	s = strings.Map(func(r rune) rune {
		if r < ' ' || r == 0x7f {
			return -1
		}
		return r
	}, s)
	if i := strings.LastIndexAny(s, `/\`); i >= 0 {
		s = s[i+1:]
	}
	s = strings.TrimSpace(s)
	if r := []rune(s); len(r) > maxNameRunes {
		ext := path.Ext(s)
		if len([]rune(ext)) > 10 {
			ext = ""
		}
		s = string(r[:maxNameRunes-len([]rune(ext))]) + ext
	}
	if s == "" || s == "." || s == ".." {
		s = "attachment"
	}
	return s
}

// contentType keeps only the media type the browser sent (no parameters)
// and guesses one from the name when it is missing or unusable.
func contentType(ct, name string) string {
	t, _, err := mime.ParseMediaType(ct)
	if err == nil && strings.Count(t, "/") == 1 && !strings.HasPrefix(t, "multipart/") {
		return t
	}
	if g := mime.TypeByExtension(path.Ext(name)); g != "" {
		if t, _, err := mime.ParseMediaType(g); err == nil {
			return t
		}
	}
	return "application/octet-stream"
}

// bracket returns a message ID in angle brackets, "" for an empty one.
func bracket(id string) string {
	id = strings.Trim(strings.TrimSpace(id), "<>")
	if id == "" {
		return ""
	}
	return "<" + id + ">"
}

// encodeWords returns s as is when it is printable ASCII, else as RFC 2047
// encoded words.
func encodeWords(s string) string {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x7f || s[i] < ' ' {
			return encodeAll(s)
		}
	}
	if strings.Contains(s, "=?") {
		return encodeAll(s) // would be read as an encoded word
	}
	for _, w := range strings.Split(s, " ") {
		if len(w) > 200 {
			return encodeAll(s) // cannot be folded otherwise
		}
	}
	return s
}

// encodeAll writes s as base64 encoded words, even when it is ASCII
// (mime's encoders leave ASCII alone). Words end on rune boundaries and are
// short enough (64 characters) that "Subject: " and one word fit in 78.
func encodeAll(s string) string {
	var words []string
	for s != "" {
		n := 0
		for n < len(s) && n < 39 {
			_, size := utf8.DecodeRuneInString(s[n:])
			if n+size > 39 {
				break
			}
			n += size
		}
		words = append(words, "=?utf-8?b?"+base64.StdEncoding.EncodeToString([]byte(s[:n]))+"?=")
		s = s[n:]
	}
	return strings.Join(words, " ")
}

func randomID() string {
	var r [16]byte
	rand.Read(r[:]) // never fails (crypto/rand panics rather than return short)
	return hex.EncodeToString(r[:])
}

// headerWriter writes header fields folded at white space near 78
// characters.
type headerWriter struct{ b *bytes.Buffer }

func (h *headerWriter) field(key, value string) {
	line := key + ":"
	width := len(line)
	for i, word := range strings.Split(value, " ") {
		if i > 0 && word != "" && width+1+len(word) > 78 {
			line += "\r\n"
			width = 0
		}
		line += " " + word
		width += 1 + len(word)
	}
	h.b.WriteString(line + "\r\n")
}

// addresses writes an address list, names RFC 2047-encoded when needed and
// domains as A-labels.
func (h *headerWriter) addresses(key string, list []*mail.Address) {
	if len(list) == 0 {
		return
	}
	parts := make([]string, 0, len(list))
	for _, a := range list {
		out := &mail.Address{Name: a.Name, Address: envelopeAddress(a.Address)}
		parts = append(parts, out.String())
	}
	h.field(key, strings.Join(parts, ", "))
}
