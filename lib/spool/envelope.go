package spool

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"mailctl/lib/addr"
)

// State is the queue a message's envelope is in: the directory's name.
type State string

// The states, as in Postfix.
const (
	Incoming State = "incoming"
	Active   State = "active"
	Deferred State = "deferred"
	Hold     State = "hold"
	Corrupt  State = "corrupt"
)

// States lists every state in the order List reports them.
var States = []State{Incoming, Active, Deferred, Hold, Corrupt}

func (st State) valid() bool {
	switch st {
	case Incoming, Active, Deferred, Hold, Corrupt:
		return true
	}
	return false
}

// Recipient statuses.
const (
	StatusPending = ""
	StatusSent    = "sent"
	StatusFailed  = "failed"
)

// Recipient is one envelope recipient and how far its delivery got.
type Recipient struct {
	Address   addr.Address
	Local     bool   // retry through local delivery rather than SMTP
	Status    string // StatusPending, StatusSent or StatusFailed
	LastError string
}

// Envelope is what the spool keeps about a message besides its content.
type Envelope struct {
	ID          string
	From        addr.Address // zero is the null sender <>
	Recipients  []Recipient
	Received    time.Time
	Attempts    int
	NextAttempt time.Time
	LastError   string
	Origin      string // "smtpd", "submitd", "deliver"
	AuthUser    string
	SMTPUTF8    bool
	EightBit    bool
	RequireTLS  bool
}

// Pending returns the recipients still to be delivered.
func (e *Envelope) Pending() []Recipient {
	var out []Recipient
	for _, r := range e.Recipients {
		if r.Status == StatusPending {
			out = append(out, r)
		}
	}
	return out
}

const envelopeMagic = "mailctl-spool-envelope 1"

// maxEnvelopeSize bounds what is read as an envelope: 10,000 recipients
// with long errors still fit.
const maxEnvelopeSize = 16 << 20

var errEnvelope = errors.New("spool: bad envelope")

// marshalEnvelope renders env in the envelope file format.
func marshalEnvelope(env *Envelope) ([]byte, error) {
	if err := checkEnvelope(env); err != nil {
		return nil, err
	}
	var b bytes.Buffer
	b.Grow(256 + 96*len(env.Recipients))
	b.WriteString(envelopeMagic + "\n")
	fmt.Fprintf(&b, "id %s\n", strconv.Quote(env.ID))
	fmt.Fprintf(&b, "from %s\n", strconv.Quote(env.From.String()))
	fmt.Fprintf(&b, "received %s\n", env.Received.UTC().Format(time.RFC3339Nano))
	fmt.Fprintf(&b, "attempts %d\n", env.Attempts)
	if !env.NextAttempt.IsZero() {
		fmt.Fprintf(&b, "next-attempt %s\n", env.NextAttempt.UTC().Format(time.RFC3339Nano))
	}
	if env.LastError != "" {
		fmt.Fprintf(&b, "last-error %s\n", strconv.Quote(env.LastError))
	}
	fmt.Fprintf(&b, "origin %s\n", strconv.Quote(env.Origin))
	if env.AuthUser != "" {
		fmt.Fprintf(&b, "auth-user %s\n", strconv.Quote(env.AuthUser))
	}
	if env.SMTPUTF8 {
		b.WriteString("smtputf8\n")
	}
	if env.EightBit {
		b.WriteString("8bitmime\n")
	}
	if env.RequireTLS {
		b.WriteString("requiretls\n")
	}
	for _, r := range env.Recipients {
		status := r.Status
		if status == StatusPending {
			status = "pending"
		}
		kind := "remote"
		if r.Local {
			kind = "local"
		}
		fmt.Fprintf(&b, "rcpt %s %s %s %s\n", status, kind, strconv.Quote(r.Address.String()), strconv.Quote(r.LastError))
	}
	b.WriteString("end\n")
	return b.Bytes(), nil
}

// checkEnvelope refuses what could not be read back.
func checkEnvelope(env *Envelope) error {
	if !validID(env.ID) {
		return fmt.Errorf("%w: id %q", errEnvelope, env.ID)
	}
	if len(env.Recipients) == 0 {
		return fmt.Errorf("%w: no recipients", errEnvelope)
	}
	if env.Received.IsZero() {
		return fmt.Errorf("%w: no received time", errEnvelope)
	}
	if env.Attempts < 0 {
		return fmt.Errorf("%w: negative attempts", errEnvelope)
	}
	for i, r := range env.Recipients {
		if r.Address.IsZero() {
			return fmt.Errorf("%w: recipient %d is empty", errEnvelope, i+1)
		}
		switch r.Status {
		case StatusPending, StatusSent, StatusFailed:
		default:
			return fmt.Errorf("%w: recipient %s: status %q", errEnvelope, r.Address, r.Status)
		}
	}
	return nil
}

