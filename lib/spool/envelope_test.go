package spool

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"mailctl/lib/addr"
)

func fullEnvelope() Envelope {
	return Envelope{
		ID:   "0006263a1f2c4b00f1a20001a3c9",
		From: addr.MustParse(`"john doe"@example.org`),
		Recipients: []Recipient{
			{Address: addr.MustParse("alice@example.net")},
			{Address: addr.MustParse("carol@bücher.example"), Status: StatusSent},
			{Address: addr.MustParse("dave@example.org"), Local: true, Status: StatusFailed, LastError: "552 5.2.2 mailbox \"full\"\nsecond line"},
		},
		Received:    time.Date(2025, 1, 2, 3, 4, 5, 123456789, time.UTC),
		Attempts:    3,
		NextAttempt: time.Date(2025, 1, 2, 4, 0, 0, 0, time.UTC),
		LastError:   "451 4.7.1 try later",
		Origin:      "smtpd",
		AuthUser:    "bob@example.org",
		SMTPUTF8:    true,
		EightBit:    true,
		RequireTLS:  true,
	}
}

func TestEnvelopeRoundTrip(t *testing.T) {
	for _, env := range []Envelope{
		fullEnvelope(),
		{ // minimal: null sender, nothing optional
			ID:         "0006263a1f2c4b00f1a20001a3c9",
			Recipients: []Recipient{{Address: addr.MustParse("a@b.example")}},
			Received:   time.Unix(1, 0).UTC(),
		},
	} {
		data, err := marshalEnvelope(&env)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Count(string(data), "\n") < 6 || !strings.HasSuffix(string(data), "\nend\n") {
			t.Errorf("unexpected shape:\n%s", data)
		}
		got, err := parseEnvelope(data)
		if err != nil {
			t.Fatalf("%v\n%s", err, data)
		}
		if !reflect.DeepEqual(got, env) {
			t.Errorf("round trip:\n got %+v\nwant %+v\n%s", got, env, data)
		}
	}
}

func TestParseEnvelopeErrors(t *testing.T) {
	good, _ := marshalEnvelope(&Envelope{
		ID:         "0006263a1f2c4b00f1a20001a3c9",
		From:       addr.MustParse("bob@example.org"),
		Recipients: []Recipient{{Address: addr.MustParse("a@b.example")}},
		Received:   time.Unix(1e9, 0),
	})
	g := string(good)
	tests := []struct {
		name, text string
	}{
		{"empty", ""},
		{"truncated", g[:len(g)-4]},
		{"no end", strings.Replace(g, "end\n", "", 1)},
		{"no newline at end", g[:len(g)-1]},
		{"text after end", g + "rcpt pending remote \"x@y.example\" \"\"\n"},
		{"wrong magic", strings.Replace(g, "envelope 1", "envelope 2", 1)},
		{"no id", strings.Replace(g, "id \"0006263a1f2c4b00f1a20001a3c9\"\n", "", 1)},
		{"bad id", strings.Replace(g, "0006263a", "../../x", 1)},
		{"unquoted id", strings.Replace(g, "\"0006263a1f2c4b00f1a20001a3c9\"", "0006263a1f2c4b00f1a20001a3c9", 1)},
		{"repeated key", strings.Replace(g, "attempts 0\n", "attempts 0\nattempts 1\n", 1)},
		{"negative attempts", strings.Replace(g, "attempts 0", "attempts -1", 1)},
		{"bad attempts", strings.Replace(g, "attempts 0", "attempts many", 1)},
		{"bad time", strings.Replace(g, "received 2001", "received 20x1", 1)},
		{"no received", strings.Replace(g, "received 2001-09-09T01:46:40Z\n", "", 1)},
		{"no recipients", strings.Replace(g, "rcpt pending remote \"a@b.example\" \"\"\n", "", 1)},
		{"bad status", strings.Replace(g, "rcpt pending", "rcpt maybe", 1)},
		{"bad kind", strings.Replace(g, "pending remote", "pending far", 1)},
		{"bad rcpt address", strings.Replace(g, "\"a@b.example\"", "\"a@\"", 1)},
		{"rcpt without error", strings.Replace(g, "\"a@b.example\" \"\"", "\"a@b.example\"", 1)},
		{"rcpt trailing junk", strings.Replace(g, "\"a@b.example\" \"\"", "\"a@b.example\" \"\" x", 1)},
		{"bad from", strings.Replace(g, "from \"bob@example.org\"", "from \"bob@\"", 1)},
		{"flag with value", strings.Replace(g, "end\n", "smtputf8 yes\nend\n", 1)},
		{"year out of range", strings.Replace(g, "2001-09-09T01:46:40Z", "0001-01-01T00:30:00+01:00", 1)},
		{"CR in line", strings.Replace(g, "attempts 0\n", "attempts 0\r\n", 1)},
	}
	for _, tt := range tests {
		if env, err := parseEnvelope([]byte(tt.text)); err == nil {
			t.Errorf("%s: parsed as %+v", tt.name, env)
		}
	}
	// Unknown keys are tolerated (written by a newer version).
	if _, err := parseEnvelope([]byte(strings.Replace(g, "end\n", "priority \"high\"\nend\n", 1))); err != nil {
		t.Errorf("unknown key refused: %v", err)
	}
	if _, err := parseEnvelope(good); err != nil {
		t.Errorf("the good envelope: %v", err)
	}
}

// FuzzParseEnvelope: the parser never panics, and whatever it accepts
// writes back to a file that parses to the same envelope.
func FuzzParseEnvelope(f *testing.F) {
	env := fullEnvelope()
	full, _ := marshalEnvelope(&env)
	f.Add(full)
	f.Add([]byte(envelopeMagic + "\nid \"0006263a1f2c4b00f1a20001a3c9\"\nreceived 2025-01-02T03:04:05+02:00\nrcpt pending local \"\\\"a b\\\"@x.example\" \"\"\nend\n"))
	f.Add([]byte(envelopeMagic + "\nend\n"))
	f.Add([]byte("garbage"))
	f.Fuzz(func(t *testing.T, data []byte) {
		env, err := parseEnvelope(data)
		if err != nil {
			return
		}
		out, err := marshalEnvelope(&env)
		if err != nil {
			t.Fatalf("parsed envelope does not marshal: %v\n%+v", err, env)
		}
		again, err := parseEnvelope(out)
		if err != nil {
			t.Fatalf("rewritten envelope does not parse: %v\n%s", err, out)
		}
		if !reflect.DeepEqual(again, env) {
			t.Fatalf("round trip changed it:\n%+v\n%+v", env, again)
		}
	})
}
