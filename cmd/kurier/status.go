package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/kurier/kurier/node"
)

// client talks to a node's API with KURIER_URL and KURIER_TOKEN.
type client struct {
	base  string
	token string
	http  *http.Client
}

func (g *globals) client() (*client, error) {
	base := strings.TrimRight(g.env("KURIER_URL"), "/")
	if base == "" {
		return nil, errors.New("KURIER_URL is not set (e.g. KURIER_URL=http://127.0.0.1:7470)")
	}
	token := g.env("KURIER_TOKEN")
	if token == "" {
		return nil, errors.New("KURIER_TOKEN is not set (create one with `kurier token create`)")
	}
	return &client{base: base, token: token, http: &http.Client{Timeout: 30 * time.Second}}, nil
}

// getJSON GETs path and decodes the JSON answer; a problem+json answer
// becomes an error carrying its title and detail.
func (c *client) getJSON(path string, v any) error {
	req, err := http.NewRequest(http.MethodGet, c.base+path, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Accept", "application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("cannot reach node: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return fmt.Errorf("read answer: %w", err)
	}
	if resp.StatusCode >= 300 {
		var p struct{ Title, Detail, Type string }
		if json.Unmarshal(body, &p) == nil && p.Title != "" {
			return fmt.Errorf("node answered %d %s: %s (%s)", resp.StatusCode, p.Title, p.Detail, p.Type)
		}
		return fmt.Errorf("node answered %s", resp.Status)
	}
	return json.Unmarshal(body, v)
}

func newStatusCmd(g *globals) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show a running node's status (uses KURIER_URL and KURIER_TOKEN)",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			cl, err := g.client()
			if err != nil {
				return err
			}
			var st node.Status
			if err := cl.getJSON("/api/v1/status", &st); err != nil {
				return err
			}
			if asJSON {
				enc := json.NewEncoder(g.stdout)
				enc.SetIndent("", "  ")
				return enc.Encode(st)
			}
			storeState := "ok"
			if !st.StoreOK {
				storeState = "UNREACHABLE"
			}
			fmt.Fprintf(g.stdout, "node:        %s %s\nversion:     %s\nfingerprint: %s (%s)\nstore:       %s (%s)\nup since:    %s (%s)\nyou:         %s (%s)\n",
				st.Name, st.Country, st.Version, st.Fingerprint, st.KeyProfile, st.StoreDriver, storeState,
				st.StartedAt.Format(time.RFC3339), st.Uptime, st.You, st.Role)
			if !st.StoreOK {
				return errors.New("object store unreachable")
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}
