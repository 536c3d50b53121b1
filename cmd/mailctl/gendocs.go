package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// docsDate is fixed so generated man pages are reproducible.
var docsDate = time.Date(2026, time.November, 1, 0, 0, 0, 0, time.UTC)

// newGenDocsCmd generates man pages and shell completions from the command
// tree. It is hidden: it exists for `make docs` and for the test that fails
// when the committed files are stale.
func newGenDocsCmd(g *globals) *cobra.Command {
	var manDir, complDir string
	c := &cobra.Command{
		Use:    "gendocs",
		Short:  "Generate man pages and shell completions",
		Hidden: true,
		Args:   cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			// The running tree holds only this command: document a full one.
			root := newRootCmd(g, "")
			if manDir != "" {
				if err := genManTree(root, manDir); err != nil {
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

// Section headings of our long help (see helpText) that become man sections.
var manSections = map[string]bool{"EXIT STATUS": true, "FILES": true, "SECURITY": true}

// genManTree writes a page in section 8 for every visible command. The
// roff is written here rather than through a markdown converter: our help
// text is already structured, and the binary stays small and quick to
// start (deliver runs once per message).
func genManTree(c *cobra.Command, dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for _, sub := range c.Commands() {
		if !sub.IsAvailableCommand() || sub.IsAdditionalHelpTopicCommand() {
			continue
		}
		if err := genManTree(sub, dir); err != nil {
			return err
		}
	}
	name := strings.ReplaceAll(c.CommandPath(), " ", "-")
	var b bytes.Buffer
	writeManPage(&b, c, name)
	return os.WriteFile(filepath.Join(dir, name+".8"), b.Bytes(), 0o644)
}

func writeManPage(b *bytes.Buffer, c *cobra.Command, name string) {
	fmt.Fprintf(b, ".TH %q 8 %q \"mailctl\" \"mailctl manual\"\n", strings.ToUpper(name), docsDate.Format("January 2006"))
	fmt.Fprintf(b, ".SH NAME\n%s \\- %s\n", name, roffEscape(c.Short))
	fmt.Fprintf(b, ".SH SYNOPSIS\n.B %s\n", roffEscape(c.CommandPath()))
	if use := strings.TrimSpace(strings.TrimPrefix(c.Use, c.Name())); use != "" {
		fmt.Fprintf(b, "%s\n", roffEscape(use))
	}
	if c.HasAvailableSubCommands() {
		b.WriteString("\\fICOMMAND\\fP\n")
	}
	b.WriteString("[\\fIOPTIONS\\fP]\n")

	desc, sections := splitSections(c.Long)
	if desc == "" {
		desc = c.Short
	}
	b.WriteString(".SH DESCRIPTION\n")
	writeParagraphs(b, desc)

	if c.HasAvailableSubCommands() {
		b.WriteString(".SH COMMANDS\n")
		for _, sub := range c.Commands() {
			if sub.IsAvailableCommand() {
				fmt.Fprintf(b, ".TP\n\\fB%s\\fP\n%s\n", roffEscape(sub.Name()), roffEscape(sub.Short))
			}
		}
	}
	writeFlags(b, "OPTIONS", c.NonInheritedFlags())
	writeFlags(b, "GLOBAL OPTIONS", c.InheritedFlags())
	if c.Example != "" {
		b.WriteString(".SH EXAMPLES\n")
		writePre(b, c.Example)
	}
	for _, s := range sections {
		fmt.Fprintf(b, ".SH %s\n", s.head)
		writePre(b, s.body)
	}
	var also []string
	if c.HasParent() {
		also = append(also, strings.ReplaceAll(c.Parent().CommandPath(), " ", "-")+"(8)")
	}
	for _, sub := range c.Commands() {
		if sub.IsAvailableCommand() {
			also = append(also, strings.ReplaceAll(sub.CommandPath(), " ", "-")+"(8)")
		}
	}
	if len(also) > 0 {
		fmt.Fprintf(b, ".SH SEE ALSO\n%s\n", strings.Join(also, ", "))
	}
}

type section struct{ head, body string }

// splitSections separates the description from the capitalised sections
// helpText appends.
func splitSections(long string) (string, []section) {
	var desc []string
	var secs []section
	for _, line := range strings.Split(long, "\n") {
		if manSections[line] {
			secs = append(secs, section{head: line})
			continue
		}
		if len(secs) == 0 {
			desc = append(desc, line)
		} else {
			s := &secs[len(secs)-1]
			s.body += line + "\n"
		}
	}
	return strings.TrimSpace(strings.Join(desc, "\n")), secs
}

// writeParagraphs renders blank-line separated paragraphs; lines indented
// by two or more spaces are kept as they are.
func writeParagraphs(b *bytes.Buffer, text string) {
	for i, para := range strings.Split(text, "\n\n") {
		if i > 0 {
			b.WriteString(".PP\n")
		}
		if strings.HasPrefix(para, "  ") {
			writePre(b, para)
			continue
		}
		b.WriteString(roffEscape(strings.Join(strings.Fields(para), " ")) + "\n")
	}
}

func writePre(b *bytes.Buffer, text string) {
	b.WriteString(".nf\n.RS 4\n")
	for _, line := range strings.Split(strings.Trim(text, "\n"), "\n") {
		b.WriteString(roffEscape(strings.TrimPrefix(line, "  ")) + "\n")
	}
	b.WriteString(".RE\n.fi\n")
}

func writeFlags(b *bytes.Buffer, head string, fs *pflag.FlagSet) {
	if !fs.HasAvailableFlags() {
		return
	}
	fmt.Fprintf(b, ".SH %s\n", head)
	fs.VisitAll(func(f *pflag.Flag) {
		if f.Hidden {
			return
		}
		b.WriteString(".TP\n")
		if f.Shorthand != "" {
			fmt.Fprintf(b, "\\fB\\-%s\\fP, ", f.Shorthand)
		}
		fmt.Fprintf(b, "\\fB\\-\\-%s\\fP", roffEscape(f.Name))
		varname, usage := pflag.UnquoteUsage(f)
		if varname != "" {
			fmt.Fprintf(b, " \\fI%s\\fP", roffEscape(varname))
		}
		b.WriteString("\n" + roffEscape(usage))
		if f.DefValue != "" && f.DefValue != "false" && f.DefValue != "[]" {
			fmt.Fprintf(b, " (default %s)", roffEscape(f.DefValue))
		}
		b.WriteString("\n")
	})
}

// roffEscape makes text safe for roff: backslashes, hyphens, and a leading
// dot or quote that would start a request.
func roffEscape(s string) string {
	s = strings.ReplaceAll(s, `\`, `\e`)
	s = strings.ReplaceAll(s, "-", `\-`)
	if strings.HasPrefix(s, ".") || strings.HasPrefix(s, "'") {
		s = `\&` + s
	}
	return s
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
