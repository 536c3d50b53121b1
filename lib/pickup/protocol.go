package pickup

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// Exit statuses of sysexits(3) that replies carry.
const (
	ExOK          = 0
	ExUsage       = 64
	ExDataErr     = 65
	ExNoUser      = 67
	ExUnavailable = 69
	ExSoftware    = 70
	ExCantCreat   = 73
	ExTempFail    = 75
	ExNoPerm      = 77
)

const (
	magic        = "mailctl-pickup 1"
	maxLine      = 4 << 10
	maxHeader    = 1 << 20
	maxReplyLine = 4 << 10
)

// Request is one submission as the sendmail command line described it.
type Request struct {
	From       string // -f, when FromSet; "" or "<>" is the null sender
	FromSet    bool
	FullName   string   // -F
	Recipients []string // as given: possibly unqualified, possibly comma lists
	Extract    bool     // -t
	UID        int      // maildrop files: the submitting user; -1 when absent
	Size       int64    // length of the message that follows
}

// Error is a refusal with the exit status the sendmail command reports.
type Error struct {
	Code int
	Msg  string
}

func (e *Error) Error() string { return e.Msg }

func errorf(code int, format string, a ...any) *Error {
	return &Error{Code: code, Msg: fmt.Sprintf(format, a...)}
}

// Reply is the daemon's answer.
type Reply struct {
	Code int // sysexits(3); ExOK when the message was taken
	Text string
}

// WriteRequest writes the header block of req (not the message).
func WriteRequest(w io.Writer, req Request) error {
	var b strings.Builder
	b.WriteString(magic + "\n")
	if req.FromSet {
		b.WriteString("from " + strconv.Quote(req.From) + "\n")
	}
	if req.FullName != "" {
		b.WriteString("fullname " + strconv.Quote(req.FullName) + "\n")
	}
	for _, r := range req.Recipients {
		b.WriteString("rcpt " + strconv.Quote(r) + "\n")
	}
	if req.Extract {
		b.WriteString("extract\n")
	}
	if req.UID >= 0 {
		b.WriteString("uid " + strconv.Itoa(req.UID) + "\n")
	}
	b.WriteString("size " + strconv.FormatInt(req.Size, 10) + "\n\n")
	if b.Len() > maxHeader {
		return errorf(ExUsage, "too many or too long arguments (%d bytes)", b.Len())
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// ReadRequest reads a header block. The message, req.Size bytes, follows
// in r. Limits: maxSize bytes of message, maxRcpt recipient arguments
// (0: no limit). A malformed block is an *Error with ExDataErr (or
// ExUsage for limits of the command line).
func ReadRequest(r *bufio.Reader, maxSize int64, maxRcpt int) (Request, error) {
	req := Request{UID: -1, Size: -1}
	total := 0
	seen := map[string]bool{}
	for n := 1; ; n++ {
		line, err := readLine(r, maxLine)
		if err != nil {
			return req, err
		}
		total += len(line) + 1
		if total > maxHeader {
			return req, errorf(ExUsage, "request header larger than %d bytes", maxHeader)
		}
		if n == 1 {
			if line != magic {
				return req, errorf(ExDataErr, "not a pickup request (first line %q)", clip(line))
			}
			continue
		}
		if line == "" {
			break
		}
		key, val, _ := strings.Cut(line, " ")
		if key != "rcpt" && seen[key] {
			return req, errorf(ExDataErr, "request line %d: %s repeated", n, key)
		}
		seen[key] = true
		if err := parseField(&req, key, val); err != nil {
			return req, errorf(ExDataErr, "request line %d: %v", n, err)
		}
		if maxRcpt > 0 && len(req.Recipients) > maxRcpt {
			return req, errorf(ExUsage, "more than %d recipients given", maxRcpt)
		}
	}
	switch {
	case req.Size < 0:
		return req, errorf(ExDataErr, "request without size")
	case req.Size > maxSize:
		return req, errorf(ExDataErr, "message of %d bytes is larger than the limit of %d (limits.message_size)", req.Size, maxSize)
	}
	return req, nil
}

func parseField(req *Request, key, val string) error {
	var err error
	switch key {
	case "from":
		req.FromSet = true
		req.From, err = unquote(val)
	case "fullname":
		req.FullName, err = unquote(val)
	case "rcpt":
		var a string
		if a, err = unquote(val); err == nil {
			req.Recipients = append(req.Recipients, a)
		}
	case "extract":
		if val != "" {
			err = errors.New("extract takes no value")
		}
		req.Extract = true
	case "uid":
		req.UID, err = strconv.Atoi(val)
		if err == nil && req.UID < 0 {
			err = errors.New("negative uid")
		}
	case "size":
		req.Size, err = strconv.ParseInt(val, 10, 64)
		if err == nil && req.Size < 0 {
			err = errors.New("negative size")
		}
	default:
		return fmt.Errorf("unknown key %q", clip(key))
	}
	if err != nil {
		return fmt.Errorf("%s: %w", key, err)
	}
	return nil
}

func unquote(val string) (string, error) {
	if !strings.HasPrefix(val, `"`) {
		return "", errors.New("value is not a quoted string")
	}
	s, err := strconv.Unquote(val)
	if err != nil {
		return "", fmt.Errorf("bad quoted string: %w", err)
	}
	if strings.ContainsAny(s, "\r\n\x00") {
		return "", errors.New("value contains a line break or NUL")
	}
	return s, nil
}

// readLine reads one LF-terminated line of at most max bytes, without the
// LF.
func readLine(r *bufio.Reader, max int) (string, error) {
	var line []byte
	for {
		chunk, err := r.ReadSlice('\n')
		line = append(line, chunk...)
		if len(line) > max+1 {
			return "", errorf(ExDataErr, "request line longer than %d bytes", max)
		}
		switch {
		case err == nil:
			return string(line[:len(line)-1]), nil
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		case errors.Is(err, io.EOF):
			return "", io.ErrUnexpectedEOF
		default:
			return "", err
		}
	}
}

// WriteReply writes the daemon's one-line answer.
func WriteReply(w io.Writer, rep Reply) error {
	text := strings.Map(func(r rune) rune {
		if r == '\r' || r == '\n' {
			return ' '
		}
		return r
	}, rep.Text)
	_, err := fmt.Fprintf(w, "%d %s\n", rep.Code, text)
	return err
}

// ReadReply reads the daemon's answer.
func ReadReply(r *bufio.Reader) (Reply, error) {
	line, err := readLine(r, maxReplyLine)
	if err != nil {
		return Reply{}, err
	}
	code, text, _ := strings.Cut(line, " ")
	c, err := strconv.Atoi(code)
	if err != nil || c < 0 || c > 255 {
		return Reply{}, fmt.Errorf("pickup: bad reply %q", clip(line))
	}
	return Reply{Code: c, Text: text}, nil
}

func clip(s string) string {
	if len(s) > 64 {
		return s[:64] + "..."
	}
	return s
}
