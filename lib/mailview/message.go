package mailview

import (
	"errors"
	"fmt"
	"html/template"
	"io"
	"net/mail"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"

	htmlcharset "golang.org/x/net/html/charset"
)

// DefaultMaxSize is the size Parse reads when Options.MaxSize is 0.
const DefaultMaxSize = 64 << 20

// Options says how Parse renders one message.
type Options struct {
	MaxSize      int64                    // bytes read at most; the rest is cut off with a Problem (0: DefaultMaxSize)
	RemoteImages bool                     // the user asked to load remote images for this message
	PartURL      func(part string) string // URL of a part, for cid: links in HTML; nil: such links are dropped
}

// Message is what the reader shows. All strings are UTF-8 and free of
// control characters (bodies keep tabs and line breaks, as "\n").
type Message struct {
	Subject                       string
	From, Sender, ReplyTo, To, Cc []*mail.Address // RFC 2047 decoded; an unparsable entry keeps its text as Name
	Bcc                           []*mail.Address // only in drafts and sent copies
	Date                          time.Time       // zero if missing or unparsable
	MessageID                     string          // without angle brackets
	InReplyTo                     string          // the first message ID of In-Reply-To
	References                    []string        // oldest first, without angle brackets

	Text     string        // the best plain-text body ("" if the message has only HTML)
	TextHTML template.HTML // Text escaped, http/https/mailto URLs made links; keep line breaks (white-space: pre-wrap)
	HTML     string        // sanitised HTML fragment for the sandboxed frame, "" if the message has no HTML part

	RemoteImagesBlocked bool // HTML referred to remote images that were removed
	Attachments         []Attachment
	Problems            []string // malformed MIME noticed, for the user
}

// Attachment is one part that is not a body shown above: a file, an inline
// image, an attached message.
type Attachment struct {
	Part        string // IMAP part path: "2", "1.2", …
	Filename    string // never empty, no directory components
	ContentType string // lower case, without parameters
	Size        int64  // decoded size
	Inline      bool   // shown inside the HTML body already (a cid: image embedded by Parse); list the others
	ContentID   string // without angle brackets
}

// ErrNoPart is returned by Part for a path the message does not have.
var ErrNoPart = errors.New("mailview: no such part")

// Parse reads and renders a message. It fails only if reading r fails.
func Parse(r io.Reader, opts Options) (*Message, error) {
	data, cut, err := readLimited(r, opts.MaxSize)
	if err != nil {
		return nil, err
	}
	p := &parser{}
	if cut {
		p.problem("message larger than %d bytes: the rest is not shown", len(data))
	}
	root := p.entity(data, "", 0, "text/plain")
	m := &Message{}
	p.envelope(root.header, m)
	w := &walker{p: p, m: m, opts: opts, cids: map[string]*node{}, shown: map[string]bool{}}
	w.indexCIDs(root)
	w.walk(root)
	w.finish()
	m.Problems = p.problems
	return m, nil
}

// Part returns one decoded part (transfer encoding undone, charset not
// converted) by IMAP part path, with its content type and file name. The
// path of an attached message gives the message itself.
func Part(r io.Reader, path string) (contentType, filename string, body []byte, err error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return "", "", nil, fmt.Errorf("mailview: reading message: %w", err)
	}
	p := &parser{}
	root := p.entity(data, "", 0, "text/plain")
	n := p.find(root, path)
	if n == nil || n.isMultipart() {
		return "", "", nil, fmt.Errorf("%w: %q", ErrNoPart, clip(path))
	}
	return n.mediaType, fileName(n), decodeBody(n, p), nil
}

func readLimited(r io.Reader, max int64) (data []byte, cut bool, err error) {
	if max <= 0 {
		max = DefaultMaxSize
	}
	data, err = io.ReadAll(io.LimitReader(r, max+1))
	if err != nil {
		return nil, false, fmt.Errorf("mailview: reading message: %w", err)
	}
	if int64(len(data)) > max {
		return data[:max], true, nil
	}
	return data, false, nil
}

