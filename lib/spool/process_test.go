package spool

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

func helperCommand(t *testing.T, ctx context.Context, h string, env ...string) *exec.Cmd {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(ctx, exe, "-test.run=^$")
	cmd.Env = append(os.Environ(), append([]string{"SPOOL_TEST_HELPER=" + h}, env...)...)
	return cmd
}

// crashBody is the content the enqueue helper writes for message n: large
// enough to take several writes, and ending in a checksum of itself so a
// reader can tell a complete message from a prefix.
func crashBody(n int) []byte {
	b := bytes.Repeat([]byte(fmt.Sprintf("line %d of a message that is long enough\r\n", n)), 3000)
	sum := sha256.Sum256(b)
	return append(b, "sum "+hex.EncodeToString(sum[:])+"\r\n"...)
}

func bodyComplete(b []byte) bool {
	i := bytes.LastIndex(b, []byte("sum "))
	if i < 0 {
		return false
	}
	sum := sha256.Sum256(b[:i])
	return string(b[i:]) == "sum "+hex.EncodeToString(sum[:])+"\r\n"
}

// slowReader hands out its content a little at a time, so a kill lands
// in the middle of the copy as often as between steps.
type slowReader struct {
	r *bytes.Reader
}

func (s slowReader) Read(p []byte) (int, error) {
	if len(p) > 8192 {
		p = p[:8192]
	}
	return s.r.Read(p)
}

// helperEnqueue enqueues messages forever, printing each ID once Enqueue
// returned; the parent kills it.
func helperEnqueue() error {
	s, err := Open(os.Getenv("SPOOL_DIR"), Options{})
	if err != nil {
		return err
	}
	w := bufio.NewWriter(os.Stdout)
	for n := 0; ; n++ {
		id, err := s.Enqueue(context.Background(), testEnvelope(), slowReader{bytes.NewReader(crashBody(n))})
		if err != nil {
			return err
		}
		fmt.Fprintln(w, id)
		w.Flush()
	}
}

// TestCrashDuringEnqueue kills an enqueuing process at random moments.
// Every ID it reported must be complete, and no envelope may be visible
// whose content is not complete; Recover then leaves no debris.
func TestCrashDuringEnqueue(t *testing.T) {
	s := openSpool(t)
	reported := map[string]bool{}
	const rounds = 15
	for round := range rounds {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		cmd := helperCommand(t, ctx, "enqueue", "SPOOL_DIR="+s.dir)
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		// Kill after a varying number of reported messages plus a varying
		// delay, so the kill falls at different steps of an Enqueue.
		want := 1 + round%3
		sc := bufio.NewScanner(out)
		var lines []string
		for len(lines) < want && sc.Scan() {
			lines = append(lines, sc.Text())
		}
		time.Sleep(time.Duration(round*397%5000) * time.Microsecond)
		cmd.Process.Signal(syscall.SIGKILL)
		rest, _ := io.ReadAll(out)
		cmd.Wait()
		cancel()
		lines = append(lines, strings.Fields(string(rest))...)
		if len(lines) < want {
			t.Fatalf("round %d: helper reported %d messages before dying: %s", round, len(lines), stderr.Bytes())
		}
		for _, id := range lines {
			if !validID(id) {
				t.Fatalf("round %d: helper printed %q", round, id)
			}
			reported[id] = true
		}
	}

	ctx := ctxT(t)
	list, err := s.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	listed := map[string]bool{}
	for _, e := range list {
		if e.State != Incoming {
			t.Errorf("%s in %s", e.ID, e.State)
		}
		listed[e.ID] = true
		r, err := s.OpenMessage(e.ID)
		if err != nil {
			t.Errorf("%s: listed but %v", e.ID, err)
			continue
		}
		b, _ := io.ReadAll(r)
		r.Close()
		if !bodyComplete(b) || int64(len(b)) != e.Size {
			t.Errorf("%s: visible with incomplete content (%d bytes)", e.ID, len(b))
		}
	}
	for id := range reported {
		if !listed[id] {
			t.Errorf("%s was reported enqueued but is not in the spool", id)
		}
	}

	// The kills must have landed inside Enqueue, or this proved nothing:
	// some content or temporary file was left without an envelope.
	debris := len(dirNames(t, s, "tmp")) + len(dirNames(t, s, "msg")) - len(listed)
	if debris == 0 {
		t.Error("no kill interrupted an Enqueue")
	}
	s.now = func() time.Time { return time.Now().Add(time.Hour) }
	if _, err := s.Recover(ctx); err != nil {
		t.Fatal(err)
	}
	if n := dirNames(t, s, "tmp"); len(n) != 0 {
		t.Errorf("tmp/ after Recover: %v", n)
	}
	if n := dirNames(t, s, "msg"); len(n) != len(listed) {
		t.Errorf("msg/ holds %d files for %d envelopes after Recover", len(n), len(listed))
	}
	if n := dirNames(t, s, "corrupt"); len(n) != 0 {
		t.Errorf("corrupt/ after crashes: %v", n)
	}
	t.Logf("%d rounds, %d messages reported, %d visible, %d interrupted", rounds, len(reported), len(listed), debris)
}

// helperClaim tries to claim every message in incoming/, in the order
// given, printing the IDs it won.
func helperClaim() error {
	s, err := Open(os.Getenv("SPOOL_DIR"), Options{})
	if err != nil {
		return err
	}
	ids := strings.Fields(os.Getenv("SPOOL_IDS"))
	start, _ := strconv.ParseInt(os.Getenv("SPOOL_START"), 10, 64)
	time.Sleep(time.Until(time.Unix(0, start)))
	for _, id := range ids {
		_, err := s.Claim(context.Background(), id, Incoming)
		switch {
		case err == nil:
			fmt.Println(id)
		case !errors.Is(err, ErrNotFound):
			return err
		}
	}
	return nil
}

// TestTwoProcessesClaim lets two processes race for the same messages:
// each must be won by exactly one.
func TestTwoProcessesClaim(t *testing.T) {
	s := openSpool(t)
	var ids []string
	for range 200 {
		ids = append(ids, enqueue(t, s, "race"))
	}
	start := time.Now().Add(200 * time.Millisecond)
	outs := make([]string, 2)
	var wg sync.WaitGroup
	for i := range outs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			cmd := helperCommand(t, ctx, "claim", "SPOOL_DIR="+s.dir, "SPOOL_IDS="+strings.Join(ids, " "),
				fmt.Sprintf("SPOOL_START=%d", start.UnixNano()))
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			out, err := cmd.Output()
			if err != nil {
				t.Errorf("helper %d: %v: %s", i, err, stderr.Bytes())
			}
			outs[i] = string(out)
		}()
	}
	wg.Wait()
	won := map[string]int{}
	for i, out := range outs {
		for _, id := range strings.Fields(out) {
			if j, ok := won[id]; ok {
				t.Errorf("%s claimed by both process %d and %d", id, j, i)
			}
			won[id] = i
		}
	}
	if len(won) != len(ids) {
		t.Errorf("%d of %d messages claimed", len(won), len(ids))
	}
	if l, _ := s.List(ctxT(t), Active); len(l) != len(ids) {
		t.Errorf("%d messages in active/, want %d", len(l), len(ids))
	}
	t.Logf("process 0 won %d, process 1 won %d", len(strings.Fields(outs[0])), len(strings.Fields(outs[1])))
}
