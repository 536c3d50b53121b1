package smtpd

import (
	"bytes"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"fmt"
	"io"
	"mime"
	"net/mail"
	"net/netip"
	"strings"
	"time"

	"mailctl/lib/addr"
)

// header is what the server needs to know of a message's header section.
type header struct {
	received  int      // Received: fields
	from      []string // values of From: fields
	messageID bool
	date      bool
}

// scanHeader reads the header section: lines up to the first empty one (or
// the first line that is not a field). Folded lines belong to the field
// above them.
func scanHeader(msg []byte) header {
	var h header
	last := ""
	for len(msg) > 0 {
		line := msg
		if i := bytes.Index(msg, []byte("\r\n")); i >= 0 {
			line, msg = msg[:i], msg[i+2:]
		} else {
			msg = nil
		}
		if len(line) == 0 {
			break
		}
		if line[0] == ' ' || line[0] == '\t' {
			if last == "from" && len(h.from) > 0 {
				h.from[len(h.from)-1] += " " + strings.TrimSpace(string(line))
			}
			continue
		}
		name, value, ok := bytes.Cut(line, []byte(":"))
		if !ok || len(name) == 0 || bytes.ContainsAny(name, " \t") {
			break // not a header field: the body starts here
		}
		last = strings.ToLower(string(name))
		switch last {
		case "received":
			h.received++
		case "from":
			h.from = append(h.from, strings.TrimSpace(string(value)))
		case "message-id":
			h.messageID = true
		case "date":
			h.date = true
		}
	}
	return h
}

// fromAddresses parses the From: field. Display names in any charset are
// fine: only the addresses matter.
func fromAddresses(value string) ([]addr.Address, error) {
	p := mail.AddressParser{WordDecoder: &mime.WordDecoder{
		CharsetReader: func(_ string, r io.Reader) (io.Reader, error) { return r, nil },
	}}
	list, err := p.ParseList(value)
	if err != nil {
		return nil, err
	}
	out := make([]addr.Address, 0, len(list))
	for _, m := range list {
		a, err := addr.Parse(m.Address)
		if err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	return out, nil
}

// newID returns a message identifier for logs, the Received: header and
// the reply: 16 hex digits of time and randomness.
func newID() string {
	var b [4]byte
	rand.Read(b[:])
	return fmt.Sprintf("%08x%s", uint32(time.Now().Unix()), hex.EncodeToString(b[:]))
}

// receivedInfo is what goes into a Received: header.
type receivedInfo struct {
	helo     string
	remote   netip.Addr
	host     string
	id       string
	esmtp    bool
	utf8     bool
	authed   bool
	webmail  bool // submitted through webmaild: remote is the browser
	tls      *tls.ConnectionState
	rcpt     addr.Address // zero unless the message has exactly one recipient
	received time.Time
}

// protocol is the "with" keyword: SMTP, ESMTP, with S for TLS and A for
// AUTH (RFC 3848), or UTF8SMTP… for SMTPUTF8 (RFC 6531 §4.3).
func (r receivedInfo) protocol() string {
	p := "SMTP"
	switch {
	case r.utf8:
		p = "UTF8SMTP"
	case r.esmtp:
		p = "ESMTP"
	}
	if r.tls != nil {
		p += "S"
	}
	if r.authed {
		p += "A"
	}
	return p
}

// format renders the trace field of RFC 5321 §4.4, e.g.
//
//	Received: from client.example ([192.0.2.1])
//		by mx.example.org (mailctl) with ESMTPS id 65a1b2c3d4e5f6a7
//		(using TLS 1.3 with cipher TLS_AES_128_GCM_SHA256)
//		for <bob@example.org>; Mon, 02 Jan 2006 15:04:05 -0700
func (r receivedInfo) format() []byte {
	var b bytes.Buffer
	via := ""
	if r.webmail {
		via = " via webmail"
	}
	fmt.Fprintf(&b, "Received: from %s (%s%s)\r\n", cleanHelo(r.helo), addressLiteral(r.remote), via)
	fmt.Fprintf(&b, "\tby %s (mailctl) with %s id %s", r.host, r.protocol(), r.id)
	if r.tls != nil {
		fmt.Fprintf(&b, "\r\n\t(using %s with cipher %s)", tls.VersionName(r.tls.Version), tls.CipherSuiteName(r.tls.CipherSuite))
	}
	if !r.rcpt.IsZero() {
		fmt.Fprintf(&b, "\r\n\tfor <%s>", r.rcpt)
	}
	fmt.Fprintf(&b, "; %s\r\n", r.received.Format(time.RFC1123Z))
	return b.Bytes()
}

// cleanHelo keeps a client's HELO name if it is a plausible domain or
// address literal, so it cannot break or forge the header.
func cleanHelo(h string) string {
	if h == "" || len(h) > 255 {
		return "unknown"
	}
	for _, r := range h {
		ok := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune(".-_:[]", r)
		if !ok {
			return "invalid"
		}
	}
	return h
}

// addressLiteral is [192.0.2.1] or [IPv6:2001:db8::1] (RFC 5321 §4.1.3).
func addressLiteral(ip netip.Addr) string {
	switch {
	case !ip.IsValid():
		return "unknown"
	case ip.Is4():
		return "[" + ip.String() + "]"
	}
	return "[IPv6:" + ip.String() + "]"
}
