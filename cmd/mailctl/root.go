package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"log/syslog"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"mailctl/lib/config"
)

// globals are the flags every subcommand shares.
type globals struct {
	configPath string
	logFormat  string
	logLevel   string
	logFile    string

	stdin          io.Reader
	stdout, stderr io.Writer
	logger         *slog.Logger
	logCloser      io.Closer
	cfg            *config.Config
}

// config loads the configuration once, on first use, so that --help and
// commands that need none never touch it.
func (g *globals) config() (*config.Config, error) {
	if g.cfg != nil {
		return g.cfg, nil
	}
	path := g.configPath
	if path == "" {
		path = os.Getenv("MAILCTL_CONFIG")
	}
	cfg, err := config.Load(path)
	if err != nil {
		return nil, withCode(exitConfig, err)
	}
	g.cfg = cfg
	return cfg, nil
}

// run builds the command tree, runs it and returns the exit code.
func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	g := &globals{stdin: stdin, stdout: stdout, stderr: stderr}
	args = dispatchArgs(args)
	// Build only the command being run: deliver (and every daemon under
	// inetd) starts once per message or connection, and the whole tree's
	// help texts cost more than its parsing.
	root := newRootCmd(g, subcommandName(args))
	root.SetArgs(args)
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := root.ExecuteContext(ctx)
	if g.logCloser != nil {
		defer g.logCloser.Close()
	}
	if err != nil {
		code := exitCode(err)
		var ue *usageError
		if errors.As(err, &ue) {
			code = exitUsage
		}
		reportError(stderr, err)
		return code
	}
	return exitOK
}

// usageError marks flag and argument errors (exit 64).
type usageError struct{ err error }

func (e *usageError) Error() string { return e.err.Error() }
func (e *usageError) Unwrap() error { return e.err }

type subcommand struct {
	name string
	make func(*globals) *cobra.Command
}

// registered holds the first level of the command tree. Each subcommand's
// file adds itself in an init function, so adding a program touches no
// shared list.
var registered []subcommand

func register(name string, make func(*globals) *cobra.Command) {
	registered = append(registered, subcommand{name, make})
}

func init() {
	register("config", newConfigCmd)
	register("deliver", newDeliverCmd)
	register("useradd", newUseraddCmd)
	register("userdel", newUserdelCmd)
	register("usermod", newUsermodCmd)
	register("passwd", newPasswdCmd)
	register("users", newUsersCmd)
	register("alias", newAliasCmd)
	register("domain", newDomainCmd)
	register("serve", newServeCmd)
	register("version", newVersionCmd)
	register("gendocs", newGenDocsCmd)
}

// subcommands returns the registered subcommands sorted by name.
func subcommands() []subcommand {
	out := slices.Clone(registered)
	slices.SortFunc(out, func(a, b subcommand) int { return strings.Compare(a.name, b.name) })
	return out
}

// dispatchArgs implements argv[0] dispatch: a link named "deliver" to the
// binary runs "mailctl deliver". It returns the arguments for the root
// command.
func dispatchArgs(args []string) []string {
	if len(args) == 0 {
		return nil
	}
	name := filepath.Base(args[0])
	for _, sc := range subcommands() {
		if sc.name == name {
			return append([]string{name}, args[1:]...)
		}
	}
	return args[1:]
}

// globalValueFlags take a separate value ("--config FILE").
var globalValueFlags = map[string]bool{"--config": true, "--log-format": true, "--log-level": true, "--log-file": true}

// subcommandName finds the first-level command in args, or "".
func subcommandName(args []string) string {
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--":
			return ""
		case globalValueFlags[a]:
			i++
		case strings.HasPrefix(a, "-"):
		default:
			return a
		}
	}
	return ""
}

// newRootCmd builds the tree: with only naming a known subcommand, just
// that one; otherwise all of them (for help, completion and suggestions).
func newRootCmd(g *globals, only string) *cobra.Command {
	root := &cobra.Command{
		Use:   "mailctl",
		Short: "A complete mail server for your domain, as a toolkit of small programs",
		Long: `mailctl is a self-hosted mail server: inbound SMTP, submission, IMAP,
POP3, delivery and user management, as one binary whose subcommands are
small programs sharing a Maildir spool and flat files (users, aliases,
domains). Each daemon runs under systemd socket activation, under inetd,
or on its own listener; "mailctl serve" runs them all in one process.

A link to the binary named after a subcommand runs that subcommand, so
"deliver" and "sendmail" can be installed as their own programs.`,
		SilenceUsage:      true,
		SilenceErrors:     true,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error { return g.setupLogging(cmd) },
	}
	root.CompletionOptions.DisableDefaultCmd = true // completions are generated files, installed by make install
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return &usageError{err} })
	pf := root.PersistentFlags()
	pf.StringVar(&g.configPath, "config", "", "configuration `FILE` (default $MAILCTL_CONFIG or "+config.DefaultPath+")")
	pf.StringVar(&g.logFormat, "log-format", "text", "log `FORMAT`: text or json")
	pf.StringVar(&g.logLevel, "log-level", "info", "log `LEVEL`: debug, info, warn or error")
	pf.StringVar(&g.logFile, "log-file", "", "append logs to `FILE` instead of stderr")

	found := false
	for _, sc := range subcommands() {
		if sc.name == only {
			root.AddCommand(sc.make(g))
			found = true
		}
	}
	if !found {
		for _, sc := range subcommands() {
			root.AddCommand(sc.make(g))
		}
	}
	for _, c := range root.Commands() {
		c.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return &usageError{err} })
	}
	return root
}

// setupLogging builds the logger from the global flags. Logs go to stderr,
// except under --inetd, where stderr may be the socket: then to --log-file
// or to syslog (the journal reads it).
func (g *globals) setupLogging(cmd *cobra.Command) error {
	var level slog.Level
	if err := level.UnmarshalText([]byte(g.logLevel)); err != nil {
		return &usageError{fmt.Errorf("--log-level: %w", err)}
	}
	inetd := false
	if f := cmd.Flags().Lookup("inetd"); f != nil && f.Value.String() == "true" {
		inetd = true
	}
	if f := cmd.Flags().Lookup("inetd-tls"); f != nil && f.Value.String() == "true" {
		inetd = true
	}
	var w io.Writer = g.stderr
	switch {
	case g.logFile != "":
		f, err := os.OpenFile(g.logFile, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o640)
		if err != nil {
			return withCode(exitCantCreat, fmt.Errorf("--log-file: %w", err))
		}
		w, g.logCloser = f, f
	case inetd:
		sw, err := syslog.New(syslog.LOG_MAIL|syslog.LOG_INFO, "mailctl-"+cmd.Name())
		if err != nil {
			w = io.Discard // no syslog: never write logs into the client's socket
		} else {
			w, g.logCloser = sw, sw
		}
	}
	opts := &slog.HandlerOptions{Level: level}
	var h slog.Handler
	switch strings.ToLower(g.logFormat) {
	case "text":
		h = slog.NewTextHandler(w, opts)
	case "json":
		h = slog.NewJSONHandler(w, opts)
	default:
		return &usageError{fmt.Errorf("--log-format must be text or json, not %q", g.logFormat)}
	}
	g.logger = slog.New(h).With("prog", strings.TrimPrefix(cmd.CommandPath(), "mailctl "))
	return nil
}
