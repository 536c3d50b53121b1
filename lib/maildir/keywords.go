package maildir

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"strconv"
	"strings"
)

const keywordsName = "dovecot-keywords"

// keywordTable maps the letters a–z of one folder to IMAP keywords, as
// Dovecot's dovecot-keywords file does.
type keywordTable struct {
	names  [26]string
	stamp  fileStamp
	loaded bool
}

func parseKeywords(b []byte) (t [26]string) {
	for _, line := range bytes.Split(b, []byte("\n")) {
		idx, name, ok := bytes.Cut(line, []byte(" "))
		if !ok {
			continue
		}
		i, err := strconv.Atoi(string(idx))
		if err != nil || i < 0 || i >= 26 || !validKeyword(string(name)) {
			continue
		}
		t[i] = string(name)
	}
	return t
}

func formatKeywords(t *[26]string) []byte {
	var b []byte
	for i, n := range t {
		if n != "" {
			b = fmt.Appendf(b, "%d %s\n", i, n)
		}
	}
	return b
}

// validKeyword accepts an IMAP atom that is not a system flag.
func validKeyword(k string) bool {
	if k == "" || len(k) > 128 || k[0] == '\\' {
		return false
	}
	for i := 0; i < len(k); i++ {
		c := k[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte(`(){%*"\]`, c) >= 0 {
			return false
		}
	}
	return true
}

// keywords returns the names of the keyword letters in letters; letters
// without a name are ignored, as Dovecot does.
func (t *keywordTable) keywords(letters string) []string {
	var out []string
	for i := 0; i < len(letters); i++ {
		if c := letters[i]; c >= 'a' && c <= 'z' && t.names[c-'a'] != "" {
			out = append(out, t.names[c-'a'])
		}
	}
	return out
}

// letters maps keywords to letters, giving new ones the first free letter.
// changed reports that the table must be saved.
func (t *keywordTable) letters(keywords []string) (letters string, changed bool, err error) {
	var b []byte
next:
	for _, k := range keywords {
		if !validKeyword(k) {
			return "", false, fmt.Errorf("%w: %q", ErrBadKeyword, k)
		}
		free := -1
		for i, n := range t.names {
			if strings.EqualFold(n, k) {
				b = append(b, byte('a'+i))
				continue next
			}
			if n == "" && free < 0 {
				free = i
			}
		}
		if free < 0 {
			return "", false, fmt.Errorf("%w: can't add %q", ErrTooManyKeywords, k)
		}
		t.names[free] = k
		changed = true
		b = append(b, byte('a'+free))
	}
	return sortLetters(string(b)), changed, nil
}

// refreshKeywords (re)reads dovecot-keywords when it changed on disk.
func (f *Folder) refreshKeywords() error {
	p := path.Join(f.dir, keywordsName)
	st, err := f.u.root.Stat(p)
	if errors.Is(err, fs.ErrNotExist) {
		f.kw = keywordTable{loaded: true}
		return nil
	}
	if err != nil {
		return fmt.Errorf("maildir: %s/%s: %w", f.u.key, p, err)
	}
	if s := stampOf(st); f.kw.loaded && s == f.kw.stamp {
		return nil
	}
	b, err := f.u.root.ReadFile(p)
	if err != nil {
		return fmt.Errorf("maildir: %s/%s: %w", f.u.key, p, err)
	}
	f.kw = keywordTable{names: parseKeywords(b), stamp: stampOf(st), loaded: true}
	return nil
}

// saveKeywords writes the table; the caller holds the folder lock. It is
// durable: file names written after it depend on it.
func (f *Folder) saveKeywords() error {
	p := path.Join(f.dir, keywordsName)
	if err := f.u.s.writeAtomic(f.u.root, p, formatKeywords(&f.kw.names), true); err != nil {
		return err
	}
	if st, err := f.u.root.Stat(p); err == nil {
		f.kw.stamp = stampOf(st)
	}
	return nil
}
