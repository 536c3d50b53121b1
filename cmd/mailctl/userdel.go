package main

import (
	"fmt"

	"github.com/spf13/cobra"
)

func newUserdelCmd(g *globals) *cobra.Command {
	var removeMail bool
	c := &cobra.Command{
		Use:   "userdel ADDRESS",
		Short: "Remove a mail user",
		Long: helpText(`Remove a user from the users file. Their Maildir stays on disk unless
--remove-mail is given. Aliases pointing at the user are left alone; mail
to them is then refused as to an unknown user.`, exitAdmin, filesCore, securityAdmin),
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
			if err := m.RemoveUser(cmd.Context(), a, removeMail); err != nil {
				return accountError(err)
			}
			fmt.Fprintf(g.stderr, "removed %s\n", a)
			return nil
		},
	}
	c.Flags().BoolVar(&removeMail, "remove-mail", false, "also delete the user's Maildir")
	return c
}
