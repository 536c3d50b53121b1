package maildir

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestTwoProcessesAssignUIDs runs three processes that each deliver and sync
// the same folder many times. Between them no UID may name two messages,
// no message may get two UIDs, and the UIDs must survive reopening.
func TestTwoProcessesAssignUIDs(t *testing.T) {
	s, _ := newUser(t)
	const rounds, procs = 150, 3
	start := time.Now().Add(300 * time.Millisecond) // all begin at once
	outs := make([][]byte, procs)
	var wg sync.WaitGroup
	for i := range outs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cmd := helperCommand(t, "uids", false, "MAILDIR_DIR="+s.Dir(), "MAILDIR_ROUNDS="+strconv.Itoa(rounds), fmt.Sprintf("MAILDIR_ID=%d", i), fmt.Sprintf("MAILDIR_START=%d", start.UnixNano()))
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			out, err := cmd.Output()
			if err != nil {
				t.Errorf("helper %d: %v\n%s", i, err, stderr.Bytes())
			}
			outs[i] = out
		}()
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	byUID := map[uint32]string{}
	byKey := map[string]uint32{}
	var validity string
	for i, out := range outs {
		sc := bufio.NewScanner(bytes.NewReader(out))
		for sc.Scan() {
			f := strings.Fields(sc.Text())
			if f[0] == "V" {
				if validity != "" && f[1] != validity {
					t.Fatalf("UIDVALIDITY %s and %s", validity, f[1])
				}
				validity = f[1]
				continue
			}
			uid64, _ := strconv.ParseUint(f[0], 10, 32)
			uid, key := uint32(uid64), f[1]
			if k, ok := byUID[uid]; ok && k != key {
				t.Fatalf("process %d: UID %d is %s, elsewhere %s", i, uid, key, k)
			}
			if u, ok := byKey[key]; ok && u != uid {
				t.Fatalf("process %d: %s has UID %d, elsewhere %d", i, key, uid, u)
			}
			byUID[uid], byKey[key] = key, uid
		}
	}
	if len(byKey) != procs*rounds {
		t.Fatalf("saw %d messages, want %d", len(byKey), procs*rounds)
	}
	// A fresh process (store, user, folder) sees the same UIDs.
	s2, err := Open(s.Dir(), Options{UID: -1, GID: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	u2, err := s2.User(bob)
	if err != nil {
		t.Fatal(err)
	}
	defer u2.Close()
	snap := mustSync(t, mustFolder(t, u2, Inbox))
	if strconv.FormatUint(uint64(snap.UIDValidity), 10) != validity {
		t.Fatalf("UIDVALIDITY %d after reopening, was %s", snap.UIDValidity, validity)
	}
	if len(snap.Messages) != procs*rounds {
		t.Fatalf("%d messages after reopening", len(snap.Messages))
	}
	for _, m := range snap.Messages {
		if byKey[m.Key] != m.UID {
			t.Fatalf("%s: UID %d after reopening, was %d", m.Key, m.UID, byKey[m.Key])
		}
	}
	if snap.UIDNext != uint32(procs*rounds+1) {
		t.Errorf("UIDNEXT %d, want %d", snap.UIDNext, procs*rounds+1)
	}
}

// helperUIDs delivers and syncs MAILDIR_ROUNDS times and prints every
// "UID key" pair it was shown, plus "V <uidvalidity>".
func helperUIDs() error {
	rounds, _ := strconv.Atoi(os.Getenv("MAILDIR_ROUNDS"))
	s, err := Open(os.Getenv("MAILDIR_DIR"), Options{UID: -1, GID: -1, Hostname: "p" + os.Getenv("MAILDIR_ID")})
	if err != nil {
		return err
	}
	u, err := s.User(bob)
	if err != nil {
		return err
	}
	ctx := context.Background()
	startNS, _ := strconv.ParseInt(os.Getenv("MAILDIR_START"), 10, 64)
	time.Sleep(time.Until(time.Unix(0, startNS)))
	seen := map[uint32]string{}
	var validity uint32
	for i := 0; i < rounds; i++ {
		if _, err := u.Deliver(ctx, strings.NewReader(fmt.Sprintf("Subject: %d\n\nx\n", i)), DeliverOptions{}); err != nil {
			return err
		}
		// A new Folder each time half of the rounds: a fresh process view.
		f, err := u.Folder(Inbox)
		if err != nil {
			return err
		}
		snap, err := f.SyncWith(ctx, SyncOptions{ReadOnly: i%2 == 0})
		if err != nil {
			return err
		}
		validity = snap.UIDValidity
		for _, m := range snap.Messages {
			if k, ok := seen[m.UID]; ok && k != m.Key {
				return fmt.Errorf("UID %d changed from %s to %s", m.UID, k, m.Key)
			}
			seen[m.UID] = m.Key
		}
	}
	w := bufio.NewWriter(os.Stdout)
	fmt.Fprintf(w, "V %d\n", validity)
	for uid, key := range seen {
		fmt.Fprintf(w, "%d %s\n", uid, key)
	}
	return w.Flush()
}
