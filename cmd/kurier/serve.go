package main

import (
	"fmt"
	"net"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/kurier/kurier/node"
)

func newInitCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "init",
		Short: "Create the data directory, the node's key pair and its buckets",
		Long: `init prepares a node without starting it: the data directory, the node's
OpenPGP key (encrypted with the passphrase from KURIER_PASSPHRASE or
KURIER_PASSPHRASE_FILE) and the object-store buckets. serve does the same on
first start, so init is optional.`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			cfg, err := g.loadConfig()
			if err != nil {
				return err
			}
			id, gen, err := node.InitIdentity(cfg, g.env)
			if err != nil {
				return err
			}
			g.warnGeneratedPassphrase(gen)
			if _, err := node.OpenStore(c.Context(), cfg); err != nil {
				return err
			}
			fmt.Fprintf(g.stdout, "node %q ready in %s\nkey fingerprint %s (profile %s)\n",
				cfg.Node.Name, cfg.DataDir, id.Fingerprint(), id.Profile())
			return nil
		},
	}
}

func newServeCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "serve",
		Short: "Run the node",
		Long: `serve runs the node until SIGTERM or SIGINT, then finishes in-flight
requests and stops. On first start it creates the data directory and the
node's key. With no configuration it uses the embedded store in the data
directory and listens on 127.0.0.1:7470.`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			cfg, err := g.loadConfig()
			if err != nil {
				return err
			}
			log := g.logger(cfg)
			n, err := node.Open(c.Context(), cfg, node.Options{Logger: log, Env: g.env, Version: buildVersion()})
			if err != nil {
				return err
			}
			defer n.Close()
			fed, err := mountFederation(c.Context(), n)
			if err != nil {
				return err
			}
			defer fed.Stop()
			// Evidence trusts the same pinned peer keys as federation and
			// travels over its signed channel.
			evsvc, err := mountEvidenceFederated(n, fed)
			if err != nil {
				return err
			}
			go evsvc.Run(c.Context(), evidenceSweepEvery)
			g.warnGeneratedPassphrase(n.PassphraseGenerated)
			ln, err := net.Listen("tcp", cfg.Listen)
			if err != nil {
				return fmt.Errorf("listen: %w", err)
			}
			scheme := "http"
			if cfg.HTTP.TLSCertFile != "" {
				scheme = "https"
			}
			url := fmt.Sprintf("%s://%s", scheme, ln.Addr())
			log.Info("node started", "name", cfg.Node.Name, "url", url, "fingerprint", n.Identity.Fingerprint(),
				"store", n.Store.Driver(), "data_dir", cfg.DataDir)
			fmt.Fprintf(g.stdout, "kurier node %q listening on %s (data in %s, store %s)\n", cfg.Node.Name, url, cfg.DataDir, n.Store.Driver())
			self := selfCommand(os.Args[0])
			fmt.Fprintf(g.stdout, "get an admin token:  %s token create --role admin --name YOUR-NAME%s\n", self, g.dirFlags())
			fmt.Fprintf(g.stdout, "then:                KURIER_URL=%s KURIER_TOKEN=<token> %s status\n", url, self)
			return n.Serve(c.Context(), ln)
		},
	}
}

// selfCommand is how to run this binary again in a printed hint: under
// `go run` the binary lives in a temporary build directory, so the hint
// says `go run ./cmd/kurier`.
func selfCommand(arg0 string) string {
	if strings.Contains(arg0, string(os.PathSeparator)+"go-build") {
		return "go run ./cmd/kurier"
	}
	return "kurier"
}

// dirFlags repeats --config/--data-dir in printed hints so they work as typed.
func (g *globals) dirFlags() string {
	s := ""
	if g.configPath != "" {
		s += " --config " + g.configPath
	}
	if g.dataDir != "" {
		s += " --data-dir " + g.dataDir
	}
	return s
}

func (g *globals) warnGeneratedPassphrase(path string) {
	if path == "" {
		return
	}
	fmt.Fprintf(g.stderr, "WARNING: no KURIER_PASSPHRASE or KURIER_PASSPHRASE_FILE set; the key passphrase was generated into %s (mode 0600).\n"+
		"Anyone who can read that file can use this node's key: keep it safe, or set KURIER_PASSPHRASE_FILE to a secret you manage.\n", path)
}
