package pickup

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

func TestParseArgs(t *testing.T) {
	tests := []struct {
		name string
		args string
		want Args
	}{
		{"debian cron", "-FCronDaemon -i -B8BITMIME -oem root",
			Args{Request: Request{FullName: "CronDaemon", Recipients: []string{"root"}}, IgnoreDots: true}},
		{"-t alone", "-t", Args{Request: Request{Extract: true}}},
		{"-oi and queue modes", "-oi -odi -odq -v bob@example.org",
			Args{Request: Request{Recipients: []string{"bob@example.org"}}, IgnoreDots: true, Verbose: true}},
		{"values as next arguments", "-N never -R hdrs -V envid -X /tmp/log -O DeliveryMode=b -f alice -F Alice Smith root",
			Args{Request: Request{From: "alice", FromSet: true, FullName: "Alice", Recipients: []string{"Smith", "root"}}}},
		{"glued values", "-falice@example.org -FAlice -Ndelay,failure -bm root",
			Args{Request: Request{From: "alice@example.org", FromSet: true, FullName: "Alice", Recipients: []string{"root"}}}},
		{"-r is -f", "-r <> root", Args{Request: Request{From: "<>", FromSet: true, Recipients: []string{"root"}}}},
		{"empty -f", "-f  root", Args{Request: Request{From: "", FromSet: true, Recipients: []string{"root"}}}},
		{"combined flags", "-ti -fbob", Args{Request: Request{From: "bob", FromSet: true, Extract: true}, IgnoreDots: true}},
		{"flags then glued value", "-tfbob", Args{Request: Request{From: "bob", FromSet: true, Extract: true}}},
		{"options after recipients", "root -i", Args{Request: Request{Recipients: []string{"root"}}, IgnoreDots: true}},
		{"double dash", "-i -- -notanoption root", Args{Request: Request{Recipients: []string{"-notanoption", "root"}}, IgnoreDots: true}},
		{"ignored odds and ends", "-U -n -m -G -d0.1 -Am -h 17 -L tag -p smtp -C /etc/mail/sendmail.cf root",
			Args{Request: Request{Recipients: []string{"root"}}}},
		{"global config flag", "--config /etc/x.toml -t", Args{Request: Request{Extract: true}, Config: "/etc/x.toml"}},
		{"global config flag with =", "--config=/etc/x.toml --log-level=debug root",
			Args{Request: Request{Recipients: []string{"root"}}, Config: "/etc/x.toml"}},
		{"newaliases", "-bi", Args{NoOp: true}},
		{"help", "--help", Args{Help: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := strings.Fields(tt.args)
			if tt.name == "empty -f" {
				args = []string{"-f", "", "root"}
			}
			got, err := ParseArgs(args)
			if err != nil {
				t.Fatalf("ParseArgs(%q): %v", tt.args, err)
			}
			tt.want.UID = -1
			got.Ignored = nil
			if !equalArgs(got, tt.want) {
				t.Errorf("ParseArgs(%q)\n got %+v\nwant %+v", tt.args, got, tt.want)
			}
		})
	}
}

func equalArgs(a, b Args) bool {
	return a.From == b.From && a.FromSet == b.FromSet && a.FullName == b.FullName &&
		slices.Equal(a.Recipients, b.Recipients) && a.Extract == b.Extract && a.UID == b.UID &&
		a.IgnoreDots == b.IgnoreDots && a.Verbose == b.Verbose && a.NoOp == b.NoOp &&
		a.Help == b.Help && a.Config == b.Config
}

func TestParseArgsIgnoredAreListed(t *testing.T) {
	a, err := ParseArgs(strings.Fields("-FCronDaemon -i -B8BITMIME -oem -N never root"))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(a.Ignored, []string{"-B8BITMIME", "-oem", "-Nnever"}) {
		t.Errorf("Ignored = %q", a.Ignored)
	}
}

func TestParseArgsRefused(t *testing.T) {
	tests := []struct{ args, wantText string }{
		{"-bd", "daemon mode"},
		{"-bs", "only -bm"},
		{"-bp", "mailctl queue list"},
		{"-bv root", "only -bm"},
		{"-q", "mailctl queue run"},
		{"-q1h", "mailctl queue run"},
		{"-Z root", "unknown option -Z"},
		{"--frobnicate root", "unknown option --frobnicate"},
		{"-f", "needs a value"},
		{"root -F", "needs a value"},
		{"--config", "needs a value"},
		{"-i", "no recipients"},
		{"", "no recipients"},
	}
	for _, tt := range tests {
		_, err := ParseArgs(strings.Fields(tt.args))
		var pe *Error
		if !errors.As(err, &pe) || pe.Code != ExUsage || !strings.Contains(pe.Msg, tt.wantText) {
			t.Errorf("ParseArgs(%q) = %v, want exit 64 mentioning %q", tt.args, err, tt.wantText)
		}
	}
}
