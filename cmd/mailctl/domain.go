package main

import (
	"fmt"
	"slices"

	"github.com/spf13/cobra"

	"mailctl/lib/addr"
)

func newDomainCmd(g *globals) *cobra.Command {
	c := &cobra.Command{
		Use:   "domain",
		Short: "Add, remove and list local domains",
		Long: helpText(`Manage the local domains kept in the domains file. They count together
with the config's "domains": mail for any other domain is remote. Adding a
domain also makes its postmaster@ and abuse@ reach an administrator
(--admin, or the config's "postmaster").`, exitAdmin, filesCore, securityAdmin),
	}
	var admin string
	add := &cobra.Command{
		Use:     "add DOMAIN",
		Short:   "Make a domain local",
		Long:    helpText("Add DOMAIN to the domains file, so mail for it is delivered here, and make its postmaster@ and abuse@ reach an administrator.", exitAdmin, filesCore, securityAdmin),
		Example: "  mailctl domain add example.org --admin you@example.org",
		Args:    exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			d, err := addr.ParseDomain(args[0])
			if err != nil {
				return withCode(exitDataErr, err)
			}
			var adm addr.Address
			if admin != "" {
				if adm, err = parseAddress(admin); err != nil {
					return err
				}
			}
			m, err := g.accounts()
			if err != nil {
				return err
			}
			return accountError(m.AddDomain(cmd.Context(), d, adm))
		},
	}
	add.Flags().StringVar(&admin, "admin", "", "`ADDRESS` that receives the domain's postmaster@ and abuse@")
	del := &cobra.Command{
		Use:   "del DOMAIN",
		Short: "Remove a domain added with \"domain add\"",
		Long:  helpText("Remove DOMAIN from the domains file. Its users and aliases stay in their files but stop receiving mail. Domains listed in the config are removed by editing the config.", exitAdmin, filesCore, securityAdmin),
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			d, err := addr.ParseDomain(args[0])
			if err != nil {
				return withCode(exitDataErr, err)
			}
			m, err := g.accounts()
			if err != nil {
				return err
			}
			return accountError(m.RemoveDomain(cmd.Context(), d))
		},
	}
	var asJSON bool
	list := &cobra.Command{
		Use:   "list",
		Short: "List local domains (config and domains file)",
		Long:  helpText("List the local domains: the config's \"domains\" and those in the domains file.", exitAdmin, filesCore, securityAdmin),
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			m, err := g.accounts()
			if err != nil {
				return err
			}
			all, err := m.LocalDomains()
			if err != nil {
				return err
			}
			if asJSON {
				type row struct {
					Domain string `json:"domain"`
					Source string `json:"source"`
				}
				rows := make([]row, 0, len(all))
				for _, d := range all {
					src := "file"
					if slices.Contains(m.Config.Domains, d) {
						src = "config"
					}
					rows = append(rows, row{d, src})
				}
				return writeJSON(g.stdout, rows)
			}
			for _, d := range all {
				fmt.Fprintln(g.stdout, d)
			}
			return nil
		},
	}
	list.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	c.AddCommand(add, del, list)
	return c
}
