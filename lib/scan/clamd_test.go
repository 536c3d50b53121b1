package scan

import (
	"context"
	"errors"
	"strings"
	"testing"

	"mailctl/lib/scan/scantest"
)

func TestClamdReal(t *testing.T) {
	cd := scantest.StartClamd(t)
	c := &Clamd{Address: cd.Socket}
	eicar := scantest.EICARMessage("a@pass.test", "u@example.org")
	for _, tc := range []struct {
		name, msg, result, virus string
	}{
		{"eicar attachment", eicar, "virus", "Eicar-Test-Signature.UNOFFICIAL"},
		{"clean", string(msgFrom("a@pass.test", "hi", "nothing to see")), "clean", ""},
		{"big clean", string(msgFrom("a@pass.test", "hi", strings.Repeat("line of text\r\n", 20000))), "clean", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := c.Scan(context.Background(), []byte(tc.msg))
			if err != nil {
				t.Fatal(err)
			}
			if r.Result != tc.result || r.Virus != tc.virus {
				t.Errorf("got %+v, want %s %q", r, tc.result, tc.virus)
			}
		})
	}

	// Through the Scanner: a virus is refused whatever the score.
	d := newZone(t)
	s := newScanner(t, d, Options{Engines: []EngineConfig{{Engine: c, OnDown: PolicyTempFail}}})
	rep, err := s.Check(context.Background(), env("a@pass.test"), []byte(eicar))
	if err != nil {
		t.Fatal(err)
	}
	if rep.Action != "reject" || rep.Virus != "Eicar-Test-Signature.UNOFFICIAL" || !strings.Contains(rep.Reason, "Virus") {
		t.Errorf("eicar: %s %q %q", rep.Action, rep.Virus, rep.Reason)
	}

	// Submission: the engines alone, no spam score, no headers.
	vo := newScanner(t, d, Options{VirusOnly: true, SpamScore: 0.1, Engines: []EngineConfig{{Engine: c}}})
	for _, m := range []string{eicar, string(msgFrom("a@fail.test", "CAPS CAPS CAPS CAPS", "x"))} {
		rep, err := vo.Check(context.Background(), env("a@fail.test"), []byte(m))
		if err != nil {
			t.Fatal(err)
		}
		want := "accept"
		if m == eicar {
			want = "reject"
		}
		if rep.Action != want || len(rep.Results) != 1 || len(rep.Headers) != 0 {
			t.Errorf("virus only: %s %+v %q", rep.Action, rep.Results, rep.Headers)
		}
	}

	// clamd down: the policy decides.
	cd.Stop()
	if _, err := c.Scan(context.Background(), []byte(eicar)); !errors.Is(err, ErrClamdUnreachable) {
		t.Fatalf("stopped clamd: %v", err)
	}
	for _, tc := range []struct {
		policy EnginePolicy
		action string
	}{{PolicyTempFail, "tempfail"}, {PolicyAccept, "accept"}} {
		s := newScanner(t, d, Options{Engines: []EngineConfig{{Engine: c, OnDown: tc.policy}}})
		rep, err := s.Check(context.Background(), env("a@pass.test"), msgFrom("a@pass.test", "hi", "x"))
		if err != nil {
			t.Fatal(err)
		}
		if rep.Action != tc.action || rep.EngineDown != "clamav" {
			t.Errorf("%s: action %s, down %q", tc.policy, rep.Action, rep.EngineDown)
		}
		skipped := strings.Contains(strings.Join(rep.Headers, "\n"), "X-Scan-Skipped: clamav")
		if skipped != (tc.policy == PolicyAccept) {
			t.Errorf("%s: headers %q", tc.policy, rep.Headers)
		}
	}
}
