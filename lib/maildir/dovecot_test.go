package maildir

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"mailctl/lib/testenv"
)

// dovecot runs doveadm against one Maildir, offline (no server, no
// userdb): doveadm mail commands without -u act for $USER with the
// config's mail_location, as uid 65534 (Dovecot refuses root).
type dovecot struct {
	t       *testing.T
	doveadm string
	conf    string
	home    string
}

// newDovecot writes a throwaway config for the Maildir at maildir. The
// listescape plugin makes Dovecot spell "." in names as "\2e", as we do.
func newDovecot(t *testing.T, dir, maildir string) *dovecot {
	t.Helper()
	doveadm := testenv.NeedCommand(t, "doveadm", "dovecot-core")
	home := filepath.Join(dir, "dovecot-home")
	run := filepath.Join(dir, "dovecot-run")
	for _, d := range []string{home, run} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	os.Chown(home, 65534, 65534)
	conf := filepath.Join(dir, "dovecot.conf")
	cfg := `base_dir = ` + run + `
state_dir = ` + run + `
log_path = /dev/stderr
ssl = no
protocols =
mail_location = maildir:` + maildir + `:LAYOUT=maildir++
mail_uid = 65534
mail_gid = 65534
mail_plugins = listescape
plugin {
  listescape_char = "\\"
}
namespace inbox {
  inbox = yes
  separator = /
}
`
	if err := os.WriteFile(conf, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	return &dovecot{t: t, doveadm: doveadm, conf: conf, home: home}
}

func (d *dovecot) run(stdin string, args ...string) []byte {
	d.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, d.doveadm, append([]string{"-c", d.conf}, args...)...)
	cmd.Env = []string{"USER=nobody", "HOME=" + d.home, "PATH=/usr/sbin:/usr/bin:/sbin:/bin"}
	cmd.Stdin = strings.NewReader(stdin)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		d.t.Fatalf("doveadm %v: %v\n%s", args, err, stderr.Bytes())
	}
	return out
}

// fetch returns doveadm's JSON fetch result for a folder.
func (d *dovecot) fetch(folder, fields string) []map[string]string {
	d.t.Helper()
	var res []map[string]string
	out := d.run("", "-f", "json", "fetch", fields, "mailbox", folder, "all")
	if err := json.Unmarshal(out, &res); err != nil {
		d.t.Fatalf("doveadm fetch output %q: %v", out, err)
	}
	return res
}

func dovecotSetup(t *testing.T) (string, *Store, *User) {
	dir := sharedTempDir(t)
	s, u := newUserAt(t, filepath.Join(dir, "mail"), Options{UID: 65534, GID: 65534, Hostname: "mailctl.test"})
	os.Chmod(s.Dir(), 0o755) // Open made it 0700 for root; Dovecot runs as 65534
	return dir, s, u
}

// Dovecot writes messages, folders and flags; our store sees the same.
func TestDovecotWritesWeRead(t *testing.T) {
	dir, s, u := dovecotSetup(t)
	dv := newDovecot(t, dir, userDir(s))

	dv.run("Subject: one\r\n\r\nbody one\r\n", "save")
	dv.run("Subject: two\n\nbody two\n", "save")
	dv.run("Subject: three\n\nbody three\n", "save")
	dv.run("", "mailbox", "create", "Lists/Gö", "a.b")
	dv.run("Subject: go\n\ngophers\n", "save", "-m", "Lists/Gö")
	dv.run("Subject: dot\n\ndot\n", "save", "-m", "a.b")
	dv.run("", "flags", "add", `\Seen`, "mailbox", "INBOX", "uid", "1")
	dv.run("", "flags", "add", `\Flagged $Forwarded Custom`, "mailbox", "INBOX", "uid", "2")
	dv.run("", "flags", "add", `\Deleted \Answered \Draft`, "mailbox", "INBOX", "uid", "3")

	names, err := u.Folders()
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Lists/Gö", "a.b", "Sent"} {
		if !slices.Contains(names, want) {
			t.Errorf("Folders() = %v, lacks %q", names, want)
		}
	}
	f := mustFolder(t, u, Inbox)
	snap := mustSync(t, f)
	if len(snap.Messages) != 3 {
		t.Fatalf("INBOX: %d messages, want 3", len(snap.Messages))
	}
	want := map[string]struct {
		flags    string
		keywords []string
		body     string
	}{
		"one":   {"S", nil, "Subject: one\n\nbody one\n"},
		"two":   {"F", []string{"$Forwarded", "Custom"}, "Subject: two\n\nbody two\n"},
		"three": {"DRT", nil, "Subject: three\n\nbody three\n"},
	}
	for _, m := range snap.Messages {
		body := readMessage(t, f, m)
		subj := strings.TrimPrefix(strings.SplitN(body, "\n", 2)[0], "Subject: ")
		w, ok := want[subj]
		if !ok {
			t.Fatalf("unexpected message %q", body)
		}
		if body != w.body || m.Flags != w.flags || !slices.Equal(m.Keywords, w.keywords) {
			t.Errorf("%s: flags %q keywords %v body %q; want %q %v %q", subj, m.Flags, m.Keywords, body, w.flags, w.keywords, w.body)
		}
		if m.Size != int64(len(w.body)) || m.CRLFSize != int64(len(w.body)+strings.Count(w.body, "\n")) {
			t.Errorf("%s: size %d/%d", subj, m.Size, m.CRLFSize)
		}
	}
	for folder, body := range map[string]string{"Lists/Gö": "Subject: go\n\ngophers\n", "a.b": "Subject: dot\n\ndot\n"} {
		ff := mustFolder(t, u, folder)
		snap := mustSync(t, ff)
		if len(snap.Messages) != 1 || readMessage(t, ff, snap.Messages[0]) != body {
			t.Errorf("%s: %+v", folder, snap.Messages)
		}
	}
}

