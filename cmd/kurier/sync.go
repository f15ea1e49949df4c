package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/kurier/kurier/federation"
)

// newSyncCmd is `kurier sync`: the running node's federation (uses
// KURIER_URL and KURIER_TOKEN).
func newSyncCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "sync",
		Short: "Pull from a peer now, show federation status, retract an object (uses KURIER_URL and KURIER_TOKEN)",
	}
	cmd.AddCommand(newSyncNowCmd(g), newSyncStatusCmd(g), newSyncRetractCmd(g), newSyncConflictsCmd(g), newSyncProvenanceCmd(g))
	return cmd
}

func newSyncNowCmd(g *globals) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "now PEER",
		Short: "Pull everything the peer has for us now, and wait for the result",
		Args:  cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			cl, err := g.client()
			if err != nil {
				return err
			}
			var res federation.SyncResult
			err = cl.doJSON(http.MethodPost, "/api/v1/federation/peers/"+url.PathEscape(args[0])+"/sync", nil, "", &res)
			if p, ok := err.(*apiProblem); ok && p.Status == http.StatusBadGateway && p.raw != nil {
				_ = json.Unmarshal(p.raw, &res)
				err = fmt.Errorf("pull from %s failed: %s", args[0], res.Error)
			}
			if asJSON && res.Peer != "" {
				_ = printJSON(g, res)
			}
			if err != nil {
				return err
			}
			if !asJSON {
				fmt.Fprintf(g.stdout, "%s: %d batches, %d records: %d stored, %d already held (%d by a new path), %d older, %d tombstones, %d conflicts, %d rejected (%.2fs)\n",
					res.Peer, res.Batches, res.Records+rejected(res), res.Stored, res.Duplicates, res.Provenance, res.Older, res.Tombstones, res.Conflicts, rejected(res), res.Seconds)
				for _, r := range sortedKeys(res.Rejected) {
					fmt.Fprintf(g.stdout, "  rejected %s: %d\n", r, res.Rejected[r])
				}
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func rejected(r federation.SyncResult) int {
	n := 0
	for _, v := range r.Rejected {
		n += v
	}
	return n
}

func sortedKeys(m map[string]int) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func newSyncStatusCmd(g *globals) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show every peer's pull state: up, last sync, lag, errors",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			cl, err := g.client()
			if err != nil {
				return err
			}
			var st struct {
				Peers []federation.PeerStatus `json:"peers"`
			}
			if err := cl.getJSON("/api/v1/federation/peers", &st); err != nil {
				return err
			}
			if asJSON {
				return printJSON(g, st)
			}
			if len(st.Peers) == 0 {
				fmt.Fprintln(g.stdout, "no peers loaded")
				return nil
			}
			tw := tabwriter.NewWriter(g.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "PEER\tUP\tLAST SYNC\tLAG\tRECEIVED\tREJECTED\tFAILURES\tLAST ERROR")
			for _, p := range st.Peers {
				last := "never"
				if !p.LastSuccess.IsZero() {
					last = time.Since(p.LastSuccess).Round(time.Second).String() + " ago"
				}
				up := "yes"
				switch {
				case p.Paused:
					up = "paused"
				case !p.Up:
					up = "NO"
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%d obj / %.0fs\t%d\t%d\t%d\t%s\n", p.Name, up, last, p.LagObjects, p.LagSeconds,
					p.Received, p.Rejected, p.ConsecutiveFailures, truncate(p.LastError, 60))
			}
			return tw.Flush()
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n-1] + "…"
}

func newSyncRetractCmd(g *globals) *cobra.Command {
	var tlp string
	var withdraw bool
	cmd := &cobra.Command{
		Use:   "retract OBJECT-ID (--tlp LEVEL | --withdraw)",
		Short: "Narrow the sharing of one of this node's objects, or withdraw it; peers that may no longer see it get a signed tombstone",
		Long: `retract issues a new version of an object this node wrote: with --tlp, marked
with that TLP level (e.g. amber -> red); with --withdraw, revoked. Peers that
received the object and may not see the new version receive a tombstone
signed by this node, and the object leaves their default views and feeds.

  kurier sync retract indicator--0b1c... --tlp red
  kurier sync retract indicator--0b1c... --withdraw`,
		Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			if withdraw == (tlp != "") {
				return exitError{code: 2, err: fmt.Errorf("give either --tlp LEVEL or --withdraw")}
			}
			cl, err := g.client()
			if err != nil {
				return err
			}
			body, _ := json.Marshal(federation.RetractRequest{TLP: tlp, Withdraw: withdraw})
			var out struct {
				Object map[string]any `json:"object"`
			}
			if err := cl.doJSON(http.MethodPost, "/api/v1/federation/objects/"+url.PathEscape(args[0])+"/retract",
				bytes.NewReader(body), "application/json", &out); err != nil {
				return err
			}
			what := "withdrawn (revoked)"
			if tlp != "" {
				what = "re-marked " + strings.ToUpper("tlp:"+tlp)
			}
			fmt.Fprintf(g.stdout, "%s %s; new version %v\n", args[0], what, out.Object["modified"])
			return nil
		},
	}
	cmd.Flags().StringVar(&tlp, "tlp", "", "the new, more restrictive TLP level (amber, amber+strict, red, ...)")
	cmd.Flags().BoolVar(&withdraw, "withdraw", false, "revoke the object")
	return cmd
}

