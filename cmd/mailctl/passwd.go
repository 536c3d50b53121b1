package main

import (
	"fmt"

	"github.com/spf13/cobra"
)

func newPasswdCmd(g *globals) *cobra.Command {
	var pw passwordSource
	c := &cobra.Command{
		Use:   "passwd ADDRESS",
		Short: "Set a user's password",
		Long: helpText(`Set a user's password. It is prompted for twice without echo when stdin is
a terminal, or read from the first line of stdin with --password-stdin, or
generated and printed with --random-password. The password is stored as an
argon2id hash.`, exitAdmin, filesCore, securityAdmin),
		Example: `  mailctl passwd bob@example.org
  printf '%s\n' "$NEWPW" | mailctl passwd bob@example.org --password-stdin`,
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			a, err := parseAddress(args[0])
			if err != nil {
				return err
			}
			m, err := g.accounts()
			if err != nil {
				return err
			}
			// Fail on an unknown user before asking for a password.
			if _, ok, err := m.Users.Lookup(a); err != nil {
				return err
			} else if !ok {
				return withCode(exitNoUser, fmt.Errorf("%s: no such user", a))
			}
			password, generated, err := pw.read(g)
			if err != nil {
				return err
			}
			if err := m.SetPassword(cmd.Context(), a, password); err != nil {
				return accountError(err)
			}
			if generated {
				fmt.Fprintf(g.stdout, "%s\t%s\n", a, password)
			}
			return nil
		},
	}
	c.Flags().BoolVar(&pw.stdin, "password-stdin", false, "read the password from the first line of stdin")
	c.Flags().BoolVar(&pw.random, "random-password", false, "generate a password and print it")
	return c
}
