package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"mailctl/lib/accounts"
	"mailctl/lib/addr"
	"mailctl/lib/config"
	"mailctl/lib/userdb"
)

func newUseraddCmd(g *globals) *cobra.Command {
	var (
		pw       passwordSource
		services string
		quota    string
		admin    string
		asJSON   bool
	)
	c := &cobra.Command{
		Use:   "useradd ADDRESS",
		Short: "Add a mail user and create their Maildir",
		Long: helpText(`Add a user to the users file and create their Maildir (INBOX, Sent,
Drafts, Trash, Junk, Archive). The address's domain must be local: listed
in the config's "domains" or added with "mailctl domain add".

The password is read from the first line of stdin (--password-stdin),
generated and printed (--random-password), or prompted for twice without
echo when stdin is a terminal. Without a terminal and without either flag
the command fails rather than wait.

The first user of a domain also makes postmaster@ and abuse@ of that domain
reach an administrator: --admin, else the config's "postmaster", else the
new user.`, exitAdmin, filesCore, securityAdmin),
		Example: `  echo 'correct horse battery' | mailctl useradd bob@example.org --password-stdin
  mailctl useradd alice@example.org --random-password --services imap,submit --quota 2G`,
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			a, err := parseAddress(args[0])
			if err != nil {
				return err
			}
			svc, err := userdb.ParseServices(services)
			if err != nil {
				return withCode(exitDataErr, fmt.Errorf("--services: %w", err))
			}
			q, err := config.ParseSize(quota)
			if err != nil {
				return withCode(exitDataErr, fmt.Errorf("--quota: %w", err))
			}
			var adm addr.Address
			if admin != "" {
				if adm, err = parseAddress(admin); err != nil {
					return err
				}
			}
			password, generated, err := pw.read(g)
			if err != nil {
				return err
			}
			m, err := g.accounts()
			if err != nil {
				return err
			}
			err = m.AddUser(cmd.Context(), accounts.NewUser{Address: a, Password: password, Services: svc, Quota: int64(q), Admin: adm})
			if err != nil {
				return accountError(err)
			}
			if asJSON {
				out := map[string]any{"address": a.String(), "services": svc.String(), "quota": int64(q)}
				if generated {
					out["password"] = password
				}
				return writeJSON(g.stdout, out)
			}
			if generated {
				fmt.Fprintf(g.stdout, "%s\t%s\n", a, password)
			} else {
				fmt.Fprintf(g.stderr, "added %s\n", a)
			}
			return nil
		},
	}
	f := c.Flags()
	f.BoolVar(&pw.stdin, "password-stdin", false, "read the password from the first line of stdin")
	f.BoolVar(&pw.random, "random-password", false, "generate a password and print it")
	f.StringVar(&services, "services", "imap,pop3,submit,webmail", "`SERVICES` the user may use: imap, pop3, submit, webmail (comma-separated), or - for none")
	f.StringVar(&quota, "quota", "0", "mailbox quota `SIZE` such as 500M or 2G; 0 for none")
	f.StringVar(&admin, "admin", "", "`ADDRESS` that receives postmaster@ and abuse@ of a new domain")
	f.BoolVar(&asJSON, "json", false, "print the result as JSON")
	return c
}

// exactArgs is cobra.ExactArgs with a usage exit code.
func exactArgs(n int) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if err := cobra.ExactArgs(n)(cmd, args); err != nil {
			return &usageError{err}
		}
		return nil
	}
}

func minArgs(n int) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if err := cobra.MinimumNArgs(n)(cmd, args); err != nil {
			return &usageError{err}
		}
		return nil
	}
}
