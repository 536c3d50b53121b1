// Package compose builds outgoing messages from the webmail compose form:
// address lists typed by the user, a plain-text body and uploaded files
// become one RFC 5322 message with CRLF line ends, ready for submission and
// for the Sent and Drafts folders.
//
// The message has Date, Message-ID (@hostname), From, To, Cc (never Bcc),
// Subject (RFC 2047 when not ASCII), In-Reply-To and References, and a
// text/plain; charset=utf-8 body (7bit when it can be, quoted-printable
// otherwise). With attachments it is multipart/mixed: the text first, then
// each file base64-encoded with its name in Content-Disposition (RFC 2231
// when not ASCII) and in Content-Type's name parameter (for old clients).
//
// BuildDraft writes the same message with a Bcc field, for the Drafts
// folder; Resume reads such a draft back into a Draft. The Sent copy is
// Build's output, exactly what the recipients got.
//
// Everything that ends up in a header is checked: a CR, LF or NUL anywhere is
// an error (ErrInvalidHeader), never silently removed.
package compose

import (
	"errors"
	"fmt"
	"net/mail"
	"strings"

	"mailctl/lib/addr"
	"mailctl/lib/mailview"
)

// Draft is what the compose form holds.
type Draft struct {
	From        *mail.Address
	To, Cc, Bcc []*mail.Address
	Subject     string
	Body        string // plain text, UTF-8, any line ends
	InReplyTo   string // message ID, with or without angle brackets
	References  []string
	Attachments []File
}

// File is one attachment.
type File struct {
	Name        string // file name shown to the recipient; directories are dropped
	ContentType string // "" or unusable: guessed from the name, else application/octet-stream
	Data        []byte
}

// ErrInvalidHeader is wrapped by errors about text that cannot go into a
// header: line breaks, NUL, an unusable address.
var ErrInvalidHeader = errors.New("invalid header value")

// ParseAddressList parses what a user typed into To/Cc/Bcc: "A <a@x>, b@y".
// Semicolons separate too. Empty input gives an empty list. Line breaks,
// NUL and anything that is not a mail address are refused with an error
// that names the offending entry.
func ParseAddressList(s string) ([]*mail.Address, error) {
	if strings.ContainsAny(s, "\r\n\x00") {
		return nil, fmt.Errorf("compose: %w: address list contains a line break or NUL", ErrInvalidHeader)
	}
	var list []*mail.Address
	for _, item := range mailview.SplitAddressList(s, ",;") {
		a, err := mail.ParseAddress(item)
		if err != nil {
			return nil, fmt.Errorf("compose: %w: %q is not a mail address", ErrInvalidHeader, item)
		}
		if err := checkAddress(a); err != nil {
			return nil, err
		}
		list = append(list, a)
	}
	return list, nil
}

// checkAddress refuses addresses that cannot be written into a header or
// used as an envelope address.
func checkAddress(a *mail.Address) error {
	if a == nil {
		return fmt.Errorf("compose: %w: missing address", ErrInvalidHeader)
	}
	if strings.IndexFunc(a.Name+a.Address, func(r rune) bool { return r < ' ' && r != '\t' || r == 0x7f }) >= 0 {
		return fmt.Errorf("compose: %w: address %q contains a line break or control character", ErrInvalidHeader, a.Address)
	}
	if _, err := addr.Parse(a.Address); err != nil {
		return fmt.Errorf("compose: %w: %q: %v", ErrInvalidHeader, a.Address, err)
	}
	return nil
}

// Recipients returns the envelope recipients: To, Cc and Bcc, each once
// (compared case-insensitively), domains in their ASCII form.
func Recipients(d Draft) []string {
	var out []string
	seen := map[string]bool{}
	for _, list := range [][]*mail.Address{d.To, d.Cc, d.Bcc} {
		for _, a := range list {
			if a == nil {
				continue
			}
			c, err := addr.Parse(a.Address)
			if err != nil || seen[c.String()] {
				continue
			}
			seen[c.String()] = true
			out = append(out, envelopeAddress(a.Address))
		}
	}
	return out
}

// envelopeAddress keeps the local part as typed and writes the domain as an
// A-label, so the address works without SMTPUTF8 whenever it can.
func envelopeAddress(s string) string {
	i := strings.LastIndexByte(s, '@')
	if i < 0 {
		return s
	}
	d, err := addr.ParseDomain(s[i+1:])
	if err != nil {
		return s
	}
	return s[:i+1] + d
}