func newSyncConflictsCmd(g *globals) *cobra.Command {
	var (
		id     string
		limit  int
		asJSON bool
	)
	cmd := &cobra.Command{
		Use:   "conflicts",
		Short: "List versions kept aside: same id and modified as a held version, other content (operator)",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			cl, err := g.client()
			if err != nil {
				return err
			}
			if limit < 1 {
				return exitError{code: 2, err: fmt.Errorf("--limit must be at least 1")}
			}
			q := url.Values{}
			if id != "" {
				q.Set("id", id)
			}
			if asJSON {
				q.Set("objects", "true")
			}
			var all []federation.Conflict
			for {
				var page struct {
					Conflicts []federation.Conflict `json:"conflicts"`
					Next      string                `json:"next"`
				}
				// The node answers at most a page per request; --limit may ask for more.
				q.Set("limit", fmt.Sprint(min(limit-len(all), federation.MaxConflictsPage)))
				if err := cl.getJSON("/api/v1/federation/conflicts?"+q.Encode(), &page); err != nil {
					return err
				}
				all = append(all, page.Conflicts...)
				if page.Next == "" || len(all) >= limit {
					break
				}
				q.Set("after", page.Next)
			}
			if asJSON {
				if all == nil {
					all = []federation.Conflict{}
				}
				return printJSON(g, all)
			}
			if len(all) == 0 {
				fmt.Fprintln(g.stdout, "no conflicts")
				return nil
			}
			tw := tabwriter.NewWriter(g.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tMODIFIED\tFROM\tORIGIN\tHELD ORIGIN\tRECEIVED\tSHA-256")
			for _, k := range all {
				from := k.Peer
				if from == "" {
					from = truncate(k.ReceivedFrom, 16)
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", k.ID, k.Modified.Format(time.RFC3339Nano), from,
					truncate(k.Origin, 16), truncate(k.StoredOrigin, 16), k.ReceivedAt.Format(time.RFC3339), truncate(k.SHA256, 16))
			}
			return tw.Flush()
		},
	}
	cmd.Flags().StringVar(&id, "id", "", "only conflicts of this object")
	cmd.Flags().IntVar(&limit, "limit", 1000, "at most this many")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON, with the conflicting objects and signatures")
	return cmd
}

func newSyncProvenanceCmd(g *globals) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "provenance ID",
		Short: "Show every origin and path by which each held version of an object arrived (operator)",
		Args:  cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			cl, err := g.client()
			if err != nil {
				return err
			}
			var op federation.ObjectProvenance
			if err := cl.getJSON("/api/v1/federation/objects/"+url.PathEscape(args[0])+"/provenance", &op); err != nil {
				return err
			}
			if asJSON {
				return printJSON(g, op)
			}
			tw := tabwriter.NewWriter(g.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "VERSION\tORIGIN\tPATH\tFROM\tRECEIVED\tRECORD")
			for _, v := range op.Versions {
				for _, r := range v.Records {
					path := "(direct)"
					if len(r.Path) > 0 {
						short := make([]string, len(r.Path))
						for i, p := range r.Path {
							short[i] = truncate(p, 16)
						}
						path = strings.Join(short, " > ")
					}
					from := r.Peer
					if from == "" {
						from = truncate(r.ReceivedFrom, 16)
					}
					mark := ""
					if r.Primary {
						mark = "stored"
					}
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", v.Modified.Format(time.RFC3339Nano), truncate(r.Origin, 16), path, from,
						r.ReceivedAt.Format(time.RFC3339), mark)
				}
			}
			return tw.Flush()
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}
