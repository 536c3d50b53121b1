package main

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"mailctl/lib/config"
	"mailctl/lib/userdb"
)

func newUsermodCmd(g *globals) *cobra.Command {
	var (
		services        string
		quota           string
		enable, disable bool
	)
	c := &cobra.Command{
		Use:   "usermod ADDRESS",
		Short: "Change a user's services, quota or state",
		Long: helpText(`Change a user's services, quota, or enable or disable the account. A
disabled account can't log in and its mail is refused (550 5.2.1).`, exitAdmin, filesCore, securityAdmin),
		Example: `  mailctl usermod bob@example.org --services imap,submit
  mailctl usermod bob@example.org --quota 5G
  mailctl usermod bob@example.org --disable`,
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if enable && disable {
				return &usageError{errors.New("--enable and --disable exclude each other")}
			}
			if !cmd.Flags().Changed("services") && !cmd.Flags().Changed("quota") && !enable && !disable {
				return &usageError{errors.New("nothing to change: give --services, --quota, --enable or --disable")}
			}
			a, err := parseAddress(args[0])
			if err != nil {
				return err
			}
			var svc userdb.Services
			if cmd.Flags().Changed("services") {
				if svc, err = userdb.ParseServices(services); err != nil {
					return withCode(exitDataErr, fmt.Errorf("--services: %w", err))
				}
			}
			var q config.Size
			if cmd.Flags().Changed("quota") {
				if q, err = config.ParseSize(quota); err != nil {
					return withCode(exitDataErr, fmt.Errorf("--quota: %w", err))
				}
			}
			m, err := g.accounts()
			if err != nil {
				return err
			}
			return accountError(m.ModifyUser(cmd.Context(), a, func(u *userdb.User) error {
				if cmd.Flags().Changed("services") {
					u.Services = svc
				}
				if cmd.Flags().Changed("quota") {
					u.Quota = int64(q)
				}
				if enable {
					u.Disabled = false
				}
				if disable {
					u.Disabled = true
				}
				return nil
			}))
		},
	}
	f := c.Flags()
	f.StringVar(&services, "services", "", "`SERVICES` the user may use: imap, pop3, submit, webmail (comma-separated), or - for none")
	f.StringVar(&quota, "quota", "", "mailbox quota such as 500M or 2G; 0 for none")
	f.BoolVar(&enable, "enable", false, "enable the account")
	f.BoolVar(&disable, "disable", false, "disable the account: no logins, mail refused")
	return c
}
