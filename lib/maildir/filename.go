package maildir

import (
	"crypto/rand"
	"encoding/hex"
	"strconv"
	"strings"
	"time"
)

// uniqueName returns a fresh base name,
// <unix>.M<usec>P<pid>Q<counter>R<random>.<host>: unique across hosts
// (host), processes (pid), calls in one process (counter) and pid reuse
// within a microsecond (random).
func (s *Store) uniqueName(now time.Time) string {
	var rnd [8]byte
	rand.Read(rnd[:]) // never fails (Go 1.24+)
	b := make([]byte, 0, 64+len(s.host))
	b = strconv.AppendInt(b, now.Unix(), 10)
	b = append(b, ".M"...)
	b = strconv.AppendInt(b, int64(now.Nanosecond()/1000), 10)
	b = append(b, 'P')
	b = strconv.AppendInt(b, int64(s.pid), 10)
	b = append(b, 'Q')
	b = strconv.AppendUint(b, s.counter.Add(1), 10)
	b = append(b, 'R')
	b = hex.AppendEncode(b, rnd[:])
	b = append(b, '.')
	b = append(b, s.host...)
	return string(b)
}

// sanitizeHost makes a host name safe inside a Maildir name: "/", ":" and
// "," (and anything unprintable) become a backslash and three octal digits,
// as the Maildir spec suggests for "/" and ":".
func sanitizeHost(h string) string {
	var b strings.Builder
	for i := 0; i < len(h); i++ {
		c := h[i]
		if c == '/' || c == ':' || c == ',' || c == '\\' || c <= ' ' || c >= 0x7f {
			b.WriteString(`\` + strconv.FormatInt(int64(c)|0o1000, 8)[1:])
			continue
		}
		b.WriteByte(c)
	}
	if b.Len() == 0 {
		return "localhost"
	}
	return b.String()
}

// withSizes appends the S= and W= fields to a base name, giving the key.
func withSizes(base string, size, crlfSize int64) string {
	return base + ",S=" + strconv.FormatInt(size, 10) + ",W=" + strconv.FormatInt(crlfSize, 10)
}

// splitName splits a message file name into key and info ("2,FS").
func splitName(name string) (key, info string) {
	key, info, _ = strings.Cut(name, ":")
	return key, info
}

// infoLetters returns the flag letters of a "2," info, or "".
func infoLetters(info string) string {
	if l, ok := strings.CutPrefix(info, "2,"); ok {
		return l
	}
	return ""
}

// curName is the file name of a message under cur/.
func curName(key, letters string) string { return key + ":2," + letters }

// keySizes parses the S= and W= fields of a key; -1 when absent.
func keySizes(key string) (size, crlfSize int64) {
	size, crlfSize = -1, -1
	i := strings.IndexByte(key, ',')
	if i < 0 {
		return
	}
	rest := key[i+1:]
	for rest != "" {
		field, tail, _ := strings.Cut(rest, ",")
		rest = tail
		if len(field) < 3 || field[1] != '=' {
			continue
		}
		v, err := strconv.ParseInt(field[2:], 10, 64)
		if err != nil || v < 0 {
			continue
		}
		switch field[0] {
		case 'S':
			size = v
		case 'W':
			crlfSize = v
		}
	}
	return size, crlfSize
}

// keyTime is the delivery time at the start of a key, in seconds and the
// microseconds of an "M<usec>" field (for ordering new messages before
// they have UIDs); zero when absent.
func keyTime(key string) (sec, usec int64) {
	head, rest, ok := strings.Cut(key, ".")
	if !ok {
		return 0, 0
	}
	sec, _ = strconv.ParseInt(head, 10, 64)
	if len(rest) > 1 && rest[0] == 'M' {
		end := 1
		for end < len(rest) && rest[end] >= '0' && rest[end] <= '9' {
			end++
		}
		usec, _ = strconv.ParseInt(rest[1:end], 10, 64)
	}
	return sec, usec
}

// validFileName rejects directory entries that can't be message files of
// ours: dot files, and names a UID list line could not hold.
func validFileName(name string) bool {
	return name != "" && name[0] != '.' && !strings.ContainsAny(name, "\n\r")
}
