package main

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/kurier/kurier/node"
)

func newReindexCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "reindex",
		Short: "Rebuild the index from the object store (local admin; stop the node first)",
		Long: `reindex wipes the node's derived index and rebuilds it from the sealed
segments in the object store, giving the same answers as before. It needs the
node's key (KURIER_PASSPHRASE or KURIER_PASSPHRASE_FILE) to open the segments,
and the index file to itself: stop the node first.`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			cfg, err := g.loadConfig()
			if err != nil {
				return err
			}
			start := time.Now()
			n, err := node.Open(c.Context(), cfg, node.Options{Logger: g.logger(cfg), Env: g.env, Version: buildVersion()})
			if err != nil {
				return err
			}
			defer n.Close()
			count, err := n.Indicators.Reindex(c.Context())
			if err != nil {
				return err
			}
			fmt.Fprintf(g.stdout, "reindexed %d object versions in %s\n", count, time.Since(start).Round(time.Millisecond))
			return nil
		},
	}
}