// envelope fills the header fields of m.
func (p *parser) envelope(h header, m *Message) {
	subject, ok := decodeWordsOK(h.get("Subject"))
	if !ok {
		p.problem("Subject in an unknown charset, shown undecoded")
	}
	m.Subject = strings.TrimSpace(subject)
	m.From = p.addresses(h, "From")
	m.Sender = p.addresses(h, "Sender")
	m.ReplyTo = p.addresses(h, "Reply-To")
	m.To = p.addresses(h, "To")
	m.Cc = p.addresses(h, "Cc")
	m.Bcc = p.addresses(h, "Bcc")
	if d := h.get("Date"); d != "" {
		t, err := mail.ParseDate(d)
		if err != nil {
			p.problem("unreadable Date %q", clip(d))
		} else {
			m.Date = t
		}
	}
	if ids := msgIDs(h.get("Message-ID")); len(ids) > 0 {
		m.MessageID = ids[0]
	}
	if ids := msgIDs(h.get("In-Reply-To")); len(ids) > 0 {
		m.InReplyTo = ids[0]
	}
	m.References = msgIDs(h.get("References"))
}

var addrParser = &mail.AddressParser{WordDecoder: wordDecoder}

// addresses parses an address list; entries that do not parse are kept as
// their decoded text in Name, so the reader still sees who it was.
func (p *parser) addresses(h header, key string) []*mail.Address {
	v := h.get(key)
	if strings.TrimSpace(v) == "" {
		return nil
	}
	list, err := addrParser.ParseList(v)
	if err == nil {
		for _, a := range list {
			a.Name = strings.TrimSpace(cleanControls(a.Name))
		}
		return list
	}
	p.problem("unreadable %s address %q", key, clip(v))
	for _, item := range SplitAddressList(v, ",") {
		if a, err := addrParser.Parse(item); err == nil {
			a.Name = strings.TrimSpace(cleanControls(a.Name))
			list = append(list, a)
			continue
		}
		a := &mail.Address{}
		if m := looseAddr.FindStringSubmatchIndex(item); m != nil {
			a.Address = item[m[2]:m[3]]
			item = item[:m[0]] + item[m[1]:]
		}
		a.Name = strings.Trim(strings.TrimSpace(decodeWords(item)), `"<> `)
		if a.Name != "" || a.Address != "" {
			list = append(list, a)
		}
	}
	return list
}

var looseAddr = regexp.MustCompile(`<?([^\s<>",;:@]+@[^\s<>",;:@]+)>?`)

// SplitAddressList splits an address list at the separator bytes in seps
// (e.g. "," for a header, ",;" for what a user typed) outside quotes,
// comments and angle brackets; entries are trimmed, empty ones dropped.
func SplitAddressList(s, seps string) []string {
	var out []string
	add := func(item string) {
		if item = strings.TrimSpace(item); item != "" {
			out = append(out, item)
		}
	}
	depth, quote, start := 0, false, 0
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '\\' && quote:
			i++
		case c == '"':
			quote = !quote
		case quote:
		case c == '(' || c == '<':
			depth++
		case (c == ')' || c == '>') && depth > 0:
			depth--
		case depth == 0 && strings.IndexByte(seps, c) >= 0:
			add(s[start:i])
			start = i + 1
		}
	}
	add(s[start:])
	return out
}

var msgIDPattern = regexp.MustCompile(`<([^<>\s]+)>`)

// msgIDs returns the message IDs in a Message-ID/In-Reply-To/References
// value, without brackets; bare IDs without brackets are taken word by word.
func msgIDs(v string) []string {
	var ids []string
	for _, m := range msgIDPattern.FindAllStringSubmatch(v, -1) {
		ids = append(ids, cleanControls(m[1]))
	}
	if ids == nil {
		for _, f := range strings.Fields(v) {
			if strings.Contains(f, "@") {
				ids = append(ids, cleanControls(strings.Trim(f, "<>,")))
			}
		}
	}
	return ids
}