// We write messages, folders, flags and keywords; Dovecot sees the same.
func TestWeWriteDovecotReads(t *testing.T) {
	dir, s, u := dovecotSetup(t)
	ctx := context.Background()
	deliver(t, u, "Subject: one\r\n\r\nbody one\r\n", DeliverOptions{})
	deliver(t, u, "Subject: two\n\nbody two\n", DeliverOptions{Flags: "S"})
	for _, name := range []string{"Work/Ünï", "a.b"} {
		if err := u.CreateFolder(name); err != nil {
			t.Fatal(err)
		}
	}
	work := mustFolder(t, u, "Work/Ünï")
	if _, err := work.Append(ctx, strings.NewReader("Subject: w\r\n\r\nwork\r\n"), "S", []string{"Important"}, time.Time{}); err != nil {
		t.Fatal(err)
	}
	deliver(t, u, "Subject: dot\n\n.\n", DeliverOptions{Folder: "a.b"})
	inbox := mustFolder(t, u, Inbox)
	snap := mustSync(t, inbox)
	if err := inbox.SetFlags(ctx, snap.Messages[0].UID, "FR", []string{"$Label1"}); err != nil {
		t.Fatal(err)
	}

	dv := newDovecot(t, dir, userDir(s))
	list := strings.Fields(string(dv.run("", "mailbox", "list")))
	for _, want := range []string{"INBOX", "Work/Ünï", "a.b", "Sent", "Drafts", "Trash", "Junk", "Archive"} {
		if !slices.Contains(list, want) {
			t.Errorf("Dovecot's mailbox list %v lacks %q", list, want)
		}
	}
	got := dv.fetch("INBOX", "flags body size.physical size.virtual hdr.subject")
	if len(got) != 2 {
		t.Fatalf("Dovecot sees %d messages in INBOX: %v", len(got), got)
	}
	want := map[string][3]string{ // subject → flags (without \Recent), body, virtual size
		"one": {`\Answered \Flagged $Label1`, "body one\n", "26"},
		"two": {`\Seen`, "body two\n", "26"},
	}
	for _, m := range got {
		w := want[m["hdr.subject"]]
		flags := strings.Join(slices.DeleteFunc(strings.Fields(m["flags"]), func(s string) bool { return s == `\Recent` }), " ")
		if flags != w[0] || m["body"] != w[1] || m["size.virtual"] != w[2] {
			t.Errorf("Dovecot reads %v; want flags %q body %q size.virtual %s", m, w[0], w[1], w[2])
		}
	}
	if w := dv.fetch("Work/Ünï", "flags body"); len(w) != 1 || !strings.Contains(w[0]["flags"], `\Seen`) ||
		!strings.Contains(w[0]["flags"], "Important") || w[0]["body"] != "work\n" {
		t.Errorf("Dovecot reads Work/Ünï as %v", w)
	}
	if d := dv.fetch("a.b", "body"); len(d) != 1 || d[0]["body"] != ".\n" {
		t.Errorf("Dovecot reads a.b as %v", d)
	}
	// And after Dovecot has been through the tree, we still agree.
	again := mustSync(t, mustFolder(t, u, Inbox))
	if len(again.Messages) != 2 || again.UIDValidity != snap.UIDValidity || again.Messages[0].UID != snap.Messages[0].UID {
		t.Errorf("after Dovecot: %+v", again)
	}
}
