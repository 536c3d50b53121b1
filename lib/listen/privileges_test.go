package listen

import (
	"bytes"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func TestDropPrivilegesAsRoot(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("SKIPPED LOUDLY: dropping privileges can only be tested as root")
	}
	uid, gid, err := LookupAccount("nobody")
	if err != nil {
		t.Fatalf("this test needs the account nobody: %v", err)
	}
	// A directory anyone may enter, holding a file only root may read.
	dir, err := os.MkdirTemp("", "listen-drop-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "secret"), []byte("root only"), 0o600); err != nil {
		t.Fatal(err)
	}
	// The child, as nobody, can't create files here: give it one to write.
	resultFile := filepath.Join(dir, "result")
	if err := os.WriteFile(resultFile, nil, 0o666); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(resultFile, 0o666); err != nil {
		t.Fatal(err)
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe)
	cmd.Env = append(os.Environ(), childEnv+"=drop", childDir+"="+dir, childResult+"="+resultFile)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
	got, err := os.ReadFile(resultFile)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		fmt.Sprintf("euid=%d egid=%d uid=%d gid=%d", uid, gid, uid, gid),
		fmt.Sprintf("groups=[%d]", gid), // root's groups are gone
		"open-secret-denied=true",
		"setuid0-refused=true",
		"second-drop-err=<nil>", // not root any more: a no-op
	} {
		if !strings.Contains(string(got), want) {
			t.Errorf("child results lack %q:\n%s", want, got)
		}
	}
	if !strings.Contains(string(out), "switched user") {
		t.Errorf("the switch was not logged:\n%s", out)
	}
}

func TestDropPrivilegesKeepsRoot(t *testing.T) {
	tests := []struct {
		name, user, wantErr, wantLog string
	}{
		{"no user configured", "", "", "no user configured"},
		{"account with uid 0", "root", "", "uid 0"},
		{"unknown account", "no-such-user-mailctl", "unknown user", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if os.Geteuid() != 0 {
				t.Skip("SKIPPED LOUDLY: as non-root DropPrivileges is a no-op; these cases need root")
			}
			var logs bytes.Buffer
			err := DropPrivileges(tt.user, slog.New(slog.NewTextHandler(&logs, nil)))
			if os.Geteuid() != 0 {
				t.Fatal("privileges were dropped in the test process")
			}
			if tt.wantErr == "" && err != nil || tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Errorf("error %v, want %q", err, tt.wantErr)
			}
			if !strings.Contains(logs.String(), tt.wantLog) {
				t.Errorf("log %q, want %q", logs.String(), tt.wantLog)
			}
		})
	}
}

func TestLookupAccount(t *testing.T) {
	uid, gid, err := LookupAccount("root")
	if err != nil || uid != 0 || gid != 0 {
		t.Errorf("root: %d %d %v", uid, gid, err)
	}
	if _, _, err := LookupAccount("no-such-user-mailctl"); err == nil {
		t.Error("unknown user: want an error")
	}
}