// parseEnvelope reads the envelope file format. It never panics, whatever
// the input.
func parseEnvelope(data []byte) (Envelope, error) {
	var env Envelope
	text := string(data)
	if !strings.HasSuffix(text, "\n") {
		return env, fmt.Errorf("%w: truncated", errEnvelope)
	}
	lines := strings.Split(text[:len(text)-1], "\n")
	if lines[0] != envelopeMagic {
		return env, fmt.Errorf("%w: line 1: not a mailctl spool envelope", errEnvelope)
	}
	if lines[len(lines)-1] != "end" || len(lines) < 2 {
		return env, fmt.Errorf("%w: no end line", errEnvelope)
	}
	seen := map[string]bool{}
	for n, line := range lines[1 : len(lines)-1] {
		key, val, _ := strings.Cut(line, " ")
		if key != "rcpt" {
			if seen[key] {
				return env, fmt.Errorf("%w: line %d: repeated %s", errEnvelope, n+2, key)
			}
			seen[key] = true
		}
		if err := parseLine(&env, key, val); err != nil {
			return Envelope{}, fmt.Errorf("%w: line %d: %s: %v", errEnvelope, n+2, key, err)
		}
	}
	for _, k := range []string{"id", "received"} {
		if !seen[k] {
			return Envelope{}, fmt.Errorf("%w: no %s line", errEnvelope, k)
		}
	}
	if err := checkEnvelope(&env); err != nil {
		return Envelope{}, err
	}
	return env, nil
}

func parseLine(env *Envelope, key, val string) error {
	var err error
	switch key {
	case "id":
		if env.ID, err = unquote(val); err == nil && !validID(env.ID) {
			err = errors.New("not a message id")
		}
	case "from":
		var s string
		if s, err = unquote(val); err == nil && s != "" {
			env.From, err = addr.Parse(s)
		}
	case "received":
		env.Received, err = parseTime(val)
	case "next-attempt":
		env.NextAttempt, err = parseTime(val)
	case "attempts":
		env.Attempts, err = strconv.Atoi(val)
		if err == nil && env.Attempts < 0 {
			err = errors.New("negative")
		}
	case "last-error":
		env.LastError, err = unquote(val)
	case "origin":
		env.Origin, err = unquote(val)
	case "auth-user":
		env.AuthUser, err = unquote(val)
	case "smtputf8":
		env.SMTPUTF8, err = true, noValue(val)
	case "8bitmime":
		env.EightBit, err = true, noValue(val)
	case "requiretls":
		env.RequireTLS, err = true, noValue(val)
	case "rcpt":
		var r Recipient
		if r, err = parseRcpt(val); err == nil {
			env.Recipients = append(env.Recipients, r)
		}
	default:
		// A newer writer's field: ignored (see the package comment).
	}
	return err
}

// parseRcpt reads `status kind "address" "error"`.
func parseRcpt(val string) (Recipient, error) {
	var r Recipient
	status, rest, _ := strings.Cut(val, " ")
	switch status {
	case "pending":
	case StatusSent, StatusFailed:
		r.Status = status
	default:
		return r, fmt.Errorf("unknown status %q", status)
	}
	kind, rest, _ := strings.Cut(rest, " ")
	switch kind {
	case "remote":
	case "local":
		r.Local = true
	default:
		return r, fmt.Errorf("unknown kind %q", kind)
	}
	qa, err := strconv.QuotedPrefix(rest)
	if err != nil || !strings.HasPrefix(qa, `"`) {
		return r, errors.New("address not quoted")
	}
	a, _ := strconv.Unquote(qa)
	if r.Address, err = addr.Parse(a); err != nil {
		return r, err
	}
	rest, ok := strings.CutPrefix(rest[len(qa):], " ")
	if !ok {
		return r, errors.New("no error field")
	}
	r.LastError, err = unquote(rest)
	return r, err
}

// unquote accepts exactly one Go double-quoted string.
func unquote(val string) (string, error) {
	if !strings.HasPrefix(val, `"`) {
		return "", errors.New("value not quoted")
	}
	s, err := strconv.Unquote(val)
	if err != nil {
		return "", fmt.Errorf("bad quoted string: %w", err)
	}
	return s, nil
}

func parseTime(val string) (time.Time, error) {
	t, err := time.Parse(time.RFC3339Nano, val)
	if err != nil {
		return time.Time{}, err
	}
	// An offset can push a time outside what RFC 3339 can write back.
	if t = t.UTC(); t.Year() < 1 || t.Year() > 9999 {
		return time.Time{}, errors.New("year out of range")
	}
	return t, nil
}

func noValue(val string) error {
	if val != "" {
		return errors.New("takes no value")
	}
	return nil
}
