package scan

import (
	"archive/zip"
	"bytes"
	"fmt"
	"io"
	"path"
	"strings"
)

// DefaultBlockedExtensions are file types refused as attachments: programs
// and scripts that run when opened, and disk images that hide them.
var DefaultBlockedExtensions = []string{
	"exe", "com", "scr", "pif", "bat", "cmd", "cpl", "msi", "msp", "jar", "vbs", "vbe",
	"js", "jse", "wsf", "wsh", "hta", "ps1", "lnk", "reg", "iso", "img", "vhd", "chm", "scf",
}

// AttachmentPolicy refuses dangerous attachments by name and by content,
// inside zip archives too.
type AttachmentPolicy struct {
	// Extensions blocked, lower-case without the dot (nil: the defaults).
	Extensions []string
	// MaxDepth is how deep zips within zips are opened (0: 3); deeper is
	// refused. MaxUnpacked bounds the bytes unpacked per message (0:
	// 64 MiB); more is refused as a zip bomb.
	MaxDepth    int
	MaxUnpacked int64
}

// attachmentCheck walks the attachments; a finding is a reason to refuse.
type attachmentCheck struct {
	p        *AttachmentPolicy
	blocked  map[string]bool
	unpacked int64
}

func (p *AttachmentPolicy) check(m *message) (string, bool) {
	c := &attachmentCheck{p: p, blocked: map[string]bool{}}
	exts := p.Extensions
	if exts == nil {
		exts = DefaultBlockedExtensions
	}
	for _, e := range exts {
		c.blocked[strings.ToLower(strings.TrimPrefix(e, "."))] = true
	}
	for _, a := range m.attachments {
		if why, bad := c.file(a.name, a.data, a.truncated, 0); bad {
			return why, true
		}
	}
	return "", false
}

// file judges one file by its name, its content, and if a zip its members.
func (c *attachmentCheck) file(name string, data []byte, truncated bool, depth int) (string, bool) {
	if why, bad := c.name(name); bad {
		return why, true
	}
	switch {
	case bytes.HasPrefix(data, []byte("MZ")):
		return fmt.Sprintf("%q is a Windows program", name), true
	case bytes.HasPrefix(data, []byte("\x7fELF")):
		return fmt.Sprintf("%q is an ELF program", name), true
	case bytes.HasPrefix(data, []byte("#!")):
		return fmt.Sprintf("%q is a script", name), true
	case bytes.HasPrefix(data, []byte("PK\x03\x04")):
		if truncated {
			return fmt.Sprintf("archive %q is too large to inspect", name), true
		}
		return c.zip(name, data, depth+1)
	}
	return "", false
}

func (c *attachmentCheck) name(name string) (string, bool) {
	n := strings.ToLower(strings.TrimRight(strings.TrimSpace(name), ". "))
	n = path.Base(strings.ReplaceAll(n, "\\", "/"))
	parts := strings.Split(n, ".")
	if len(parts) < 2 {
		return "", false
	}
	ext := strings.TrimSpace(parts[len(parts)-1])
	if !c.blocked[ext] {
		return "", false
	}
	if len(parts) > 2 {
		return fmt.Sprintf("%q has a double extension hiding .%s", name, ext), true
	}
	return fmt.Sprintf("%q: .%s files are not accepted", name, ext), true
}

func (c *attachmentCheck) zip(name string, data []byte, depth int) (string, bool) {
	maxDepth, maxUnpacked := c.p.MaxDepth, c.p.MaxUnpacked
	if maxDepth <= 0 {
		maxDepth = 3
	}
	if maxUnpacked <= 0 {
		maxUnpacked = 64 << 20
	}
	if depth > maxDepth {
		return fmt.Sprintf("archive %q is nested too deep", name), true
	}
	zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		return "", false // not a zip after all: nothing more to see
	}
	if len(zr.File) > 10000 {
		return fmt.Sprintf("archive %q has too many files", name), true
	}
	for _, f := range zr.File {
		if why, bad := c.name(f.Name); bad {
			return "in " + name + ": " + why, true
		}
		if f.Flags&1 != 0 { // encrypted: only the name can be judged
			continue
		}
		rc, err := f.Open()
		if err != nil {
			continue
		}
		left := maxUnpacked - c.unpacked
		body, err := io.ReadAll(io.LimitReader(rc, left+1))
		rc.Close()
		c.unpacked += int64(len(body))
		if c.unpacked > maxUnpacked {
			return fmt.Sprintf("archive %q unpacks to too much", name), true
		}
		if err != nil {
			continue
		}
		if why, bad := c.file(f.Name, body, false, depth); bad {
			return "in " + name + ": " + why, true
		}
	}
	return "", false
}
