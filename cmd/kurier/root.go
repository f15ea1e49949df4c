package main

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime/debug"

	"github.com/spf13/cobra"

	"github.com/kurier/kurier/node/config"
)

// globals are the flags every command accepts.
type globals struct {
	env        config.Env
	stdout     io.Writer
	stderr     io.Writer
	configPath string
	dataDir    string
	listen     string
}

func newRootCmd(env config.Env, stdout, stderr io.Writer) *cobra.Command {
	g := &globals{env: env, stdout: stdout, stderr: stderr}
	root := &cobra.Command{
		Use:   "kurier",
		Short: "Kurier: a node for sharing threat indicators and electronic evidence between countries",
		Long: `Kurier runs a national node that shares STIX 2.1 threat indicators (TLP 2.0,
signed and sealed) and Budapest-Convention evidence packages with peer nodes.

Start a node on the embedded store:   kurier serve
Create an admin token:               kurier token create --role admin --name NAME
Talk to a running node:              KURIER_URL=... KURIER_TOKEN=... kurier status`,
		SilenceUsage:  true,
		SilenceErrors: true,
		Version:       buildVersion(),
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return exitError{code: 2, err: fmt.Errorf("%w\nrun '%s --help' for usage", err, c.CommandPath())}
	})
	pf := root.PersistentFlags()
	pf.StringVar(&g.configPath, "config", "", "config file (default $XDG_CONFIG_HOME/kurier/config.yaml if it exists)")
	pf.StringVar(&g.dataDir, "data-dir", "", "data directory (default $XDG_DATA_HOME/kurier)")
	pf.StringVar(&g.listen, "listen", "", "API listen address host:port (default 127.0.0.1:7470)")

	root.AddCommand(
		newInitCmd(g), newServeCmd(g), newKeyCmd(g), newTokenCmd(g),
		newConfigCmd(g), newStatusCmd(g), newVersionCmd(g),
		newIndicatorCmd(g), newSightingCmd(g), newImportCmd(g), newExportCmd(g), newReindexCmd(g),
		newEvidenceCmd(g), newPeerCmd(g), newSyncCmd(g),
	)
	requireSubcommands(root)
	return root
}

// requireSubcommands makes every command group (a command with
// subcommands and nothing to run of its own) fail with a usage error (exit
// 2) on an unknown or missing subcommand; cobra alone prints the help and
// exits 0, which a script would take for success.
func requireSubcommands(c *cobra.Command) {
	for _, sub := range c.Commands() {
		requireSubcommands(sub)
	}
	if !c.HasSubCommands() || c.Run != nil || c.RunE != nil {
		return
	}
	c.Args = cobra.ArbitraryArgs
	c.RunE = func(c *cobra.Command, args []string) error {
		if len(args) == 0 {
			_ = c.Usage()
			return exitError{code: 2, err: fmt.Errorf("%s needs a subcommand", c.CommandPath())}
		}
		return exitError{code: 2, err: fmt.Errorf("unknown command %q for %q\nrun '%s --help' for usage", args[0], c.CommandPath(), c.CommandPath())}
	}
}

// loadConfig reads the config file (explicit, or the XDG default if it
// exists) and applies the command-line overrides.
func (g *globals) loadConfig() (config.Config, error) {
	path := g.configPath
	if path == "" {
		if p := config.DefaultPath(g.env); fileExists(p) {
			path = p
		}
	}
	cfg, err := config.Load(path, g.env)
	if err != nil {
		return config.Config{}, err
	}
	if g.dataDir != "" {
		cfg.DataDir = g.dataDir
	}
	if g.listen != "" {
		cfg.Listen = g.listen
	}
	if err := cfg.Validate(); err != nil {
		return config.Config{}, err
	}
	return cfg, nil
}

func (g *globals) logger(cfg config.Config) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(cfg.Log.Level))
	opts := &slog.HandlerOptions{Level: level}
	if cfg.Log.Format == "json" {
		return slog.New(slog.NewJSONHandler(g.stderr, opts))
	}
	return slog.New(slog.NewTextHandler(g.stderr, opts))
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

func buildVersion() string {
	if version != "" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "dev"
}

func newVersionCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version of kurier",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			fmt.Fprintln(g.stdout, "kurier", buildVersion())
			return nil
		},
	}
}

func newConfigCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "config", Short: "Work with the configuration file"}
	cmd.AddCommand(&cobra.Command{
		Use:   "example",
		Short: "Print a configuration file with every field, its default and what it does",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			_, err := io.WriteString(g.stdout, config.Example)
			return err
		},
	}, &cobra.Command{
		Use:   "check",
		Short: "Validate the configuration (file, environment and flags) and print the result",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			cfg, err := g.loadConfig()
			if err != nil {
				return err
			}
			fmt.Fprintf(g.stdout, "configuration is valid: node %q, store %s, data dir %s, listen %s\n",
				cfg.Node.Name, cfg.Store.Driver, cfg.DataDir, cfg.Listen)
			return nil
		},
	})
	return cmd
}
