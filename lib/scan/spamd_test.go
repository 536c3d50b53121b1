package scan

import (
	"context"
	"errors"
	"testing"

	"mailctl/lib/scan/scantest"
)

func TestSpamdReal(t *testing.T) {
	sd := scantest.StartSpamd(t)
	c := &Spamd{Address: sd.Socket}
	for _, tc := range []struct {
		name, msg, result string
		minScore          float64
	}{
		{"gtube", string(msgFrom("a@pass.test", "test", scantest.GTUBE)), "spam", 999},
		{"ham", string(msgFrom("a@pass.test", "Lunch on Friday", "Shall we meet at noon by the fountain?")), "ham", -100},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := c.Scan(context.Background(), []byte(tc.msg))
			if err != nil {
				t.Fatal(err)
			}
			if r.Result != tc.result || r.Score < tc.minScore || (tc.result == "ham" && r.Score >= 5) {
				t.Errorf("got %+v, want %s", r, tc.result)
			}
		})
	}
	d := newZone(t)
	s := newScanner(t, d, Options{Weights: map[string]float64{"gtube": 0}, Engines: []EngineConfig{{Engine: c, OnDown: PolicyAccept}}})
	rep, err := s.Check(context.Background(), env("a@pass.test"), msgFrom("a@pass.test", "test", scantest.GTUBE))
	if err != nil {
		t.Fatal(err)
	}
	if rep.Action != "reject" || find(rep, "spamassassin").Result != "spam" {
		t.Errorf("GTUBE through the scanner: %s %+v", rep.Action, rep.Results)
	}
	sd.Stop()
	if _, err := c.Scan(context.Background(), msgFrom("a@pass.test", "x", "y")); !errors.Is(err, ErrSpamdUnreachable) {
		t.Errorf("stopped spamd: %v", err)
	}
}