// fileName is the part's file name without directories, or one made up
// from the part path and type.
func fileName(n *node) string {
	_, dp := parseParams(n.header.get("Content-Disposition"))
	name := dp["filename"]
	if name == "" {
		name = n.params["name"]
	}
	name = cleanControls(name)
	if i := strings.LastIndexAny(name, `/\`); i >= 0 {
		name = name[i+1:]
	}
	name = strings.TrimSpace(name)
	if name == "" && n.mediaType == "message/rfc822" {
		// An attached message is named after its subject.
		hdr, _ := splitHeader(n.body)
		subject := decodeWords((&parser{}).parseHeader(hdr, "").get("Subject"))
		subject = strings.Map(func(r rune) rune {
			if strings.ContainsRune(`/\:*?"<>|`, r) {
				return '_'
			}
			return r
		}, strings.TrimSpace(subject))
		if r := []rune(subject); len(r) > 100 {
			subject = string(r[:100])
		}
		if subject != "" {
			name = subject + ".eml"
		}
	}
	if name == "" || name == "." || name == ".." {
		name = "part-" + n.part() + extension(n.mediaType)
	}
	return name
}

func extension(mediaType string) string {
	switch mediaType {
	case "message/rfc822":
		return ".eml"
	case "text/plain":
		return ".txt"
	case "text/html":
		return ".html"
	case "text/calendar":
		return ".ics"
	case "image/png":
		return ".png"
	case "image/jpeg":
		return ".jpg"
	case "image/gif":
		return ".gif"
	case "image/webp":
		return ".webp"
	case "image/svg+xml":
		return ".svg"
	case "application/pdf":
		return ".pdf"
	}
	return ".bin"
}

// contentID returns the Content-ID without brackets.
func contentID(n *node) string {
	id := strings.TrimSpace(n.header.get("Content-ID"))
	return cleanControls(strings.TrimSuffix(strings.TrimPrefix(id, "<"), ">"))
}

// textBody decodes a text part to UTF-8 with "\n" line breaks.
func (p *parser) textBody(n *node) string {
	b := decodeBody(n, p)
	cs := n.params["charset"]
	if cs == "" && n.mediaType == "text/html" && !utf8.Valid(b) {
		cs = sniffHTMLCharset(b)
	}
	s, ok := decodeCharset(b, cs)
	if !ok {
		p.problem("part %s: unknown charset %q, shown as best guess", n.part(), clip(cs))
	}
	s = strings.ReplaceAll(s, "\r\n", "\n")
	s = strings.ReplaceAll(s, "\r", "\n")
	s = strings.Map(func(r rune) rune {
		if r < ' ' && r != '\n' && r != '\t' || r == 0x7f {
			return -1 // NUL, escape sequences, form feeds: nothing a reader shows
		}
		return r
	}, s)
	if strings.EqualFold(n.params["format"], "flowed") {
		s = unflow(s, strings.EqualFold(n.params["delsp"], "yes"))
	}
	return s
}

// sniffHTMLCharset finds a <meta charset> in HTML sent without a MIME
// charset.
func sniffHTMLCharset(b []byte) string {
	_, name, _ := htmlcharset.DetermineEncoding(b, "text/html")
	return name
}

// unflow joins the soft line breaks of format=flowed text (RFC 3676),
// keeping quote depth.
func unflow(s string, delsp bool) string {
	var out []string
	var cur strings.Builder
	depth, open := 0, false
	flush := func() {
		if !open {
			return
		}
		prefix := ""
		if depth > 0 {
			prefix = strings.Repeat(">", depth) + " "
		}
		out = append(out, prefix+cur.String())
		cur.Reset()
		open = false
	}
	for _, l := range strings.Split(s, "\n") {
		d := len(l) - len(strings.TrimLeft(l, ">"))
		content := strings.TrimPrefix(l[d:], " ")
		flowed := strings.HasSuffix(content, " ") && content != "-- "
		if open && d != depth {
			flush()
		}
		if flowed && delsp {
			content = content[:len(content)-1]
		}
		cur.WriteString(content)
		depth, open = d, true
		if !flowed {
			flush()
		}
	}
	flush()
	return strings.Join(out, "\n")
}
