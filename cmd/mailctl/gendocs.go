package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/cobra/doc"
)

// docsDate is fixed so generated man pages are reproducible.
var docsDate = time.Date(2026, time.November, 1, 0, 0, 0, 0, time.UTC)

// newGenDocsCmd generates man pages and shell completions from the command
// tree. It is hidden: it exists for `make man completions` and for the test
// that fails when the committed files are stale.
func newGenDocsCmd(g *globals) *cobra.Command {
	var manDir, complDir string
	c := &cobra.Command{
		Use:    "gendocs",
		Short:  "Generate man pages and shell completions",
		Hidden: true,
		Args:   cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			root := cmd.Root()
			if manDir != "" {
				if err := genMan(root, manDir); err != nil {
					return err
				}
			}
			if complDir != "" {
				if err := genCompletions(root, complDir); err != nil {
					return err
				}
			}
			return nil
		},
	}
	c.Flags().StringVar(&manDir, "man", "", "write man pages into this directory")
	c.Flags().StringVar(&complDir, "completions", "", "write bash, zsh and fish completions into this directory")
	return c
}

var manSections = []string{"EXIT STATUS", "FILES", "SECURITY", "EXAMPLES", "FORMAT"}

// genMan writes one page per command. The capitalised section headings of
// our long help become real man sections, and their bodies are kept as
// preformatted text.
func genMan(root *cobra.Command, dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	restore := map[*cobra.Command]string{}
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		restore[c] = c.Long
		c.Long = manMarkdown(c.Long)
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(root)
	defer func() {
		for c, l := range restore {
			c.Long = l
		}
	}()
	root.DisableAutoGenTag = true
	hdr := &doc.GenManHeader{Title: "MAILCTL", Section: "8", Source: "mailctl", Manual: "mailctl manual", Date: &docsDate}
	return doc.GenManTree(root, hdr, dir)
}

// manMarkdown turns a long help text into the markdown cobra's man
// generator renders.
func manMarkdown(long string) string {
	var b strings.Builder
	inSection := false
	for _, line := range strings.Split(long, "\n") {
		isHead := false
		for _, s := range manSections {
			if line == s {
				isHead = true
			}
		}
		switch {
		case isHead:
			b.WriteString("\n# " + line + "\n\n")
			inSection = true
		case inSection && strings.TrimSpace(line) != "":
			b.WriteString("    " + strings.TrimSpace(line) + "\n")
		default:
			b.WriteString(line + "\n")
		}
	}
	return b.String()
}

func genCompletions(root *cobra.Command, dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for name, gen := range map[string]func(*bytes.Buffer) error{
		"mailctl.bash": func(b *bytes.Buffer) error { return root.GenBashCompletionV2(b, true) },
		"_mailctl":     func(b *bytes.Buffer) error { return root.GenZshCompletion(b) },
		"mailctl.fish": func(b *bytes.Buffer) error { return root.GenFishCompletion(b, true) },
	} {
		var b bytes.Buffer
		if err := gen(&b); err != nil {
			return fmt.Errorf("completion %s: %w", name, err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), b.Bytes(), 0o644); err != nil {
			return err
		}
	}
	return nil
}
