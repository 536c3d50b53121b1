package smtpout

import (
	"bufio"
	"strings"
	"testing"
)

func TestReadReply(t *testing.T) {
	tests := []struct {
		in       string
		code     int
		enhanced [3]int
		text     string
		lines    int
	}{
		{"250 OK\r\n", 250, [3]int{}, "OK", 1},
		{"250\r\n", 250, [3]int{}, "", 1},
		{"550 5.1.1 No such user\r\n", 550, [3]int{5, 1, 1}, "No such user", 1},
		{"452-4.5.3 Too many\r\n452 4.5.3 recipients\r\n", 452, [3]int{4, 5, 3}, "Too many recipients", 2},
		{"250-mx.example Hello\r\n250-PIPELINING\r\n250 SIZE 1000\r\n", 250, [3]int{}, "mx.example Hello PIPELINING SIZE 1000", 3},
		{"550 4.1.1 class mismatch\r\n", 550, [3]int{}, "4.1.1 class mismatch", 1},
		{"354 3.0.0 go ahead\r\n", 354, [3]int{}, "3.0.0 go ahead", 1},
		{"421 bye\n", 421, [3]int{}, "bye", 1},
		{"554 5.7.1 \x1b[31mred\r\n", 554, [3]int{5, 7, 1}, "[31mred", 1},
	}
	for _, tt := range tests {
		r, lines, err := readReply(bufio.NewReader(strings.NewReader(tt.in)))
		if err != nil {
			t.Errorf("%q: %v", tt.in, err)
			continue
		}
		if r.Code != tt.code || r.Enhanced != tt.enhanced || r.Text != tt.text || len(lines) != tt.lines {
			t.Errorf("%q: got %d %v %q (%d lines), want %d %v %q (%d)", tt.in, r.Code, r.Enhanced, r.Text, len(lines), tt.code, tt.enhanced, tt.text, tt.lines)
		}
	}
}

func TestReadReplyRejects(t *testing.T) {
	for _, in := range []string{
		"", "25\r\n", "abc hello\r\n", "250x\r\n", "199 too low\r\n", "600 too high\r\n",
		"250-a\r\n251 b\r\n", "250-unterminated\r\n",
		"250 " + strings.Repeat("x", 3000) + "\r\n",
		strings.Repeat("250-x\r\n", 300) + "250 y\r\n",
	} {
		if r, _, err := readReply(bufio.NewReader(strings.NewReader(in))); err == nil {
			t.Errorf("%q accepted as %v", clip(in), r)
		}
	}
}

func TestReplyClasses(t *testing.T) {
	tests := []struct {
		r               Reply
		temp, perm, pol bool
		status, str     string
	}{
		{Reply{Code: 451, Enhanced: [3]int{4, 7, 1}, Text: "greylisted"}, true, false, false, "4.7.1", "451 4.7.1 greylisted"},
		{Reply{Code: 550, Enhanced: [3]int{5, 7, 1}, Text: "blocked"}, false, true, true, "5.7.1", "550 5.7.1 blocked"},
		{Reply{Code: 550, Enhanced: [3]int{5, 1, 1}}, false, true, false, "5.1.1", "550 5.1.1"},
		{Reply{Code: 554, Text: "go away"}, false, true, false, "5.0.0", "554 go away"},
		{Reply{Code: 421}, true, false, false, "4.0.0", "421"},
	}
	for _, tt := range tests {
		if tt.r.Temporary() != tt.temp || tt.r.Permanent() != tt.perm || tt.r.Policy() != tt.pol || tt.r.Status() != tt.status || tt.r.String() != tt.str {
			t.Errorf("%+v: temp %v perm %v policy %v status %s string %q", tt.r, tt.r.Temporary(), tt.r.Permanent(), tt.r.Policy(), tt.r.Status(), tt.r.String())
		}
	}
}

func TestParseEHLO(t *testing.T) {
	ext := parseEHLO([]string{"mx.example greets you", "PIPELINING", "size 35882577", "AUTH=PLAIN LOGIN", "8BITMIME", "", "STARTTLS"})
	for k, v := range map[string]string{"PIPELINING": "", "SIZE": "35882577", "AUTH": "PLAIN LOGIN", "8BITMIME": "", "STARTTLS": ""} {
		if got, ok := ext[k]; !ok || got != v {
			t.Errorf("ext[%s] = %q, %v; want %q", k, got, ok, v)
		}
	}
	if _, ok := ext["MX.EXAMPLE"]; ok {
		t.Error("the greeting line was taken for a keyword")
	}
	if ext := parseEHLO([]string{"x", "AUTH=LOGIN", "AUTH PLAIN"}); ext["AUTH"] != "PLAIN" {
		t.Errorf("AUTH after AUTH= = %q", ext["AUTH"])
	}
}

func FuzzReadReply(f *testing.F) {
	for _, s := range []string{
		"250 OK\r\n", "550 5.1.1 No such user\r\n", "452-4.5.3 a\r\n452 4.5.3 b\r\n",
		"250-x\r\n250-SIZE 10\r\n250 8BITMIME\r\n", "220\n", "5.1.1 550\r\n", "550 5.01.001 x\r\n",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		r, lines, err := readReply(bufio.NewReader(strings.NewReader(in)))
		if err != nil {
			return
		}
		if r.Code < 200 || r.Code > 599 || len(lines) == 0 {
			t.Fatalf("%q: code %d, %d lines", in, r.Code, len(lines))
		}
		if r.Enhanced != [3]int{} && r.Enhanced[0] != r.Code/100 {
			t.Fatalf("%q: enhanced %v for code %d", in, r.Enhanced, r.Code)
		}
		if strings.ContainsAny(r.Text, "\r\n\x00") {
			t.Fatalf("%q: control characters in text %q", in, r.Text)
		}
		parseEHLO(lines)
		_ = r.String() + r.Status()
	})
}
