package maildir

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// Inbox is the IMAP name of the user's main folder.
const Inbox = "INBOX"

// IMAP names of the folders CreateUser makes, and their RFC 6154 roles.
var (
	DefaultFolders = []string{"Sent", "Drafts", "Trash", "Junk", "Archive"}
	specialUse     = map[string]string{
		"Sent": `\Sent`, "Drafts": `\Drafts`, "Trash": `\Trash`, "Junk": `\Junk`, "Archive": `\Archive`,
	}
)

// SpecialUse returns the RFC 6154 attribute of a default folder, or "".
func SpecialUse(name string) string { return specialUse[name] }

// maxDirName is NAME_MAX: a folder is one directory entry.
const maxDirName = 255

// NormalizeName validates an IMAP folder name (UTF-8, "/" separated) and
// returns its canonical spelling: "INBOX" in any case, as the first
// component, becomes "INBOX".
func NormalizeName(name string) (string, error) {
	if name == "" || !utf8.ValidString(name) {
		return "", fmt.Errorf("%w: %q", ErrBadFolderName, name)
	}
	comps := strings.Split(name, "/")
	for _, c := range comps {
		if c == "" || c == "." || c == ".." {
			return "", fmt.Errorf("%w: %q: empty, \".\" or \"..\" component", ErrBadFolderName, name)
		}
		for _, r := range c {
			if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) || r == '*' || r == '%' || r == utf8.RuneError {
				return "", fmt.Errorf("%w: %q: character %U not allowed", ErrBadFolderName, name, r)
			}
		}
	}
	if strings.EqualFold(comps[0], Inbox) {
		comps[0] = Inbox
	}
	return strings.Join(comps, "/"), nil
}

// folderDir maps an IMAP folder name to its directory relative to the
// user's Maildir: "." for INBOX, ".Lists.Go" for "Lists/Go".
func folderDir(name string) (string, error) {
	norm, err := NormalizeName(name)
	if err != nil {
		return "", err
	}
	if norm == Inbox {
		return ".", nil
	}
	var b strings.Builder
	for _, c := range strings.Split(norm, "/") {
		b.WriteByte('.')
		for _, ch := range []byte(encodeMUTF7(c)) {
			switch ch {
			case '.':
				b.WriteString(`\2e`)
			case '\\':
				b.WriteString(`\5c`)
			default:
				b.WriteByte(ch)
			}
		}
	}
	dir := b.String()
	if len(dir) > maxDirName {
		return "", fmt.Errorf("%w: %q: too long", ErrBadFolderName, name)
	}
	return dir, nil
}

// folderName maps a Maildir++ directory name (".Lists.Go") back to its IMAP
// name. Only names folderDir could have produced are accepted.
func folderName(dir string) (string, error) {
	if len(dir) < 2 || dir[0] != '.' {
		return "", fmt.Errorf("%w: directory %q", ErrBadFolderName, dir)
	}
	comps := strings.Split(dir[1:], ".")
	for i, c := range comps {
		un, ok := unescapeComponent(c)
		if !ok {
			return "", fmt.Errorf("%w: directory %q: bad escape", ErrBadFolderName, dir)
		}
		dec, err := decodeMUTF7(un)
		if err != nil {
			return "", fmt.Errorf("%w: directory %q: %v", ErrBadFolderName, dir, err)
		}
		comps[i] = dec
	}
	name := strings.Join(comps, "/")
	// The round trip rejects every other spelling (".inbox", "\2E", …).
	if back, err := folderDir(name); err != nil || back != dir {
		return "", fmt.Errorf("%w: directory %q is not in canonical form", ErrBadFolderName, dir)
	}
	return name, nil
}

// unescapeComponent undoes the \2e and \5c escapes.
func unescapeComponent(c string) (string, bool) {
	if !strings.Contains(c, `\`) {
		return c, true
	}
	var b strings.Builder
	for i := 0; i < len(c); i++ {
		if c[i] != '\\' {
			b.WriteByte(c[i])
			continue
		}
		switch {
		case strings.HasPrefix(c[i:], `\2e`):
			b.WriteByte('.')
		case strings.HasPrefix(c[i:], `\5c`):
			b.WriteByte('\\')
		default:
			return "", false
		}
		i += 2
	}
	return b.String(), true
}
