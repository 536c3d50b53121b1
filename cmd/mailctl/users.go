package main

import (
	"fmt"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"mailctl/lib/userdb"
)

func newUsersCmd(g *globals) *cobra.Command {
	var asJSON bool
	c := &cobra.Command{
		Use:   "users",
		Short: "List mail users",
		Long: helpText(`List every user with their services, quota and state. Password hashes are
never shown.`, exitAdmin, filesCore, `Reads the users file; needs read access to it (root or the mail account's group).`),
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			m, err := g.accounts()
			if err != nil {
				return err
			}
			users, err := m.Users.All()
			if err != nil {
				return err
			}
			if asJSON {
				type row struct {
					Address  string   `json:"address"`
					Services []string `json:"services"`
					Quota    int64    `json:"quota"`
					Enabled  bool     `json:"enabled"`
				}
				rows := make([]row, 0, len(users))
				for _, u := range users {
					rows = append(rows, row{u.Address.String(), serviceList(u.Services), u.Quota, !u.Disabled})
				}
				return writeJSON(g.stdout, rows)
			}
			tw := tabwriter.NewWriter(g.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ADDRESS\tSERVICES\tQUOTA\tSTATE")
			for _, u := range users {
				state := "enabled"
				if u.Disabled {
					state = "disabled"
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", u.Address, u.Services, userdb.FormatSize(u.Quota), state)
			}
			return tw.Flush()
		},
	}
	c.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return c
}

func serviceList(s userdb.Services) []string {
	out := []string{}
	for _, svc := range []userdb.Service{userdb.IMAP, userdb.POP3, userdb.Submit, userdb.Webmail} {
		if s.Has(svc) {
			out = append(out, string(svc))
		}
	}
	return out
}
