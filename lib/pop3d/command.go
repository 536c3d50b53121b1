package pop3d

import (
	"errors"
	"strings"
)

// Command is one parsed client line.
type Command struct {
	// Name is the keyword in upper case: "USER", "RETR", "STLS" …
	Name string
	// Args are the space-separated arguments. For PASS the whole rest of
	// the line is one argument, spaces included (RFC 1939 §7 allows a
	// password with spaces).
	Args []string
}

// Limits of RFC 2449 §3: keywords of three or four characters, arguments
// of at most 40. USER, PASS and AUTH may be longer (an address, a
// password, a SASL initial response): the line length limit bounds them.
const (
	maxArgLen = 40
	maxArgs   = 8
)

var (
	errEmptyLine   = errors.New("empty command line")
	errBadKeyword  = errors.New("invalid command keyword")
	errBadArgument = errors.New("invalid argument")
	errTooManyArgs = errors.New("too many arguments")
	errArgTooLong  = errors.New("argument too long")
)

// ParseCommand parses a command line without its line end. It accepts
// only printable ASCII and single spaces between arguments (a tab or a
// control character is an error); the keyword is case-insensitive.
func ParseCommand(line string) (Command, error) {
	if line == "" {
		return Command{}, errEmptyLine
	}
	kw, rest, hasRest := strings.Cut(line, " ")
	if len(kw) < 3 || len(kw) > 4 {
		return Command{}, errBadKeyword
	}
	for i := 0; i < len(kw); i++ {
		c := kw[i]
		if !('A' <= c && c <= 'Z' || 'a' <= c && c <= 'z') {
			return Command{}, errBadKeyword
		}
	}
	cmd := Command{Name: strings.ToUpper(kw)}
	if !hasRest {
		return cmd, nil
	}
	for i := 0; i < len(rest); i++ {
		if c := rest[i]; c < 0x20 || c > 0x7e {
			return Command{}, errBadArgument
		}
	}
	if cmd.Name == "PASS" {
		if rest == "" {
			return Command{}, errBadArgument
		}
		cmd.Args = []string{rest}
		return cmd, nil
	}
	for _, a := range strings.Split(rest, " ") {
		if a == "" {
			return Command{}, errBadArgument
		}
		if len(a) > maxArgLen && cmd.Name != "AUTH" && cmd.Name != "USER" {
			return Command{}, errArgTooLong
		}
		if len(cmd.Args) == maxArgs {
			return Command{}, errTooManyArgs
		}
		cmd.Args = append(cmd.Args, a)
	}
	return cmd, nil
}

// String renders the command for a log: the arguments of PASS and AUTH
// (credentials) are left out.
func (c Command) String() string {
	switch c.Name {
	case "PASS":
		return "PASS <hidden>"
	case "AUTH":
		if len(c.Args) > 1 {
			return "AUTH " + c.Args[0] + " <hidden>"
		}
	}
	if len(c.Args) == 0 {
		return c.Name
	}
	return c.Name + " " + strings.Join(c.Args, " ")
}
