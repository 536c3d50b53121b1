package queue

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/mail"
	"slices"
	"strings"
	"time"

	"mailctl/lib/addr"
	"mailctl/lib/spool"
)

// Origins of the messages the runner makes itself.
const (
	originBounce     = "bounce"     // a DSN to the sender
	originPostmaster = "postmaster" // a DSN about a null-sender message, to the postmaster
)

// maxReturnedHeader bounds the original header returned in a DSN.
const maxReturnedHeader = 64 << 10

// dsnRcpt is one recipient's entry in a report.
type dsnRcpt struct {
	addr   addr.Address
	status string // RFC 3463, "5.1.1"
	remote string // Remote-MTA, "" when none answered
	diag   string // the reply, "550 5.1.1 No such user"
	smtp   bool   // diag is what a remote server said
}

// report is one delivery status notification (RFC 3464).
type report struct {
	hostname   string
	queueID    string
	to         addr.Address // who reads it
	sender     addr.Address // the original envelope sender
	arrival    time.Time
	date       time.Time
	delayed    bool // a warning (Action: delayed), not a failure
	postmaster bool // a copy for the postmaster about a null-sender message
	until      time.Time
	rcpts      []dsnRcpt
	header     []byte // the original message's header
}

// bounce queues a report about recipients idx of a's message: failures,
// or (delayed) a warning. It never writes to the null sender.
func (r *Runner) bounce(ctx context.Context, a *attempt, idx []int, delayed bool) error {
	slices.Sort(idx)
	to, origin := a.env.From, originBounce
	if to.IsZero() {
		switch {
		case delayed:
			return nil
		case a.env.Origin == originPostmaster:
			a.log.Error("a report to the postmaster could not be delivered: dropped", "recipients", len(idx))
			return nil
		case r.opts.Postmaster.IsZero():
			a.log.Error("a message from the null sender failed and no postmaster is set: no report sent")
			return nil
		}
		to, origin = r.opts.Postmaster, originPostmaster
	}
	rep := &report{
		hostname: r.opts.Hostname, queueID: a.env.ID, to: to, sender: a.env.From,
		arrival: a.env.Received, date: r.now(), delayed: delayed, postmaster: origin == originPostmaster,
		until: a.env.Received.Add(r.opts.MaxAge), header: originalHeader(a.data),
	}
	for _, i := range idx {
		o := a.results[i]
		rep.rcpts = append(rep.rcpts, dsnRcpt{
			addr: a.env.Recipients[i].Address, status: o.reply.Status(), remote: o.remote,
			diag: o.reply.String(), smtp: !o.reply.Local,
		})
	}
	msg := rep.build()
	local, err := r.opts.IsLocalDomain(to.Domain)
	if err != nil {
		return fmt.Errorf("queue: is %s local: %w", to.Domain, err)
	}
	env := spool.Envelope{
		Recipients: []spool.Recipient{{Address: to, Local: local}},
		Received:   r.now(),
		Origin:     origin,
		EightBit:   has8bit(msg),
		SMTPUTF8:   has8bit([]byte(to.Local)) || has8bit(rep.header),
	}
	id, err := r.sp.Enqueue(ctx, env, bytes.NewReader(msg))
	if err != nil {
		return err
	}
	kind := "bounce"
	if delayed {
		kind = "delay warning"
	}
	a.log.Info(kind+" queued", "report_id", id, "to", to.String(), "recipients", len(idx))
	return nil
}

// build renders the report as a multipart/report message with CRLF line
// ends.
func (rep *report) build() []byte {
	var b bytes.Buffer
	w := func(format string, a ...any) { fmt.Fprintf(&b, format+"\r\n", a...) }
	boundary := "=_mailctl_" + rep.queueID + "_" + randomHex(6)
	global := has8bit(rep.header) || has8bit([]byte(rep.sender.Local))
	for _, rc := range rep.rcpts {
		global = global || has8bit([]byte(rc.addr.Local))
	}
	statusType, headerType, addrType := "message/delivery-status", "text/rfc822-headers", "rfc822"
	if global { // RFC 6533
		statusType, headerType, addrType = "message/global-delivery-status", "message/global-headers", "utf-8"
	}

	w("From: Mail Delivery System <MAILER-DAEMON@%s>", rep.hostname)
	w("To: <%s>", rep.to)
	w("Subject: %s", rep.subject())
	w("Date: %s", rep.date.Format(time.RFC1123Z))
	w("Message-ID: <%s.%s@%s>", rep.queueID, randomHex(8), rep.hostname)
	w("Auto-Submitted: auto-replied")
	w("MIME-Version: 1.0")
	w("Content-Type: multipart/report; report-type=delivery-status;")
	w("\tboundary=\"%s\"", boundary)
	w("")
	w("This is a delivery status notification in MIME format.")
	w("")
	w("--%s", boundary)
	w("Content-Type: text/plain; charset=utf-8")
	w("Content-Description: Notification")
	w("Content-Transfer-Encoding: 8bit")
	w("")
	rep.text(w)
	w("")
	w("--%s", boundary)
	w("Content-Type: %s", statusType)
	w("Content-Description: Delivery report")
	w("")
	w("Reporting-MTA: dns; %s", rep.hostname)
	w("X-Mailctl-Queue-ID: %s", rep.queueID)
	w("Arrival-Date: %s", rep.arrival.Format(time.RFC1123Z))
	for _, rc := range rep.rcpts {
		w("")
		w("Final-Recipient: %s; %s", addrType, rc.addr)
		if rep.delayed {
			w("Action: delayed")
			w("Will-Retry-Until: %s", rep.until.Format(time.RFC1123Z))
		} else {
			w("Action: failed")
		}
		w("Status: %s", rc.status)
		if rc.remote != "" {
			w("Remote-MTA: dns; %s", rc.remote)
		}
		diagType := "smtp"
		if !rc.smtp {
			diagType = "X-mailctl"
		}
		b.WriteString(fold("Diagnostic-Code: "+diagType+"; "+rc.diag) + "\r\n")
		w("Last-Attempt-Date: %s", rep.date.Format(time.RFC1123Z))
	}
	w("")
	w("--%s", boundary)
	w("Content-Type: %s", headerType)
	w("Content-Description: The header of the message")
	w("")
	b.Write(rep.header)
	w("") // the CRLF before a boundary belongs to the boundary
	w("--%s--", boundary)
	return b.Bytes()
}

