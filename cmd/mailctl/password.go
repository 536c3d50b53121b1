package main

import (
	"bufio"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"golang.org/x/term"
)

// passwordSource says where a new password comes from.
type passwordSource struct {
	stdin  bool
	random bool
}

// minPasswordLen is the shortest password accepted from a person.
const minPasswordLen = 8

// read returns the password: from the first line of stdin, generated, or
// prompted for twice without echo when stdin is a terminal. It never
// prompts when stdin is not a terminal, so scripts fail fast instead of
// hanging.
func (p passwordSource) read(g *globals) (pw string, generated bool, err error) {
	switch {
	case p.stdin && p.random:
		return "", false, &usageError{errors.New("--password-stdin and --random-password exclude each other")}
	case p.random:
		return randomPassword(), true, nil
	case p.stdin:
		line, err := bufio.NewReader(g.stdin).ReadString('\n')
		if err != nil && !errors.Is(err, io.EOF) {
			return "", false, fmt.Errorf("read password: %w", err)
		}
		pw = strings.TrimRight(line, "\r\n")
	default:
		f, ok := g.stdin.(*os.File)
		if !ok || !term.IsTerminal(int(f.Fd())) {
			return "", false, &usageError{errors.New("no password: stdin is not a terminal; use --password-stdin or --random-password")}
		}
		pw, err = promptTwice(f, g.stderr)
		if err != nil {
			return "", false, err
		}
	}
	if len(pw) < minPasswordLen {
		return "", false, withCode(exitDataErr, fmt.Errorf("password too short: at least %d characters", minPasswordLen))
	}
	return pw, false, nil
}

func promptTwice(tty *os.File, w io.Writer) (string, error) {
	fmt.Fprint(w, "New password: ")
	a, err := term.ReadPassword(int(tty.Fd()))
	fmt.Fprintln(w)
	if err != nil {
		return "", fmt.Errorf("read password: %w", err)
	}
	fmt.Fprint(w, "Retype new password: ")
	b, err := term.ReadPassword(int(tty.Fd()))
	fmt.Fprintln(w)
	if err != nil {
		return "", fmt.Errorf("read password: %w", err)
	}
	if string(a) != string(b) {
		return "", withCode(exitDataErr, errors.New("passwords do not match"))
	}
	return string(a), nil
}

// randomPassword returns 26 random base32 characters (128 bits).
func randomPassword() string { return rand.Text() }
