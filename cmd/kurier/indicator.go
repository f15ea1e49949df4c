package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/kurier/kurier/node/indicator"
)

func newIndicatorCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "indicator",
		Short: "Add, search and revoke threat indicators on a node (uses KURIER_URL and KURIER_TOKEN)",
	}
	cmd.AddCommand(newIndicatorAddCmd(g), newIndicatorSearchCmd(g), newIndicatorRevokeCmd(g), newIndicatorShowCmd(g))
	return cmd
}

func newIndicatorAddCmd(g *globals) *cobra.Command {
	var req indicator.QuickAdd
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "add KIND VALUE",
		Short: "Add an indicator for one value, with its observable",
		Long: `add builds a proper STIX 2.1 indicator (pattern, valid_from, indicator_types)
and the matching cyber observable, signs and stores them. KIND is ipv4-addr,
ipv6-addr, domain-name, url, email-addr or file (VALUE is then a hash, e.g.
SHA-256:9f86…), or "auto" to detect it.

  kurier indicator add ipv4-addr 203.0.113.7 --tlp green --label c2`,
		Args: cobra.ExactArgs(2),
		RunE: func(c *cobra.Command, args []string) error {
			cl, err := g.client()
			if err != nil {
				return err
			}
			req.Kind, req.Value = args[0], args[1]
			if req.Kind == "auto" {
				req.Kind = ""
			}
			body, _ := json.Marshal(req)
			var bundle struct {
				Objects []map[string]any `json:"objects"`
			}
			if err := cl.doJSON(http.MethodPost, "/api/v1/indicators", bytes.NewReader(body), "application/json", &bundle); err != nil {
				return err
			}
			if asJSON {
				return printJSON(g, bundle)
			}
			for _, o := range bundle.Objects {
				fmt.Fprintf(g.stdout, "%s\t%v\n", o["id"], firstOf(o, "pattern", "value"))
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&req.TLP, "tlp", "", "TLP marking: clear, green, amber, amber+strict, red (default: none; the node's default TLP applies)")
	f.StringSliceVar(&req.Labels, "label", nil, "label (repeat or comma-separate)")
	f.StringVar(&req.Name, "name", "", "indicator name")
	f.StringVar(&req.Description, "description", "", "indicator description")
	f.StringVar(&req.ValidUntil, "valid-until", "", "end of validity (RFC 3339)")
	f.BoolVar(&asJSON, "json", false, "print the stored objects as JSON")
	return cmd
}

func firstOf(o map[string]any, keys ...string) any {
	for _, k := range keys {
		if v, ok := o[k]; ok {
			return v
		}
	}
	return ""
}

func newIndicatorSearchCmd(g *globals) *cobra.Command {
	var allVersions, includeRevoked, asJSON bool
	var types string
	cmd := &cobra.Command{
		Use:   "search VALUE",
		Short: "Have we seen this value? (IP with CIDR containment, domain with subdomains, URL, hash, e-mail)",
		Args:  cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			cl, err := g.client()
			if err != nil {
				return err
			}
			q := url.Values{"value": {args[0]}}
			if allVersions {
				q.Set("all_versions", "true")
			}
			if includeRevoked {
				q.Set("include_revoked", "true")
			}
			if types != "" {
				q.Set("type", types)
			}
			var res indicator.SearchResult
			if err := cl.getJSON("/api/v1/search?"+q.Encode(), &res); err != nil {
				return err
			}
			if asJSON {
				return printJSON(g, res)
			}
			if len(res.Hits) == 0 {
				fmt.Fprintf(g.stdout, "no match for %s %s\n", res.Kind, res.Query)
				return nil
			}
			tw := tabwriter.NewWriter(g.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "MATCH\tVALUE\tID\tTLP\tADDED")
			for _, h := range res.Hits {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", h.Match, h.Value, h.ID, h.TLP, h.Added.Format(time.RFC3339))
			}
			if res.Truncated {
				fmt.Fprintln(tw, "…\t(more hits not shown)")
			}
			return tw.Flush()
		},
	}
	f := cmd.Flags()
	f.BoolVar(&allVersions, "all-versions", false, "match older versions too")
	f.BoolVar(&includeRevoked, "include-revoked", false, "include revoked objects")
	f.StringVar(&types, "type", "", "only these STIX types (comma-separated)")
	f.BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func newIndicatorRevokeCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "revoke ID",
		Short: "Revoke one of this node's objects (a new version with revoked: true)",
		Args:  cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			cl, err := g.client()
			if err != nil {
				return err
			}
			var o map[string]any
			if err := cl.doJSON(http.MethodPost, "/api/v1/objects/"+url.PathEscape(args[0])+"/revoke", nil, "", &o); err != nil {
				return err
			}
			fmt.Fprintf(g.stdout, "%s revoked (version %v)\n", args[0], o["modified"])
			return nil
		},
	}
}

func newIndicatorShowCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "show ID",
		Short: "Print every stored version of an object, with origin and TLP",
		Args:  cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			cl, err := g.client()
			if err != nil {
				return err
			}
			var v any
			if err := cl.getJSON("/api/v1/objects/"+url.PathEscape(args[0]), &v); err != nil {
				return err
			}
			return printJSON(g, v)
		},
	}
}

func newSightingCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "sighting", Short: "Record that an indicator was seen"}
	var req indicator.SightingRequest
	add := &cobra.Command{
		Use:   "add INDICATOR-ID",
		Short: "Record a STIX sighting of an indicator (count and time window)",
		Args:  cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			cl, err := g.client()
			if err != nil {
				return err
			}
			req.SightingOfRef = args[0]
			body, _ := json.Marshal(req)
			var o map[string]any
			if err := cl.doJSON(http.MethodPost, "/api/v1/sightings", bytes.NewReader(body), "application/json", &o); err != nil {
				return err
			}
			fmt.Fprintf(g.stdout, "%s\n", o["id"])
			return nil
		},
	}
	f := add.Flags()
	f.IntVar(&req.Count, "count", 0, "how many times it was seen")
	f.StringVar(&req.FirstSeen, "first-seen", "", "start of the window (RFC 3339)")
	f.StringVar(&req.LastSeen, "last-seen", "", "end of the window (RFC 3339)")
	f.StringVar(&req.Description, "description", "", "what was seen")
	f.StringVar(&req.TLP, "tlp", "", "TLP marking of the sighting")
	f.StringSliceVar(&req.WhereSightedRefs, "where", nil, "identity or location ids where it was seen")
	cmd.AddCommand(add)
	return cmd
}

func printJSON(g *globals, v any) error {
	enc := json.NewEncoder(g.stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// splitQuery turns "type=indicator&tlp=green" into URL values.
func splitQuery(s string) (url.Values, error) {
	v, err := url.ParseQuery(s)
	if err != nil {
		return nil, fmt.Errorf("--query %q: %w", s, err)
	}
	return v, nil
}
