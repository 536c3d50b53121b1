package crlf

import "testing"

func TestNormalize(t *testing.T) {
	tests := []struct{ in, want string }{
		{"a\r\nb\r\n", "a\r\nb\r\n"},
		{"a\nb\n", "a\r\nb\r\n"},
		{"a\rb\r", "a\r\nb\r\n"},
		{"a\r\r\nb", "a\r\n\r\nb"},
		{"a\r\n\rb\n\n", "a\r\n\r\nb\r\n\r\n"},
		{"x\n.\r\n", "x\r\n.\r\n"},
		{"\n", "\r\n"},
		{"", ""},
	}
	for _, tt := range tests {
		if got := string(Normalize([]byte(tt.in))); got != tt.want {
			t.Errorf("Normalize(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestNormalizeCleanIsNotCopied(t *testing.T) {
	in := []byte("a\r\nb\r\n")
	if out := Normalize(in); &out[0] != &in[0] {
		t.Error("a clean message was copied")
	}
}

func FuzzNormalize(f *testing.F) {
	for _, s := range []string{"a\nb", "a\rb", "a\r\nb", "\r\r\n\n", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		out := Normalize([]byte(s))
		for i, c := range out {
			if c == '\n' && (i == 0 || out[i-1] != '\r') || c == '\r' && (i+1 == len(out) || out[i+1] != '\n') {
				t.Fatalf("Normalize(%q) = %q has a bare line end", s, out)
			}
		}
		if string(Normalize(out)) != string(out) {
			t.Fatalf("Normalize is not idempotent on %q", s)
		}
	})
}
