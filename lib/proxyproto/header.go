package proxyproto

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// MaxHeaderLen is the longest version 1 header, CRLF included (spec §2.1).
const MaxHeaderLen = 107

// ErrMalformed is wrapped by every error about the header's contents.
var ErrMalformed = errors.New("proxyproto: malformed header")

// WriteHeader writes the header that names client as the connection's
// source. An invalid (zero) client writes "PROXY UNKNOWN".
func WriteHeader(w io.Writer, client netip.Addr) error {
	_, err := io.WriteString(w, formatHeader(client))
	if err != nil {
		return fmt.Errorf("proxyproto: writing header: %w", err)
	}
	return nil
}

func formatHeader(client netip.Addr) string {
	if !client.IsValid() {
		return "PROXY UNKNOWN\r\n"
	}
	client = client.Unmap().WithZone("")
	if client.Is4() {
		return "PROXY TCP4 " + client.String() + " 0.0.0.0 0 0\r\n"
	}
	return "PROXY TCP6 " + client.String() + " :: 0 0\r\n"
}

// ReadHeader reads the header from c within timeout and returns the client
// address it names (invalid for UNKNOWN) and the connection to go on with.
// It reads one byte at a time, so not a byte after the header is consumed
// and the returned conn is c itself, its read deadline cleared. On error
// the caller closes c.
func ReadHeader(c net.Conn, timeout time.Duration) (client netip.Addr, conn net.Conn, err error) {
	if err := c.SetReadDeadline(time.Now().Add(timeout)); err != nil {
		return netip.Addr{}, nil, fmt.Errorf("proxyproto: %w", err)
	}
	line, err := readLine(c)
	if err != nil {
		return netip.Addr{}, nil, err
	}
	client, err = parseHeader(line)
	if err != nil {
		return netip.Addr{}, nil, err
	}
	if err := c.SetReadDeadline(time.Time{}); err != nil {
		return netip.Addr{}, nil, fmt.Errorf("proxyproto: %w", err)
	}
	return client, c, nil
}

// readLine reads up to and including CRLF, at most MaxHeaderLen bytes, and
// returns the line without CRLF.
func readLine(r io.Reader) (string, error) {
	var buf [MaxHeaderLen]byte
	var one [1]byte
	for n := 0; n < len(buf); {
		if _, err := io.ReadFull(r, one[:]); err != nil {
			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
				return "", fmt.Errorf("%w: connection closed after %d bytes", ErrMalformed, n)
			}
			return "", fmt.Errorf("proxyproto: reading header: %w", err)
		}
		buf[n] = one[0]
		n++
		// Fail on the first byte that cannot belong to a header, so a
		// client speaking the protocol itself is turned away at once.
		if n <= len("PROXY ") && buf[n-1] != "PROXY "[n-1] {
			return "", fmt.Errorf("%w: does not start with \"PROXY \"", ErrMalformed)
		}
		if buf[n-1] == '\n' {
			if n < 2 || buf[n-2] != '\r' {
				return "", fmt.Errorf("%w: bare LF", ErrMalformed)
			}
			return string(buf[:n-2]), nil
		}
		if n >= 2 && buf[n-2] == '\r' {
			return "", fmt.Errorf("%w: bare CR", ErrMalformed)
		}
	}
	return "", fmt.Errorf("%w: longer than %d bytes", ErrMalformed, MaxHeaderLen)
}

// parseHeader parses a header line without its CRLF.
func parseHeader(line string) (netip.Addr, error) {
	rest, ok := strings.CutPrefix(line, "PROXY ")
	if !ok {
		return netip.Addr{}, fmt.Errorf("%w: does not start with \"PROXY \"", ErrMalformed)
	}
	if rest == "UNKNOWN" || strings.HasPrefix(rest, "UNKNOWN ") {
		// The spec has the receiver ignore whatever follows UNKNOWN.
		return netip.Addr{}, nil
	}
	f := strings.Split(rest, " ")
	if len(f) != 5 {
		return netip.Addr{}, fmt.Errorf("%w: want 5 fields after PROXY, got %d", ErrMalformed, len(f))
	}
	var want6 bool
	switch f[0] {
	case "TCP4":
	case "TCP6":
		want6 = true
	default:
		return netip.Addr{}, fmt.Errorf("%w: unknown protocol %q", ErrMalformed, f[0])
	}
	var src netip.Addr
	for i, s := range f[1:3] {
		a, err := parseAddr(s, want6)
		if err != nil {
			return netip.Addr{}, err
		}
		if i == 0 {
			src = a
		}
	}
	for _, s := range f[3:5] {
		if err := checkPort(s); err != nil {
			return netip.Addr{}, err
		}
	}
	return src.Unmap(), nil
}

func parseAddr(s string, want6 bool) (netip.Addr, error) {
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	if a.Zone() != "" {
		return netip.Addr{}, fmt.Errorf("%w: address %q has a zone", ErrMalformed, s)
	}
	if a.Is6() != want6 {
		return netip.Addr{}, fmt.Errorf("%w: address %q is of the wrong family", ErrMalformed, s)
	}
	return a, nil
}

func checkPort(s string) error {
	if s == "" || len(s) > 5 || (len(s) > 1 && s[0] == '0') {
		return fmt.Errorf("%w: bad port %q", ErrMalformed, s)
	}
	for _, r := range s {
		if r < '0' || r > '9' {
			return fmt.Errorf("%w: bad port %q", ErrMalformed, s)
		}
	}
	if n, err := strconv.Atoi(s); err != nil || n > 65535 {
		return fmt.Errorf("%w: bad port %q", ErrMalformed, s)
	}
	return nil
}
