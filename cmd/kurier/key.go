package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/kurier/kurier/node"
)

func newKeyCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "key", Short: "Work with the node's OpenPGP key"}
	cmd.AddCommand(&cobra.Command{
		Use:   "export",
		Short: "Print the node's armored public key (for peers, and for gpg --import)",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			cfg, err := g.loadConfig()
			if err != nil {
				return err
			}
			pub, err := os.ReadFile(node.PublicKeyPath(cfg))
			if os.IsNotExist(err) {
				return fmt.Errorf("no key in %s yet: run `kurier init` or `kurier serve` first", cfg.DataDir)
			}
			if err != nil {
				return fmt.Errorf("read public key: %w", err)
			}
			_, err = g.stdout.Write(pub)
			return err
		},
	})
	return cmd
}
