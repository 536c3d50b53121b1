package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"mailctl/lib/config"
	"mailctl/lib/listen"
	"mailctl/lib/scan"
)

// bayesDir is where the classifier keeps its databases.
func bayesDir(cfg *config.Config) string { return filepath.Join(cfg.DataDir, "scan", "bayes") }

// trainBatch bounds how many messages one locked update of a database
// takes in, so a big Maildir neither holds the lock long nor fills memory.
const trainBatch = 200

func newScanTrainCmd(g *globals) *cobra.Command {
	var (
		spam, ham bool
		user, dir string
	)
	c := &cobra.Command{
		Use:   "train --spam|--ham [--user ADDRESS] [--maildir DIR] [< message]",
		Short: "Teach the spam classifier a message, or every message of a Maildir",
		Long: helpText(`Train the Bayes classifier with the message on standard input, or with
every file in DIR/cur and DIR/new when --maildir is given, as spam
(--spam) or as ham, i.e. wanted mail (--ham). The words of the decoded
text parts and of a few header fields (Subject, From, Reply-To,
Content-Type, X-Mailer, User-Agent) are counted.

The global database always learns; with --user, ADDRESS's own database
learns too. smtpd judges with the global data (one reply covers every
recipient); a user's data is used for that user once it holds at least 50
spam and 50 ham messages. The verdict joins the scan score as the check
"bayes", weight [scan.weights] bayes (default 5: a spam probability of 0.99
adds 4.9). Each database is pruned of its rarest words above 200000.
Training the same message twice counts it twice.`, `0   the messages were learnt
1   any other error (an unreadable file, the database lock timed out)
64  usage error: neither or both of --spam and --ham (EX_USAGE)
65  an invalid --user address (EX_DATAERR)
78  configuration error (EX_CONFIG)`, filesCore+`
/var/lib/mailctl/scan/bayes/  the classifier: global.db and one
                            <hash>.db per user, each updated under
                            its .lock file`, `Writes the classifier's databases in the data directory. Run as root, it
gives them to the mail account ("user" in the config) afterwards, so the
daemons can go on training them. Reads the messages with this process's
rights.`),
		Example: `  mailctl scan train --spam < junk.eml
  mailctl scan train --ham --user bob@example.org --maildir /var/lib/mailctl/mail/example.org/bob`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if spam == ham {
				return &usageError{errors.New("give exactly one of --spam and --ham")}
			}
			cfg, err := g.config()
			if err != nil {
				return err
			}
			if user != "" {
				a, err := parseAddress(user)
				if err != nil {
					return err
				}
				user = a.String()
			}
			b := scan.NewBayes(scan.BayesOptions{Dir: bayesDir(cfg), LockTimeout: cfg.Limits.LockTimeout})
			max := int64(cfg.Limits.MessageSize)
			if dir == "" {
				msg, err := io.ReadAll(io.LimitReader(g.stdin, max))
				if err != nil {
					return err
				}
				if err := b.Train(cmd.Context(), user, spam, msg); err != nil {
					return err
				}
				return giveBayesToMailAccount(cfg)
			}
			n := 0
			var batch [][]byte
			flush := func() error {
				err := b.Train(cmd.Context(), user, spam, batch...)
				n += len(batch)
				batch = batch[:0]
				return err
			}
			for _, sub := range []string{"cur", "new"} {
				ents, err := os.ReadDir(filepath.Join(dir, sub))
				if err != nil {
					return fmt.Errorf("--maildir: %w", err)
				}
				for _, e := range ents {
					if !e.Type().IsRegular() {
						continue
					}
					msg, err := readAtMost(filepath.Join(dir, sub, e.Name()), max)
					if err != nil {
						return err
					}
					if batch = append(batch, msg); len(batch) == trainBatch {
						if err := flush(); err != nil {
							return err
						}
					}
				}
			}
			if err := flush(); err != nil {
				return err
			}
			if err := giveBayesToMailAccount(cfg); err != nil {
				return err
			}
			kind := "ham"
			if spam {
				kind = "spam"
			}
			fmt.Fprintf(g.stdout, "learnt %d messages as %s\n", n, kind)
			return nil
		},
	}
	c.Flags().BoolVar(&spam, "spam", false, "the messages are spam")
	c.Flags().BoolVar(&ham, "ham", false, "the messages are wanted mail")
	c.Flags().StringVar(&user, "user", "", "also train `ADDRESS`'s own database")
	c.Flags().StringVar(&dir, "maildir", "", "train every message in `DIR`/cur and DIR/new instead of standard input")
	return c
}

// giveBayesToMailAccount hands the classifier's files to the mail account
// when run as root: the daemons, running as that account, update them
// later (a rewrite keeps the old owner).
func giveBayesToMailAccount(cfg *config.Config) error {
	if os.Geteuid() != 0 || cfg.User == "" {
		return nil
	}
	uid, gid, err := listen.LookupAccount(cfg.User)
	if err != nil {
		return withCode(exitConfig, fmt.Errorf("mail account %q: %w", cfg.User, err))
	}
	return filepath.WalkDir(bayesDir(cfg), func(p string, _ fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, uid, gid)
	})
}

// readAtMost reads the first max bytes of a file: enough to judge it.
func readAtMost(path string, max int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(io.LimitReader(f, max))
}
