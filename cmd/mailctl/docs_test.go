package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

// TestGeneratedDocsUpToDate fails when man/ or completions/ differ from what
// the command tree generates: run `make docs` and commit.
func TestGeneratedDocsUpToDate(t *testing.T) {
	tmp := t.TempDir()
	e := newTestEnv(t, "")
	e.must("", "gendocs", "--man", filepath.Join(tmp, "man"), "--completions", filepath.Join(tmp, "completions"))
	for _, dir := range []string{"man", "completions"} {
		committed := filepath.Join("..", "..", dir)
		gen, err := os.ReadDir(filepath.Join(tmp, dir))
		if err != nil {
			t.Fatal(err)
		}
		have, err := os.ReadDir(committed)
		if err != nil {
			t.Fatalf("%s/ missing: run `make docs` and commit", dir)
		}
		if len(gen) != len(have) {
			t.Errorf("%s/: %d files committed, %d generated: run `make docs`", dir, len(have), len(gen))
		}
		for _, de := range gen {
			want, _ := os.ReadFile(filepath.Join(tmp, dir, de.Name()))
			got, err := os.ReadFile(filepath.Join(committed, de.Name()))
			if err != nil || !bytes.Equal(got, want) {
				t.Errorf("%s/%s is stale: run `make docs` and commit", dir, de.Name())
			}
		}
	}
	// Every subcommand's page has the sections a sysadmin looks for.
	page, err := os.ReadFile(filepath.Join(tmp, "man", "mailctl-deliver.8"))
	if err != nil {
		t.Fatal(err)
	}
	for _, sec := range []string{".SH EXIT STATUS", ".SH FILES", ".SH SECURITY"} {
		if !strings.Contains(string(page), sec) {
			t.Errorf("mailctl-deliver.8 lacks %s", sec)
		}
	}
}

// TestEveryCommandHasSections checks every command documents its exit
// status, files and security, as each man page must.
func TestEveryCommandHasSections(t *testing.T) {
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		if c.Hidden || c.Name() == "help" {
			return
		}
		if c.HasParent() {
			for _, sec := range []string{"EXIT STATUS", "FILES", "SECURITY"} {
				if !strings.Contains(c.Long, "\n"+sec+"\n") {
					t.Errorf("%s: long help lacks a %s section", c.CommandPath(), sec)
				}
			}
		}
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(newRootCmd(&globals{}, ""))
}
