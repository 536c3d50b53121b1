package userdb

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode"
	"unicode/utf8"

	"mailctl/lib/addr"
	"mailctl/lib/corefile"
)

// User is one line of the users file.
type User struct {
	Address  addr.Address
	Hash     string
	Services Services
	Quota    int64 // bytes; 0 is unlimited
	Disabled bool
	Comments []string // comment lines kept above the user (without "# ")
}

const (
	stateEnabled  = "enabled"
	stateDisabled = "disabled"
)

var header = []string{
	"mailctl users: one user a line, fields separated by blanks:",
	"  address  password-hash  services  quota  state",
	"services: comma list of imap, pop3, submit, webmail, or - for none",
	"quota: 0 or - for unlimited, else bytes with an optional K, M, G or T (x1024)",
	"state: enabled or disabled",
	"Change with `mailctl useradd/usermod/passwd/userdel` or by hand. A comment",
	"directly above a user is kept when the tools rewrite this file.",
}

// Parse reads a users file; name is used in errors ("name:line: ...").
// An address listed twice is an error naming both lines.
func Parse(r io.Reader, name string) ([]User, error) {
	var users []User
	seen := map[addr.Address]int{}
	err := corefile.Scan(r, name, func(l corefile.Line) error {
		u, err := parseLine(l.Text)
		if err != nil {
			return err
		}
		if first, dup := seen[u.Address]; dup {
			return fmt.Errorf("user %s already defined at line %d", u.Address, first)
		}
		seen[u.Address] = l.N
		u.Comments = l.Comments
		users = append(users, u)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return users, nil
}

// Load reads and parses the users file at path.
func Load(path string) ([]User, error) { return corefile.Load(path, Parse) }

func parseLine(text string) (User, error) {
	field, rest := corefile.CutToken(text, corefile.IsBlank)
	f := corefile.Fields(rest)
	if len(f) != 4 {
		return User{}, fmt.Errorf("want 5 fields (address hash services quota state), got %d", len(f)+1)
	}
	a, err := addr.Parse(field)
	if err != nil {
		return User{}, fmt.Errorf("address: %w", err)
	}
	u := User{Address: a, Hash: f[0]}
	if err := checkHash(u.Hash); err != nil {
		return User{}, err
	}
	if u.Services, err = ParseServices(f[1]); err != nil {
		return User{}, err
	}
	if u.Quota, err = ParseSize(f[2]); err != nil {
		return User{}, fmt.Errorf("quota: %w", err)
	}
	switch strings.ToLower(f[3]) {
	case stateEnabled:
	case stateDisabled:
		u.Disabled = true
	default:
		return User{}, fmt.Errorf("state %q: want enabled or disabled", f[3])
	}
	return u, nil
}

// checkHash refuses what could not be written back as one field.
func checkHash(h string) error {
	if h == "" {
		return errors.New("empty password hash")
	}
	if !utf8.ValidString(h) {
		return errors.New("password hash is not valid UTF-8")
	}
	for _, r := range h {
		if unicode.IsSpace(r) || unicode.IsControl(r) {
			return fmt.Errorf("password hash contains white space or a control character (%U)", r)
		}
	}
	return nil
}

// Check reports what would keep u from being written and read back.
func (u User) Check() error {
	if u.Address.IsZero() || u.Address.Local == "" {
		return errors.New("user without an address")
	}
	// The address must come back as itself, and as one field.
	s := u.Address.String()
	if a, err := addr.Parse(s); err != nil || a != u.Address {
		return fmt.Errorf("user %s: address is not canonical", s)
	}
	if tok, _ := corefile.CutToken(s, corefile.IsBlank); tok != s || strings.HasPrefix(s, "#") {
		return fmt.Errorf("user %s: address can't be written as one field", s)
	}
	if err := checkHash(u.Hash); err != nil {
		return fmt.Errorf("user %s: %w", s, err)
	}
	if u.Services&^AllServices != 0 {
		return fmt.Errorf("user %s: unknown services bits %#x", s, uint8(u.Services&^AllServices))
	}
	if u.Quota < 0 {
		return fmt.Errorf("user %s: negative quota %d", s, u.Quota)
	}
	return nil
}

// Write writes users in the file format, after the explanatory header,
// with the columns aligned. It refuses an invalid user or a repeated
// address, so whatever it writes parses back to the same users.
func Write(w io.Writer, users []User) error {
	rows := make([][5]string, len(users))
	var width [4]int
	seen := make(map[addr.Address]bool, len(users))
	for i, u := range users {
		if err := u.Check(); err != nil {
			return err
		}
		if seen[u.Address] {
			return fmt.Errorf("user %s listed twice", u.Address)
		}
		seen[u.Address] = true
		state := stateEnabled
		if u.Disabled {
			state = stateDisabled
		}
		rows[i] = [5]string{u.Address.String(), u.Hash, u.Services.String(), FormatSize(u.Quota), state}
		for c := range width {
			width[c] = max(width[c], utf8.RuneCountInString(rows[i][c]))
		}
	}
	bw := bufio.NewWriter(w)
	if err := corefile.WriteHeader(bw, header...); err != nil {
		return err
	}
	for i, row := range rows {
		if err := corefile.WriteComments(bw, users[i].Comments); err != nil {
			return err
		}
		for c := range width {
			bw.WriteString(row[c])
			bw.WriteString(strings.Repeat(" ", width[c]-utf8.RuneCountInString(row[c])+2))
		}
		bw.WriteString(row[4])
		bw.WriteByte('\n')
	}
	return bw.Flush()
}
