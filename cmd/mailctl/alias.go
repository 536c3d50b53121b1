package main

import (
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"mailctl/lib/accounts"
	"mailctl/lib/addr"
)

func newAliasCmd(g *globals) *cobra.Command {
	c := &cobra.Command{
		Use:   "alias",
		Short: "Add, remove and list aliases",
		Long: helpText(`Manage the aliases file. An alias maps an address of a local domain to one
or more targets: local users, other aliases, or remote addresses. "@DOMAIN"
is the domain's catch-all. Subaddresses (user+tag@domain) reach "user"
without an alias. Targets are addresses only: no programs, no files.`, exitAdmin, filesCore, securityAdmin),
	}
	var asJSON bool
	list := &cobra.Command{
		Use:   "list",
		Short: "List aliases",
		Long:  helpText("List every alias and its targets; @DOMAIN is a catch-all.", exitAdmin, filesCore, securityAdmin),
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			m, err := g.accounts()
			if err != nil {
				return err
			}
			all, err := m.Aliases.All()
			if err != nil {
				return err
			}
			if asJSON {
				type row struct {
					Address string   `json:"address"`
					Targets []string `json:"targets"`
				}
				rows := make([]row, 0, len(all))
				for _, a := range all {
					rows = append(rows, row{aliasName(a.Address), addrStrings(a.Targets)})
				}
				return writeJSON(g.stdout, rows)
			}
			tw := tabwriter.NewWriter(g.stdout, 0, 4, 2, ' ', 0)
			for _, a := range all {
				fmt.Fprintf(tw, "%s\t%s\n", aliasName(a.Address), strings.Join(addrStrings(a.Targets), ", "))
			}
			return tw.Flush()
		},
	}
	list.Flags().BoolVar(&asJSON, "json", false, "print JSON")

	add := &cobra.Command{
		Use:     "add ADDRESS TARGET...",
		Short:   "Add targets to an alias (creating it)",
		Long:    helpText("Add targets to an alias, creating it if needed. ADDRESS is an address of a local domain, or @DOMAIN for the domain's catch-all.", exitAdmin, filesCore, securityAdmin),
		Example: "  mailctl alias add sales@example.org bob@example.org alice@partner.example\n  mailctl alias add @example.org bob@example.org   # catch-all",
		Args:    minArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			m, a, targets, err := aliasArgs(g, args)
			if err != nil {
				return err
			}
			return accountError(m.AddAlias(cmd.Context(), a, targets))
		},
	}
	del := &cobra.Command{
		Use:   "del ADDRESS [TARGET...]",
		Short: "Remove targets from an alias, or the whole alias",
		Long:  helpText("Remove the given targets from an alias, or the whole alias when no target is given.", exitAdmin, filesCore, securityAdmin),
		Args:  minArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			m, a, targets, err := aliasArgs(g, args)
			if err != nil {
				return err
			}
			return accountError(m.RemoveAlias(cmd.Context(), a, targets))
		},
	}
	c.AddCommand(add, del, list)
	return c
}

func aliasArgs(g *globals, args []string) (*accounts.Manager, addr.Address, []addr.Address, error) {
	a, err := parseAliasAddress(args[0])
	if err != nil {
		return nil, a, nil, err
	}
	var targets []addr.Address
	for _, t := range args[1:] {
		ta, err := parseAddress(t)
		if err != nil {
			return nil, a, nil, err
		}
		targets = append(targets, ta)
	}
	m, err := g.accounts()
	return m, a, targets, err
}

// parseAliasAddress accepts an address or "@domain" (the catch-all).
func parseAliasAddress(s string) (addr.Address, error) {
	if d, ok := strings.CutPrefix(s, "@"); ok {
		dom, err := addr.ParseDomain(d)
		if err != nil {
			return addr.Address{}, withCode(exitDataErr, fmt.Errorf("invalid catch-all: %w", err))
		}
		return addr.Address{Domain: dom}, nil
	}
	return parseAddress(s)
}

func aliasName(a addr.Address) string {
	if a.Local == "" {
		return "@" + a.Domain
	}
	return a.String()
}

func addrStrings(as []addr.Address) []string {
	out := make([]string, len(as))
	for i, a := range as {
		out[i] = a.String()
	}
	return out
}
