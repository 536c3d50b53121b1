package compose

import (
	"bytes"
	"fmt"
	"net/mail"
	"regexp"
	"strings"

	"mailctl/lib/addr"
	"mailctl/lib/mailview"
)

// maxReferences caps the References chain: the first ID and the latest
// ones, as RFC 5322 3.6.4 suggests for long threads.
const maxReferences = 20

var (
	replyPrefix   = regexp.MustCompile(`(?i)^\s*((re|aw|sv|antw|vs|ref)(\[\d+\])?\s*:\s*)+`)
	forwardPrefix = regexp.MustCompile(`(?i)^\s*((fwd?|wg|tr|enc)\s*:\s*)+`)
)

// Reply drafts an answer to m from self: to Reply-To (or From), with "Re: "
// once, the text quoted with "> " and the thread's References. With all,
// the other To and Cc recipients are added, never self. Replying to one's
// own message goes to its original recipients.
func Reply(m *mailview.Message, self *mail.Address, all bool) Draft {
	d := Draft{
		From:      self,
		Subject:   "Re: " + replyPrefix.ReplaceAllString(m.Subject, ""),
		InReplyTo: m.MessageID,
	}
	target := m.ReplyTo
	if len(target) == 0 {
		target = m.From
	}
	fromSelf := len(m.From) > 0 && sameAddress(m.From[0], self)
	if fromSelf {
		target = m.To
	}
	seen := map[string]bool{}
	if self != nil {
		seen[key(self)] = true
	}
	d.To = appendNew(nil, target, seen)
	if all {
		if !fromSelf {
			d.To = appendNew(d.To, m.To, seen)
		}
		d.Cc = appendNew(nil, m.Cc, seen)
	}
	d.References = references(m)
	d.Body = "\n\n" + attribution(m) + "\n" + quote(m.PlainText())
	return d
}

// Forward drafts m as a forward: "Fwd: ", a block with the original
// header fields above its text, and the original attachments re-attached
// (decoded bytes from original, the raw message m was parsed from). Inline
// images, the pictures of an HTML body, are left out.
func Forward(m *mailview.Message, original []byte) (Draft, error) {
	d := Draft{Subject: "Fwd: " + forwardPrefix.ReplaceAllString(m.Subject, "")}
	var b strings.Builder
	b.WriteString("\n\n---------- Forwarded message ----------\n")
	fmt.Fprintf(&b, "From: %s\n", addressList(m.From))
	if !m.Date.IsZero() {
		fmt.Fprintf(&b, "Date: %s\n", m.Date.Format("Mon, 2 Jan 2006 15:04:05 -0700"))
	}
	fmt.Fprintf(&b, "Subject: %s\n", m.Subject)
	fmt.Fprintf(&b, "To: %s\n", addressList(m.To))
	if len(m.Cc) > 0 {
		fmt.Fprintf(&b, "Cc: %s\n", addressList(m.Cc))
	}
	b.WriteString("\n" + m.PlainText())
	d.Body = b.String()
	for _, a := range m.Attachments {
		if a.Inline && strings.HasPrefix(a.ContentType, "image/") {
			continue
		}
		ct, name, data, err := mailview.Part(bytes.NewReader(original), a.Part)
		if err != nil {
			return Draft{}, fmt.Errorf("compose: forwarding attachment %s: %w", a.Part, err)
		}
		d.Attachments = append(d.Attachments, File{Name: name, ContentType: ct, Data: data})
	}
	return d, nil
}

// Resume turns a saved draft back into the compose form: m is original
// (the draft as stored by BuildDraft) parsed by mailview. Its attachments
// come back as decoded bytes.
func Resume(m *mailview.Message, original []byte) (Draft, error) {
	d := Draft{
		To:         m.To,
		Cc:         m.Cc,
		Bcc:        m.Bcc,
		Subject:    m.Subject,
		Body:       strings.TrimSuffix(m.PlainText(), "\n"),
		InReplyTo:  m.InReplyTo,
		References: m.References,
	}
	if len(m.From) > 0 {
		d.From = m.From[0]
	}
	for _, a := range m.Attachments {
		if a.Inline {
			continue
		}
		ct, name, data, err := mailview.Part(bytes.NewReader(original), a.Part)
		if err != nil {
			return Draft{}, fmt.Errorf("compose: resuming attachment %s: %w", a.Part, err)
		}
		d.Attachments = append(d.Attachments, File{Name: name, ContentType: ct, Data: data})
	}
	return d, nil
}

// references is the parent's References (or In-Reply-To) plus its own ID.
func references(m *mailview.Message) []string {
	refs := append([]string(nil), m.References...)
	if len(refs) == 0 && m.InReplyTo != "" {
		refs = []string{m.InReplyTo}
	}
	if m.MessageID != "" {
		refs = append(refs, m.MessageID)
	}
	if len(refs) > maxReferences {
		refs = append(refs[:1], refs[len(refs)-maxReferences+1:]...)
	}
	return refs
}

func attribution(m *mailview.Message) string {
	who := "someone"
	if len(m.From) > 0 {
		who = m.From[0].Name
		if who == "" {
			who = m.From[0].Address
		}
	}
	if m.Date.IsZero() {
		return who + " wrote:"
	}
	return fmt.Sprintf("On %s, %s wrote:", m.Date.Format("Mon, 2 Jan 2006 at 15:04"), who)
}

// quote prefixes every line with "> " (">" before a line already quoted).
func quote(text string) string {
	text = strings.TrimRight(text, "\n")
	if text == "" {
		return ""
	}
	lines := strings.Split(text, "\n")
	for i, l := range lines {
		switch {
		case strings.HasPrefix(l, ">"):
			lines[i] = ">" + l
		case l == "":
			lines[i] = ">"
		default:
			lines[i] = "> " + l
		}
	}
	return strings.Join(lines, "\n") + "\n"
}

func addressList(list []*mail.Address) string {
	parts := make([]string, 0, len(list))
	for _, a := range list {
		switch {
		case a.Name != "" && a.Address != "":
			parts = append(parts, a.Name+" <"+a.Address+">")
		case a.Address != "":
			parts = append(parts, a.Address)
		default:
			parts = append(parts, a.Name)
		}
	}
	return strings.Join(parts, ", ")
}

// key compares addresses the way the server does: canonical form.
func key(a *mail.Address) string {
	if c, err := addr.Parse(a.Address); err == nil {
		return c.String()
	}
	return strings.ToLower(a.Address)
}

func sameAddress(a, b *mail.Address) bool {
	return a != nil && b != nil && key(a) == key(b)
}

// appendNew appends the usable addresses of list not seen yet.
func appendNew(out, list []*mail.Address, seen map[string]bool) []*mail.Address {
	for _, a := range list {
		if a == nil || a.Address == "" || seen[key(a)] {
			continue
		}
		seen[key(a)] = true
		out = append(out, &mail.Address{Name: a.Name, Address: a.Address})
	}
	return out
}
