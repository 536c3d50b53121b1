package smtpout

import (
	"bufio"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Reply is one SMTP reply, from the remote server or made up by us for a
// failure that has no reply (a refused connection, a DNS error). Made-up
// replies have Local set, so a DSN does not pretend the remote said them.
type Reply struct {
	Code     int    // 250, 451, 550 …
	Enhanced [3]int // RFC 3463 status (5.1.1); zero when the reply has none
	Text     string // the text, continuation lines joined with " "
	Local    bool   // made up by this client, not said by the remote server
}

// Error makes a failure Reply usable as an error.
func (r *Reply) Error() string { return r.String() }

// String is "550 5.1.1 text", as written in logs and bounces.
func (r *Reply) String() string {
	var b strings.Builder
	b.WriteString(strconv.Itoa(r.Code))
	if r.Enhanced != [3]int{} {
		fmt.Fprintf(&b, " %d.%d.%d", r.Enhanced[0], r.Enhanced[1], r.Enhanced[2])
	}
	if r.Text != "" {
		b.WriteString(" " + r.Text)
	}
	return b.String()
}

// Positive reports a 2xx or 3xx reply.
func (r *Reply) Positive() bool { return r.Code >= 200 && r.Code < 400 }

// Temporary reports a 4xx reply: try again later.
func (r *Reply) Temporary() bool { return r.Code >= 400 && r.Code < 500 }

// Permanent reports a 5xx reply: do not try again.
func (r *Reply) Permanent() bool { return r.Code >= 500 }

// Policy reports a permanent rejection of our sending host rather than of
// the message or a recipient: x.7.x (a blocklisted address, RFC 3463
// "security or policy status").
func (r *Reply) Policy() bool { return r.Permanent() && r.Enhanced[1] == 7 }

// Status is the RFC 3463 status for a DSN: the enhanced code when the
// reply has one, else one derived from the reply code.
func (r *Reply) Status() string {
	if r.Enhanced != [3]int{} {
		return fmt.Sprintf("%d.%d.%d", r.Enhanced[0], r.Enhanced[1], r.Enhanced[2])
	}
	switch {
	case r.Code >= 500:
		return "5.0.0"
	case r.Code >= 400:
		return "4.0.0"
	}
	return "2.0.0"
}

// localReply makes a Reply for a failure that the remote did not describe.
func localReply(code int, enhanced [3]int, format string, a ...any) *Reply {
	return &Reply{Code: code, Enhanced: enhanced, Text: fmt.Sprintf(format, a...), Local: true}
}

// Limits on what a server may send us, so a hostile one can't make us
// buffer without end.
const (
	maxReplyLine  = 2048 // RFC 5321 §4.5.3.1.5 says 512; be lenient
	maxReplyLines = 200
)

var errBadReply = errors.New("smtpout: malformed reply")

// readReply reads one reply, possibly multi-line ("250-a", "250-b",
// "250 c"). Every line must carry the same code. The enhanced status code
// is taken from the first line and removed from every line that repeats
// it.
func readReply(br *bufio.Reader) (*Reply, []string, error) {
	var (
		r     *Reply
		lines []string
	)
	for {
		line, err := readLine(br)
		if err != nil {
			return nil, nil, err
		}
		if len(line) < 3 || len(line) > 3 && line[3] != ' ' && line[3] != '-' {
			return nil, nil, fmt.Errorf("%w: %q", errBadReply, clip(line))
		}
		code, ok := parseCode(line[:3])
		if !ok {
			return nil, nil, fmt.Errorf("%w: %q", errBadReply, clip(line))
		}
		if r == nil {
			r = &Reply{Code: code}
		} else if code != r.Code {
			return nil, nil, fmt.Errorf("%w: code %d after %d", errBadReply, code, r.Code)
		}
		text := ""
		if len(line) > 4 {
			text = line[4:]
		}
		lines = append(lines, text)
		if len(line) == 3 || line[3] == ' ' {
			break
		}
		if len(lines) >= maxReplyLines {
			return nil, nil, fmt.Errorf("%w: more than %d lines", errBadReply, maxReplyLines)
		}
	}
	if enh, rest, ok := cutEnhanced(lines[0], r.Code); ok {
		r.Enhanced = enh
		prefix := lines[0][:len(lines[0])-len(rest)]
		for i := range lines {
			lines[i] = strings.TrimPrefix(lines[i], prefix)
		}
	}
	r.Text = strings.Join(clean(lines), " ")
	return r, lines, nil
}

// readLine reads one CRLF (or LF) terminated line without its end.
func readLine(br *bufio.Reader) (string, error) {
	var b []byte
	for {
		chunk, isPrefix, err := br.ReadLine()
		if err != nil {
			return "", err
		}
		b = append(b, chunk...)
		if len(b) > maxReplyLine {
			return "", fmt.Errorf("%w: line longer than %d bytes", errBadReply, maxReplyLine)
		}
		if !isPrefix {
			return string(b), nil
		}
	}
}

func parseCode(s string) (int, bool) {
	if len(s) != 3 || s[0] < '2' || s[0] > '5' || s[1] < '0' || s[1] > '9' || s[2] < '0' || s[2] > '9' {
		return 0, false
	}
	return int(s[0]-'0')*100 + int(s[1]-'0')*10 + int(s[2]-'0'), true
}

// cutEnhanced parses a leading "x.y.z " enhanced status code whose class
// matches the reply code (RFC 2034 §4), returning it and the rest.
func cutEnhanced(text string, code int) ([3]int, string, bool) {
	var enh [3]int
	field, rest, _ := strings.Cut(text, " ")
	parts := strings.Split(field, ".")
	if len(parts) != 3 {
		return enh, text, false
	}
	for i, p := range parts {
		if p == "" || len(p) > 3 {
			return enh, text, false
		}
		n, err := strconv.Atoi(p)
		if err != nil || n < 0 || p[0] == '+' {
			return enh, text, false
		}
		enh[i] = n
	}
	if enh[0] != code/100 || enh[0] == 3 {
		return [3]int{}, text, false
	}
	return enh, rest, true
}

// clean drops control characters from reply text: it ends up in logs,
// envelopes and bounce messages.
func clean(lines []string) []string {
	out := make([]string, 0, len(lines))
	for _, l := range lines {
		l = strings.Map(func(r rune) rune {
			if r < 0x20 || r == 0x7f {
				return ' '
			}
			return r
		}, strings.ToValidUTF8(l, "?"))
		if l = strings.TrimSpace(l); l != "" {
			out = append(out, l)
		}
	}
	return out
}

func clip(s string) string {
	if len(s) > 80 {
		return s[:80] + "…"
	}
	return s
}
