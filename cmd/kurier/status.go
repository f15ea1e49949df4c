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

// getJSON GETs path and decodes the JSON answer.
func (c *client) getJSON(path string, v any) error {
	return c.doJSON(http.MethodGet, path, nil, "", v)
}

// doJSON sends a request and decodes the JSON answer; a problem+json
// answer becomes an error carrying its title, detail and type.
func (c *client) doJSON(method, path string, body io.Reader, contentType string, v any) error {
	resp, err := c.do(method, path, body, contentType)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return fmt.Errorf("read answer: %w", err)
	}
	if resp.StatusCode >= 300 {
		return problemError(resp, data)
	}
	if v == nil {
		return nil
	}
	return json.Unmarshal(data, v)
}

func (c *client) do(method, path string, body io.Reader, contentType string) (*http.Response, error) {
	req, err := http.NewRequest(method, c.base+path, body)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Accept", "application/json")
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("cannot reach node: %w", err)
	}
	return resp, nil
}

// apiProblem is a problem+json answer.
type apiProblem struct {
	Status   int
	Title    string `json:"title"`
	Detail   string `json:"detail"`
	Type     string `json:"type"`
	Object   string `json:"object"`
	Property string `json:"property"`
	raw      []byte
}

func (p *apiProblem) Error() string {
	s := fmt.Sprintf("node answered %d %s", p.Status, p.Title)
	if p.Detail != "" {
		s += ": " + p.Detail
	}
	if p.Type != "" {
		s += " (" + p.Type + ")"
	}
	return s
}

func problemError(resp *http.Response, body []byte) error {
	p := &apiProblem{Status: resp.StatusCode, raw: body}
	if json.Unmarshal(body, p) == nil && p.Title != "" {
		return p
	}
	// Not a problem document (e.g. a sync result with its error, sent
	// with 502): keep status and body for the caller that knows the shape.
	*p = apiProblem{Status: resp.StatusCode, Title: http.StatusText(resp.StatusCode), raw: body}
	return p
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
			name := st.Name
			if st.Country != "" {
				name += " (" + st.Country + ")"
			}
			fmt.Fprintf(g.stdout, "node:        %s\nversion:     %s\nfingerprint: %s (%s)\nstore:       %s (%s)\nup since:    %s (%s)\nyou:         %s (%s)\n",
				name, st.Version, st.Fingerprint, st.KeyProfile, st.StoreDriver, storeState,
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
