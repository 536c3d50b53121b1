package pickup

import (
	"bytes"
	"strings"
)

// mailbox is one address found in an address-list field value.
type mailbox struct {
	spec string // the addr-spec as written (quotes kept), without angle brackets
	end  int    // offset in the value just after it: where "@domain" goes when it has none
}

// qualified reports whether an addr-spec has a domain: an "@" after any
// quoted local part.
func qualified(spec string) bool {
	if i := strings.LastIndexByte(spec, '"'); i >= 0 {
		spec = spec[i+1:]
	}
	return strings.Contains(spec, "@")
}

// scanAddresses finds the mailboxes of an RFC 5322 address list,
// leniently: items are split at top-level commas; "Name <spec>" yields
// spec, a bare item yields its one word once comments are dropped (so
// "root (Cron Daemon)" yields root); group names ("friends: a, b;") are
// skipped; source routes are dropped. Items that are neither (two bare
// words) yield nothing. Line breaks of folded fields are whitespace.
func scanAddresses(v []byte) []mailbox {
	var out []mailbox
	start, angle, angleEnd := 0, -1, -1
	depth, inQuote := 0, false
	finish := func(end int) {
		if mb, ok := parseItem(v, start, end, angle, angleEnd); ok {
			out = append(out, mb)
		}
		angle, angleEnd = -1, -1
	}
	for i := 0; i < len(v); i++ {
		c := v[i]
		switch {
		case inQuote:
			if c == '\\' {
				i++
			} else if c == '"' {
				inQuote = false
			}
		case depth > 0:
			if c == '\\' {
				i++
			} else if c == '(' {
				depth++
			} else if c == ')' {
				depth--
			}
		case c == '"':
			inQuote = true
		case c == '(':
			depth = 1
		case c == '<' && angle < 0:
			angle = i
		case c == '>' && angle >= 0 && angleEnd < 0:
			angleEnd = i
		case angle >= 0 && angleEnd < 0:
			// inside <...>: commas and colons belong to a source route
		case c == ',' || c == ';':
			finish(i)
			start = i + 1
		case c == ':':
			start = i + 1 // a group's display name ends here
			angle, angleEnd = -1, -1
		}
	}
	finish(len(v))
	return out
}

// parseItem extracts the addr-spec of v[start:end].
func parseItem(v []byte, start, end, angle, angleEnd int) (mailbox, bool) {
	if start >= end {
		return mailbox{}, false
	}
	if angle >= start && angleEnd > angle && angleEnd < end {
		inner := v[angle+1 : angleEnd]
		off := angle + 1
		if len(bytes.TrimLeft(inner, " \t\r\n")) > 0 && bytes.TrimLeft(inner, " \t\r\n")[0] == '@' {
			if i := bytes.IndexByte(inner, ':'); i >= 0 { // source route "@a,@b:spec"
				inner, off = inner[i+1:], off+i+1
			}
		}
		lead := len(inner) - len(bytes.TrimLeft(inner, " \t\r\n"))
		spec := bytes.TrimSpace(inner)
		if len(spec) == 0 {
			return mailbox{}, false
		}
		return mailbox{spec: string(spec), end: off + lead + len(spec)}, true
	}
	// A bare addr-spec: one word outside comments.
	first, last := -1, -1
	words := 0
	depth, inQuote, prevSpace := 0, false, true
	for i := start; i < end; i++ {
		c := v[i]
		switch {
		case inQuote:
			if c == '\\' {
				i++
			} else if c == '"' {
				inQuote = false
			}
			last = min(i, end-1)
			continue
		case depth > 0:
			if c == '\\' {
				i++
			} else if c == '(' {
				depth++
			} else if c == ')' {
				depth--
			}
			prevSpace = true
			continue
		case c == '(':
			depth = 1
			prevSpace = true
			continue
		case c == ' ' || c == '\t' || c == '\r' || c == '\n':
			prevSpace = true
			continue
		}
		if prevSpace {
			words++
			prevSpace = false
		}
		if first < 0 {
			first = i
		}
		if c == '"' {
			inQuote = true
		}
		last = i
	}
	if words != 1 || first < 0 {
		return mailbox{}, false
	}
	return mailbox{spec: string(v[first : last+1]), end: last + 1}, true
}

// qualifyList appends "@domain" to every mailbox of an address-list value
// that has no domain, keeping everything else as written.
func qualifyList(v []byte, domain string) (out []byte, changed bool) {
	mbs := scanAddresses(v)
	prev := 0
	for _, mb := range mbs {
		if qualified(mb.spec) {
			continue
		}
		out = append(out, v[prev:mb.end]...)
		out = append(out, '@')
		out = append(out, domain...)
		prev = mb.end
	}
	if out == nil {
		return v, false
	}
	return append(out, v[prev:]...), true
}
