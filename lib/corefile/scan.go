package corefile

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strings"
)

// MaxLine is the longest line Scan accepts.
const MaxLine = 1 << 20

// LineError is a parse error at one line of a core file. Its text is
// "file:line: reason", the form editors and grep understand.
type LineError struct {
	File string
	Line int
	Err  error
}

func (e *LineError) Error() string { return fmt.Sprintf("%s:%d: %v", e.File, e.Line, e.Err) }
func (e *LineError) Unwrap() error { return e.Err }

// Line is one entry line of a core file.
type Line struct {
	N        int      // 1-based line number
	Text     string   // the line without leading and trailing blanks
	Comments []string // comment lines directly above it, see CommentText
}

// Scan calls fn for every entry line of r, which is named name in errors.
// An error returned by fn is wrapped into a *LineError for that line.
func Scan(r io.Reader, name string, fn func(Line) error) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64*1024), MaxLine)
	n := 0
	var pending []string
	for sc.Scan() {
		n++
		text := strings.Trim(sc.Text(), " \t\r")
		switch {
		case text == "":
			pending = nil // a blank line detaches the comments above it
		case text[0] == '#':
			pending = append(pending, CommentText(text))
		default:
			err := fn(Line{N: n, Text: text, Comments: pending})
			pending = nil
			if err != nil {
				var le *LineError
				if errors.As(err, &le) {
					return err
				}
				return &LineError{File: name, Line: n, Err: err}
			}
		}
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return &LineError{File: name, Line: n + 1, Err: fmt.Errorf("line longer than %d bytes", MaxLine)}
		}
		return fmt.Errorf("read %s: %w", name, err)
	}
	return nil
}

// CommentText returns the text of a comment line: after the "#" and one
// optional space. WriteComments turns it back into the same line.
func CommentText(line string) string {
	s := strings.TrimPrefix(line, "#")
	return strings.TrimPrefix(s, " ")
}

// WriteComments writes comments as "# text" lines. A comment holding line
// breaks becomes several lines.
func WriteComments(w io.Writer, comments []string) error {
	for _, c := range comments {
		for _, l := range strings.Split(c, "\n") {
			l = strings.TrimRight(l, " \t\r")
			s := "#\n"
			if l != "" {
				s = "# " + l + "\n"
			}
			if _, err := io.WriteString(w, s); err != nil {
				return err
			}
		}
	}
	return nil
}

// WriteHeader writes the explanatory header of a core file and the blank
// line that keeps it from attaching to the first entry (so parsing drops it
// and the next write puts back the current one).
func WriteHeader(w io.Writer, lines ...string) error {
	if err := WriteComments(w, lines); err != nil {
		return err
	}
	_, err := io.WriteString(w, "\n")
	return err
}

// CutToken returns the prefix of s up to the first byte for which stop is
// true, skipping over double-quoted strings (where a backslash escapes the
// next byte), so a quoted local part such as "a b:c"@example.org stays one
// token. rest starts at the stop byte, or is empty.
func CutToken(s string, stop func(byte) bool) (tok, rest string) {
	inQuote := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case inQuote && c == '\\':
			i++
		case c == '"':
			inQuote = !inQuote
		case !inQuote && stop(c):
			return s[:i], s[i:]
		}
	}
	return s, ""
}

// IsBlank reports whether c separates fields: a space or a tab.
func IsBlank(c byte) bool { return c == ' ' || c == '\t' }

// Fields splits s at runs of spaces and tabs. Unlike strings.Fields it
// leaves other (Unicode) white space inside a field, so the caller can
// refuse it with a clear message.
func Fields(s string) []string {
	return strings.FieldsFunc(s, func(r rune) bool { return r == ' ' || r == '\t' })
}
