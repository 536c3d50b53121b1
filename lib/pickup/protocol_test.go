package pickup

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"slices"
	"strings"
	"testing"
)

func TestRequestRoundTrip(t *testing.T) {
	req := Request{
		From: "", FromSet: true, FullName: "Cron \"Daemon\"\tü",
		Recipients: []string{"root", "a@b.example, c@d.example"},
		Extract:    true, UID: 0, Size: 5,
	}
	var b bytes.Buffer
	if err := WriteRequest(&b, req); err != nil {
		t.Fatal(err)
	}
	b.WriteString("hello")
	r := bufio.NewReader(&b)
	got, err := ReadRequest(r, 100, 10)
	if err != nil {
		t.Fatal(err)
	}
	if got.From != req.From || !got.FromSet || got.FullName != req.FullName || !slices.Equal(got.Recipients, req.Recipients) ||
		!got.Extract || got.UID != 0 || got.Size != 5 {
		t.Errorf("round trip: got %+v, want %+v", got, req)
	}
	rest, _ := io.ReadAll(r)
	if string(rest) != "hello" {
		t.Errorf("message after the block: %q", rest)
	}

	// Absent fields stay absent.
	b.Reset()
	WriteRequest(&b, Request{Recipients: []string{"x"}, UID: -1, Size: 0})
	got, err = ReadRequest(bufio.NewReader(&b), 100, 0)
	if err != nil || got.FromSet || got.UID != -1 || got.Extract {
		t.Errorf("minimal request: %+v %v", got, err)
	}
}

func TestReadRequestRefuses(t *testing.T) {
	long := strings.Repeat("x", maxLine+10)
	tests := []struct {
		name, in string
		code     int
	}{
		{"bad magic", "HELO\nsize 1\n\nx", ExDataErr},
		{"unknown key", magic + "\nrcpt \"a\"\nfrob 1\nsize 1\n\nx", ExDataErr},
		{"repeated from", magic + "\nfrom \"a\"\nfrom \"b\"\nsize 1\n\nx", ExDataErr},
		{"unquoted", magic + "\nrcpt root\nsize 1\n\nx", ExDataErr},
		{"newline in value", magic + "\nrcpt \"a\\nb\"\nsize 1\n\nx", ExDataErr},
		{"no size", magic + "\nrcpt \"a\"\n\nx", ExDataErr},
		{"negative size", magic + "\nsize -1\n\n", ExDataErr},
		{"too large", magic + "\nsize 101\n\n", ExDataErr},
		{"long line", magic + "\nrcpt \"" + long + "\"\nsize 1\n\nx", ExDataErr},
		{"too many recipients", magic + "\nrcpt \"a\"\nrcpt \"b\"\nrcpt \"c\"\nsize 1\n\nx", ExUsage},
		{"extract with value", magic + "\nextract yes\nsize 1\n\nx", ExDataErr},
	}
	for _, tt := range tests {
		_, err := ReadRequest(bufio.NewReader(strings.NewReader(tt.in)), 100, 2)
		var pe *Error
		if !errors.As(err, &pe) || pe.Code != tt.code {
			t.Errorf("%s: %v, want code %d", tt.name, err, tt.code)
		}
	}
	if _, err := ReadRequest(bufio.NewReader(strings.NewReader(magic+"\nsize 1\n")), 100, 0); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("truncated block: %v", err)
	}
}

func TestReply(t *testing.T) {
	var b bytes.Buffer
	WriteReply(&b, Reply{ExNoUser, "no such user:\r\nroot"})
	if b.String() != "67 no such user:  root\n" {
		t.Errorf("reply %q", b.String())
	}
	rep, err := ReadReply(bufio.NewReader(&b))
	if err != nil || rep.Code != ExNoUser || rep.Text != "no such user:  root" {
		t.Errorf("ReadReply: %+v %v", rep, err)
	}
	for _, bad := range []string{"ok fine\n", "999 x\n", "-1 x\n", "0 no newline"} {
		if _, err := ReadReply(bufio.NewReader(strings.NewReader(bad))); err == nil {
			t.Errorf("ReadReply(%q) accepted", bad)
		}
	}
}

func FuzzReadRequest(f *testing.F) {
	var b bytes.Buffer
	WriteRequest(&b, Request{From: "a@b", FromSet: true, FullName: "x", Recipients: []string{"root", "b@c"}, Extract: true, UID: 3, Size: 2})
	f.Add(b.Bytes())
	f.Add([]byte(magic + "\nsize 0\n\n"))
	f.Add([]byte(magic + "\nrcpt \"\\u00e9\"\nsize 1\n\nx"))
	f.Fuzz(func(t *testing.T, in []byte) {
		req, err := ReadRequest(bufio.NewReader(bytes.NewReader(in)), 1000, 50)
		if err != nil {
			return
		}
		if req.Size < 0 || req.Size > 1000 || len(req.Recipients) > 50 {
			t.Fatalf("limits not enforced: %+v", req)
		}
		// What was read writes back to a block that reads the same.
		var out bytes.Buffer
		if err := WriteRequest(&out, req); err != nil {
			t.Fatal(err)
		}
		again, err := ReadRequest(bufio.NewReader(&out), 1000, 50)
		if err != nil {
			t.Fatalf("re-read: %v", err)
		}
		if again.From != req.From || again.FromSet != req.FromSet || again.FullName != req.FullName ||
			!slices.Equal(again.Recipients, req.Recipients) || again.UID != req.UID || again.Size != req.Size {
			t.Fatalf("re-read differs: %+v vs %+v", again, req)
		}
	})
}
