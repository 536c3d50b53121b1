package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"mailctl/lib/aliases"
	"mailctl/lib/config"
	"mailctl/lib/domains"
	"mailctl/lib/userdb"
)

func newConfigCmd(g *globals) *cobra.Command {
	c := &cobra.Command{
		Use:   "config",
		Short: "Check and show the configuration",
		Long:  helpText("Check and show the configuration; see \"config check\".", "0   success\n78  configuration error (EX_CONFIG)", filesCore, "Reads the configuration only."),
	}
	c.AddCommand(&cobra.Command{
		Use:   "check",
		Short: "Validate the configuration and print the effective settings",
		Long: helpText(`Validate the configuration file and print every effective setting (file,
environment and defaults merged), secrets masked. A wrong key or value is
an error that names the key. The core files are checked too: the users,
aliases and domains files must parse (an error names file:line), and the
users file must not be readable by others.`, `0   the configuration and the core files are valid
78  the configuration or a core file is invalid (EX_CONFIG)`, filesCore, `Reads the configuration and the core files; secret values and password
hashes are never printed.`),
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := g.config()
			if err != nil {
				return err
			}
			if err := cfg.Print(g.stdout); err != nil {
				return err
			}
			if err := checkCoreFiles(cfg); err != nil {
				return withCode(exitConfig, err)
			}
			fmt.Fprintln(g.stderr, "configuration OK")
			return nil
		},
	})
	return c
}

// checkCoreFiles parses the users, aliases and domains files the way the
// daemons will. A missing file is fine (nothing was added yet).
func checkCoreFiles(cfg *config.Config) error {
	var errs []error
	if _, err := userdb.Load(cfg.UsersFile); err != nil && !errors.Is(err, os.ErrNotExist) {
		errs = append(errs, err)
	}
	if err := userdb.CheckPermissions(cfg.UsersFile); err != nil {
		errs = append(errs, err)
	}
	if _, err := aliases.Load(cfg.AliasesFile); err != nil && !errors.Is(err, os.ErrNotExist) {
		errs = append(errs, err)
	}
	if _, err := domains.Load(cfg.DomainsFile); err != nil && !errors.Is(err, os.ErrNotExist) {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}
