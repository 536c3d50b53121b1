package maildir

import (
	"errors"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestFolderDir(t *testing.T) {
	tests := []struct {
		name, dir string
	}{
		{"INBOX", "."},
		{"inbox", "."},
		{"Sent", ".Sent"},
		{"Lists/Go", ".Lists.Go"},
		{"Lists/Gö", ".Lists.G&APY-"},    // Dovecot wrote this very name
		{"Tëst &amp", ".T&AOs-st &-amp"}, // and this one
		{"a.b", `.a\2eb`},
		{`back\slash`, `.back\5cslash`},
		{"日本語", ".&ZeVnLIqe-"},
		{"inbox/x", ".INBOX.x"},
		{"x/inbox", ".x.inbox"},
		{"😀", ".&2D3eAA-"},
		{"~user", ".~user"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir, err := folderDir(tt.name)
			if err != nil {
				t.Fatalf("folderDir(%q): %v", tt.name, err)
			}
			if dir != tt.dir {
				t.Fatalf("folderDir(%q) = %q, want %q", tt.name, dir, tt.dir)
			}
			if dir == "." {
				return
			}
			back, err := folderName(dir)
			if err != nil {
				t.Fatalf("folderName(%q): %v", dir, err)
			}
			norm, _ := NormalizeName(tt.name)
			if back != norm {
				t.Fatalf("folderName(%q) = %q, want %q", dir, back, norm)
			}
		})
	}
}

func TestFolderNameRejects(t *testing.T) {
	names := []string{"", "/", "a/", "/a", "a//b", ".", "..", "a/../b", "a/./b", "a\x00b", "a\nb",
		"a*", "a%b", "\xff", "a\x7f", "a\u0085"}
	for _, n := range names {
		if d, err := folderDir(n); !errors.Is(err, ErrBadFolderName) {
			t.Errorf("folderDir(%q) = %q, %v; want ErrBadFolderName", n, d, err)
		}
	}
	dirs := []string{
		".", "..", "a", ".a..b", ".a.",
		".INBOX",      // INBOX is the Maildir itself
		".inbox.x",    // non-canonical INBOX
		".a\\2Eb",     // upper-case escape
		".a\\2fb",     // an escaped "/"
		".a\\",        // dangling escape
		".&AGE-",      // "a" encoded
		".&AOQ-&APY-", // two runs in a row
		".&AOQ",       // unterminated
		".&2D3-",      // lone surrogate
		".&Jjo",       // bad base64 and no end
		".a*",         // wildcard
		"." + strings.Repeat("x", 255),
	}
	for _, d := range dirs {
		if n, err := folderName(d); err == nil {
			t.Errorf("folderName(%q) = %q, want error", d, n)
		}
	}
	if n, err := folderName(".&-"); err != nil || n != "&" {
		t.Errorf(`folderName(".&-") = %q, %v; want "&"`, n, err)
	}
}

func TestMUTF7(t *testing.T) {
	tests := []struct{ in, out string }{
		{"plain", "plain"},
		{"&", "&-"},
		{"ä", "&AOQ-"},
		{"äö", "&AOQA9g-"},
		{"ä&ö", "&AOQ-&-&APY-"},
		{"\t", "&AAk-"},
		{"~peter/mail/台北/日本語", "~peter/mail/&U,BTFw-/&ZeVnLIqe-"}, // RFC 3501's example
	}
	for _, tt := range tests {
		if got := encodeMUTF7(tt.in); got != tt.out {
			t.Errorf("encode(%q) = %q, want %q", tt.in, got, tt.out)
		}
		if got, err := decodeMUTF7(tt.out); err != nil || got != tt.in {
			t.Errorf("decode(%q) = %q, %v; want %q", tt.out, got, err, tt.in)
		}
	}
}

// FuzzFolderName checks both directions of the codec: every accepted IMAP
// name comes back from its directory, and every accepted directory comes
// back from its name — and no directory ever escapes (no "/", no "..").
func FuzzFolderName(f *testing.F) {
	for _, s := range []string{"INBOX", "Lists/Gö", "a.b", `x\y`, ".Lists.G&APY-", `.a\2eb`, "&", "日本語/😀", ".&AOQ-&APY-", "a/../b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if dir, err := folderDir(s); err == nil {
			if strings.Contains(dir, "/") || strings.Contains(dir, "..") || strings.ContainsRune(dir, 0) || len(dir) > maxDirName {
				t.Fatalf("folderDir(%q) = %q escapes", s, dir)
			}
			norm, err := NormalizeName(s)
			if err != nil {
				t.Fatal(err)
			}
			if dir != "." {
				back, err := folderName(dir)
				if err != nil || back != norm {
					t.Fatalf("folderName(folderDir(%q)=%q) = %q, %v", s, dir, back, err)
				}
			}
		}
		if name, err := folderName(s); err == nil {
			if !utf8.ValidString(name) {
				t.Fatalf("folderName(%q) = %q is not UTF-8", s, name)
			}
			if dir, err := folderDir(name); err != nil || dir != s {
				t.Fatalf("folderDir(folderName(%q)=%q) = %q, %v", s, name, dir, err)
			}
		}
		if dec, err := decodeMUTF7(s); err == nil {
			if enc := encodeMUTF7(dec); enc != s {
				t.Fatalf("encodeMUTF7(decodeMUTF7(%q)=%q) = %q", s, dec, enc)
			}
		}
		if utf8.ValidString(s) {
			if dec, err := decodeMUTF7(encodeMUTF7(s)); err != nil || dec != s {
				t.Fatalf("decodeMUTF7(encodeMUTF7(%q)) = %q, %v", s, dec, err)
			}
		}
	})
}