func (rep *report) subject() string {
	switch {
	case rep.delayed:
		return "Delayed Mail (still being retried)"
	case rep.postmaster:
		return "Postmaster Copy: Undelivered Mail"
	}
	return "Undelivered Mail Returned to Sender"
}

// text writes the human-readable part.
func (rep *report) text(w func(string, ...any)) {
	w("This is the mail system at %s.", rep.hostname)
	w("")
	switch {
	case rep.delayed:
		w("Your message has not been delivered yet to the recipients below.")
		w("It stays queued and will be tried again until %s;", rep.until.UTC().Format("2006-01-02 15:04 MST"))
		w("you do not need to send it again.")
	case rep.postmaster:
		w("A message from the null sender (a bounce or other notification, queue")
		w("ID %s) could not be delivered. It had no sender to return it to,", rep.queueID)
		w("so this copy comes to the postmaster.")
	default:
		w("I'm sorry to have to tell you that your message could not be")
		w("delivered to one or more recipients. The reasons follow; the")
		w("header of your message is attached.")
	}
	w("")
	for _, rc := range rep.rcpts {
		if rc.remote != "" && rc.smtp {
			w("<%s>: host %s said:", rc.addr, rc.remote)
		} else {
			w("<%s>:", rc.addr)
		}
		w("%s", wrap(rc.diag, "    "))
		w("")
	}
}

// fold breaks a long header field at spaces (RFC 5322 §2.2.3).
func fold(field string) string {
	const width = 76
	var b strings.Builder
	line := 0
	for i, word := range strings.Split(field, " ") {
		if i > 0 {
			if line+1+len(word) > width {
				b.WriteString("\r\n ")
				line = 1
			} else {
				b.WriteByte(' ')
				line++
			}
		}
		b.WriteString(word)
		line += len(word)
	}
	return b.String()
}

// wrap breaks text into lines of at most about 76 characters, each
// starting with indent.
func wrap(text, indent string) string {
	var lines []string
	line := indent
	for _, word := range strings.Fields(text) {
		if len(line) > len(indent) && len(line)+1+len(word) > 76 {
			lines = append(lines, line)
			line = indent
		}
		if len(line) > len(indent) {
			line += " "
		}
		line += word
	}
	return strings.Join(append(lines, line), "\r\n")
}

// originalHeader returns the message's header block with CRLF line ends,
// cut at a line boundary when very long.
func originalHeader(msg []byte) []byte {
	end := len(msg)
	for _, sep := range []string{"\r\n\r\n", "\n\n"} {
		if i := bytes.Index(msg, []byte(sep)); i >= 0 && i < end {
			end = i + 1
		}
	}
	h := msg[:end]
	if len(h) > maxReturnedHeader {
		h = h[:maxReturnedHeader]
		if i := bytes.LastIndexByte(h, '\n'); i > 0 {
			h = h[:i+1]
		}
	}
	lines := strings.Split(strings.ReplaceAll(string(h), "\r\n", "\n"), "\n")
	var b bytes.Buffer
	for _, l := range lines {
		if l == "" {
			continue
		}
		b.WriteString(strings.ToValidUTF8(strings.TrimRight(l, "\r"), "?"))
		b.WriteString("\r\n")
	}
	return b.Bytes()
}

// fromDomain is the domain of the message's From: header, or "".
func fromDomain(msg []byte) string {
	h := originalHeader(msg)
	m, err := mail.ReadMessage(bytes.NewReader(append(h, '\r', '\n')))
	if err != nil {
		return ""
	}
	list, err := m.Header.AddressList("From")
	if err != nil || len(list) == 0 {
		return ""
	}
	a, err := addr.Parse(list[0].Address)
	if err != nil {
		return ""
	}
	return a.Domain
}

func has8bit(b []byte) bool {
	for _, c := range b {
		if c >= 0x80 {
			return true
		}
	}
	return false
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}
