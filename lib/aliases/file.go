package aliases

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strings"

	"mailctl/lib/addr"
	"mailctl/lib/corefile"
)

// Alias is one line of the aliases file.
type Alias struct {
	Address  addr.Address // Local == "" for a domain's catch-all
	Targets  []addr.Address
	Comments []string // comment lines kept above the alias (without "# ")
}

// IsCatchAll reports whether a is a domain's catch-all.
func (a Alias) IsCatchAll() bool { return a.Address.Local == "" }

var header = []string{
	"mailctl aliases: one alias a line,  address: target, target, ...",
	"@domain: target  is the domain's catch-all. Targets are addresses only.",
	"Change with `mailctl alias` or by hand. A comment directly above an alias",
	"is kept when the tools rewrite this file.",
}

// Parse reads an aliases file; name is used in errors ("name:line: ...").
// An address with two lines is an error naming both.
func Parse(r io.Reader, name string) ([]Alias, error) {
	var as []Alias
	seen := map[addr.Address]int{}
	err := corefile.Scan(r, name, func(l corefile.Line) error {
		a, err := parseLine(l.Text)
		if err != nil {
			return err
		}
		if first, dup := seen[a.Address]; dup {
			return fmt.Errorf("alias %s already defined at line %d", keyString(a.Address), first)
		}
		seen[a.Address] = l.N
		a.Comments = l.Comments
		as = append(as, a)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return as, nil
}

// Load reads and parses the aliases file at path.
func Load(path string) ([]Alias, error) { return corefile.Load(path, Parse) }

func isColon(c byte) bool { return c == ':' }
func isComma(c byte) bool { return c == ',' }

func trimBlanks(s string) string { return strings.Trim(s, " \t") }

func parseLine(text string) (Alias, error) {
	key, rest := corefile.CutToken(text, isColon)
	if rest == "" {
		return Alias{}, errors.New(`want "address: target, ..."; no colon found`)
	}
	a, err := parseKey(trimBlanks(key))
	if err != nil {
		return Alias{}, err
	}
	al := Alias{Address: a}
	seen := map[addr.Address]bool{}
	for s := rest[1:]; ; {
		tok, more := corefile.CutToken(s, isComma)
		t, err := parseTarget(trimBlanks(tok))
		if err != nil {
			return Alias{}, err
		}
		if seen[t] {
			return Alias{}, fmt.Errorf("target %s listed twice", t)
		}
		seen[t] = true
		al.Targets = append(al.Targets, t)
		if more == "" {
			return al, nil
		}
		s = more[1:]
	}
}

func parseKey(k string) (addr.Address, error) {
	if k == "" {
		return addr.Address{}, errors.New("missing address before the colon")
	}
	if d, ok := strings.CutPrefix(k, "@"); ok {
		dom, err := addr.ParseDomain(d)
		if err != nil {
			return addr.Address{}, fmt.Errorf("catch-all %q: %w", k, err)
		}
		return addr.Address{Domain: dom}, nil
	}
	a, err := addr.Parse(k)
	if err != nil {
		return addr.Address{}, fmt.Errorf("alias address: %w", err)
	}
	return a, nil
}

func parseTarget(t string) (addr.Address, error) {
	if t == "" {
		return addr.Address{}, errors.New("empty target (a stray comma?)")
	}
	if err := checkTargetText(t); err != nil {
		return addr.Address{}, err
	}
	if strings.HasPrefix(t, "@") {
		return addr.Address{}, fmt.Errorf("target %q: a catch-all can't be a target", t)
	}
	if _, more := corefile.CutToken(t, corefile.IsBlank); more != "" {
		return addr.Address{}, fmt.Errorf("target %q: targets are separated by commas", t)
	}
	a, err := addr.Parse(t)
	if err != nil {
		return addr.Address{}, fmt.Errorf("target: %w", err)
	}
	// "|x"@example.org is a fine address, but it is written |x@example.org.
	if err := checkTargetText(a.String()); err != nil {
		return addr.Address{}, err
	}
	return a, nil
}

// checkTargetText refuses the delivery targets of sendmail-style aliases.
func checkTargetText(t string) error {
	switch {
	case strings.HasPrefix(t, "|"):
		return fmt.Errorf("target %q: command targets are not allowed, only addresses", t)
	case strings.HasPrefix(t, "/"):
		return fmt.Errorf("target %q: file targets are not allowed, only addresses", t)
	case strings.Contains(strings.ToLower(t), ":include:"):
		return fmt.Errorf("target %q: :include: lists are not allowed, only addresses", t)
	}
	return nil
}

// keyString is the file's form of an alias address ("@domain" for a
// catch-all; Address.String would quote the empty local part).
func keyString(a addr.Address) string {
	if a.Local == "" {
		return "@" + a.Domain
	}
	return a.String()
}

// Check reports what would keep al from being written and read back.
func (al Alias) Check() error {
	k := keyString(al.Address)
	if al.Address.Domain == "" {
		return errors.New("alias without an address")
	}
	if back, err := parseKey(k); err != nil || back != al.Address || strings.HasPrefix(k, "#") {
		return fmt.Errorf("alias %s: address can't be written as it is", k)
	}
	if len(al.Targets) == 0 {
		return fmt.Errorf("alias %s: no targets", k)
	}
	seen := make(map[addr.Address]bool, len(al.Targets))
	for _, t := range al.Targets {
		if back, err := parseTarget(t.String()); err != nil || back != t {
			return fmt.Errorf("alias %s: target %q can't be written as it is", k, t.String())
		}
		if seen[t] {
			return fmt.Errorf("alias %s: target %s listed twice", k, t)
		}
		seen[t] = true
	}
	return nil
}

// Write writes the aliases in the file format, after the explanatory
// header. It refuses an invalid alias or a repeated address, so whatever it
// writes parses back to the same aliases.
func Write(w io.Writer, as []Alias) error {
	seen := make(map[addr.Address]bool, len(as))
	for _, al := range as {
		if err := al.Check(); err != nil {
			return err
		}
		if seen[al.Address] {
			return fmt.Errorf("alias %s listed twice", keyString(al.Address))
		}
		seen[al.Address] = true
	}
	bw := bufio.NewWriter(w)
	if err := corefile.WriteHeader(bw, header...); err != nil {
		return err
	}
	for _, al := range as {
		if err := corefile.WriteComments(bw, al.Comments); err != nil {
			return err
		}
		bw.WriteString(keyString(al.Address))
		bw.WriteString(":")
		for i, t := range al.Targets {
			if i > 0 {
				bw.WriteByte(',')
			}
			bw.WriteByte(' ')
			bw.WriteString(t.String())
		}
		bw.WriteByte('\n')
	}
	return bw.Flush()
}
