package spool

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"mailctl/lib/addr"
)

func TestMain(m *testing.M) {
	if h := os.Getenv("SPOOL_TEST_HELPER"); h != "" {
		os.Exit(runHelper(h))
	}
	os.Exit(m.Run())
}

func runHelper(name string) int {
	var err error
	switch name {
	case "enqueue":
		err = helperEnqueue()
	case "claim":
		err = helperClaim()
	default:
		err = fmt.Errorf("unknown helper %q", name)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "helper:", err)
		return 1
	}
	return 0
}

func openSpool(t testing.TB) *Spool {
	t.Helper()
	s, err := Open(t.TempDir()+"/queue", Options{})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func testEnvelope() Envelope {
	return Envelope{
		From: addr.MustParse("bob@example.org"),
		Recipients: []Recipient{
			{Address: addr.MustParse("alice@example.net")},
			{Address: addr.MustParse("carol@example.org"), Local: true},
		},
		Origin:   "submitd",
		AuthUser: "bob@example.org",
		EightBit: true,
	}
}

func enqueue(t testing.TB, s *Spool, body string) string {
	t.Helper()
	id, err := s.Enqueue(context.Background(), testEnvelope(), strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// dirNames lists a spool subdirectory.
func dirNames(t testing.TB, s *Spool, sub string) []string {
	t.Helper()
	names, err := readNames(s.dir + "/" + sub)
	if err != nil {
		t.Fatal(err)
	}
	return names
}

func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}
