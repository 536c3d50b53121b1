package maildir

import (
	"bytes"
	"testing"
)

func TestKeyTime(t *testing.T) {
	tests := []struct {
		key       string
		sec, usec int64
	}{
		{"1700000000.M99P1Q1Rab.host,S=1,W=2", 1700000000, 99},
		{"1700000000.M100000P1.host", 1700000000, 100000},
		{"1600000000.foreign.host", 1600000000, 0},
		{"weird", 0, 0},
	}
	for _, tt := range tests {
		if s, u := keyTime(tt.key); s != tt.sec || u != tt.usec {
			t.Errorf("keyTime(%q) = %d, %d; want %d, %d", tt.key, s, u, tt.sec, tt.usec)
		}
	}
}

func TestKeySizes(t *testing.T) {
	tests := []struct {
		key  string
		s, w int64
	}{
		{"1.M2P3.host,S=100,W=104", 100, 104},
		{"1.M2P3.host,W=104,S=100", 100, 104},
		{"1.M2P3.host,S=100", 100, -1},
		{"1.M2P3.host", -1, -1},
		{"1.M2P3.host,S=x,W=-3", -1, -1},
		{"1.M2P3.a\\054b,S=7,W=8", 7, 8},
	}
	for _, tt := range tests {
		if s, w := keySizes(tt.key); s != tt.s || w != tt.w {
			t.Errorf("keySizes(%q) = %d, %d; want %d, %d", tt.key, s, w, tt.s, tt.w)
		}
	}
}

func TestSanitizeHost(t *testing.T) {
	tests := []struct{ in, want string }{
		{"mail.example.org", "mail.example.org"},
		{"a/b:c,d", `a\057b\072c\054d`},
		{"sp ace", `sp\040ace`},
		{"", "localhost"},
	}
	for _, tt := range tests {
		if got := sanitizeHost(tt.in); got != tt.want {
			t.Errorf("sanitizeHost(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// FuzzUIDList feeds arbitrary lines to the UID list parser: it must not
// panic, and what it keeps must be a consistent one-to-one map below
// UIDNEXT.
func FuzzUIDList(f *testing.F) {
	f.Add([]byte("1 a\n2 b\n-1\n3 a\n"))
	f.Add([]byte("4294967294 x\n4294967295 y\n"))
	f.Add([]byte("0 z\n-\n 1\n1 \n2 k k\n2 j\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		var l uidList
		l.resetMaps()
		l.apply(data[:bytes.LastIndexByte(data, '\n')+1])
		if len(l.byKey) != len(l.byUID) {
			t.Fatalf("%d keys, %d UIDs", len(l.byKey), len(l.byUID))
		}
		for uid, key := range l.byUID {
			if l.byKey[key] != uid {
				t.Fatalf("UID %d -> %q -> %d", uid, key, l.byKey[key])
			}
			if uid == 0 || (uid >= l.next && uid != maxUID) {
				t.Fatalf("UID %d with UIDNEXT %d", uid, l.next)
			}
		}
	})
}
