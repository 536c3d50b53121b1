package main

import (
	"fmt"

	"github.com/spf13/cobra"
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
an error that names the key.`, `0   the configuration is valid
78  the configuration is invalid (EX_CONFIG)`, filesCore, `Reads the configuration only; secret values are printed masked.`),
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := g.config()
			if err != nil {
				return err
			}
			if err := cfg.Print(g.stdout); err != nil {
				return err
			}
			fmt.Fprintln(g.stderr, "configuration OK")
			return nil
		},
	})
	return c
}
