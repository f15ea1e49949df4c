package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/kurier/kurier/federation"
	"github.com/kurier/kurier/federation/peers"
	"github.com/kurier/kurier/federation/policy"
	"github.com/kurier/kurier/federation/wire"
	"github.com/kurier/kurier/node"
)

// newPeerCmd is `kurier peer`: the node's peers and their policies. add,
// update, list, show and remove work on the node's store (local admin, like
// `kurier token`); a running node picks changes up within seconds. preview
// asks a running node (KURIER_URL, KURIER_TOKEN).
func newPeerCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "peer",
		Short: "Add, change, list and remove federation peers and preview what they receive",
		Long: `A peer is another Kurier node this node exchanges STIX objects with. Each peer
is pinned to its OpenPGP key fingerprint (exchange fingerprints out of band) and
has one versioned policy document: the highest TLP exchanged (clear, green or
amber; AMBER+STRICT and RED never leave automatically), the STIX types, the
sharing groups it belongs to (objects labelled group:NAME go only to members),
and whether objects written by other nodes are relayed to and from it.

add, update, list, show and remove work on the node's store directly; a
running node applies changes within seconds. preview asks a running node
(KURIER_URL, KURIER_TOKEN).`,
	}
	cmd.AddCommand(newPeerAddCmd(g), newPeerUpdateCmd(g), newPeerListCmd(g), newPeerShowCmd(g),
		newPeerRemoveCmd(g), newPeerPreviewCmd(g), newPeerIdentityCmd(g))
	return cmd
}

// peerStore opens the peer documents in the node's objects bucket.
func (g *globals) peerStore(ctx context.Context) (*peers.Store, error) {
	cfg, err := g.loadConfig()
	if err != nil {
		return nil, err
	}
	st, err := node.OpenStore(ctx, cfg)
	if err != nil {
		return nil, err
	}
	return peers.NewStore(st.Bucket(cfg.Store.Buckets.Objects)), nil
}

// policyFlags are the flags that set a peer's policy.
type policyFlags struct {
	maxTLP   string
	types    []string
	groups   []string
	relay    bool
	interval time.Duration
	url      string
	key      string
	fpr      string
	comment  string
	paused   bool
}

func (p *policyFlags) register(c *cobra.Command, forAdd bool) {
	f := c.Flags()
	f.StringVar(&p.url, "url", "", "the peer's base URL, e.g. https://kurier.cert.example")
	f.StringVar(&p.key, "key", "", "file with the peer's public key (armored or binary, as `gpg --export` writes it)")
	f.StringVar(&p.fpr, "fingerprint", "", "the fingerprint you were given out of band; the key must match it (without --key, the key is fetched from the peer's identity document)")
	f.StringVar(&p.maxTLP, "max-tlp", "green", "highest TLP exchanged: clear, green or amber")
	f.StringSliceVar(&p.types, "types", nil, "only these STIX types (comma-separated; default all)")
	f.StringSliceVar(&p.groups, "groups", nil, "sharing groups the peer belongs to (objects labelled group:NAME go only to members)")
	f.BoolVar(&p.relay, "relay", false, "relay: objects written by other nodes flow to and from this peer (TLP:CLEAR and TLP:GREEN only)")
	f.DurationVar(&p.interval, "interval", peers.DefaultInterval, "pull period when no push notice arrives")
	f.StringVar(&p.comment, "comment", "", "free text for operators")
	f.BoolVar(&p.paused, "paused", false, "suspend the exchange (no pulls, no notices, its requests refused) without forgetting the peer")
	if forAdd {
		_ = c.MarkFlagRequired("url")
	}
}

func (p *policyFlags) policy() policy.Policy {
	return policy.Policy{MaxTLP: p.maxTLP, Types: p.types, Groups: p.groups, Relay: p.relay}.Normalize()
}

// keyFor reads the peer's key from --key, or fetches it from the peer's
// identity document (then --fingerprint is required: fetching a key over
// the network proves nothing about who holds it).
func (p *policyFlags) keyFor(ctx context.Context, baseURL string) ([]byte, error) {
	if p.key != "" {
		return os.ReadFile(p.key)
	}
	if p.fpr == "" {
		return nil, exitError{code: 2, err: errors.New("give the peer's key with --key FILE, or its fingerprint with --fingerprint (the key is then fetched from the peer and must match)")}
	}
	d, err := fetchIdentity(ctx, baseURL)
	if err != nil {
		return nil, err
	}
	return []byte(d.PublicKey), nil
}

func newPeerAddCmd(g *globals) *cobra.Command {
	var pf policyFlags
	cmd := &cobra.Command{
		Use:   "add NAME --url URL (--key FILE | --fingerprint FPR) [--max-tlp green|amber] [--types ...] [--groups ...] [--relay] [--interval 30s]",
		Short: "Add a peer, pinned to its key",
		Long: `add stores a new peer document (version 1). Check the fingerprint it prints
against the one the peer's operators gave you out of band.

  kurier peer add cert-fr --url https://kurier.cert.fr --key cert-fr.asc --max-tlp amber
  kurier peer add cert-nl --url https://kurier.ncsc.nl --fingerprint '0123 4567 ...'`,
		Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			if err := peers.ValidName(args[0]); err != nil {
				return exitError{code: 2, err: err}
			}
			key, err := pf.keyFor(c.Context(), pf.url)
			if err != nil {
				return err
			}
			doc, err := peers.New(args[0], pf.url, key, pf.fpr, pf.policy(), pf.interval)
			if err != nil {
				return exitError{code: 2, err: err}
			}
			doc.Comment, doc.Paused = pf.comment, pf.paused
			ps, err := g.peerStore(c.Context())
			if err != nil {
				return err
			}
			doc, err = ps.Add(c.Context(), doc)
			if err != nil {
				return err
			}
			fmt.Fprintf(g.stdout, "peer %s added (policy version %d)\nfingerprint %s\n", doc.Name, doc.Version, formatFingerprint(doc.Fingerprint))
			printPolicy(g.stdout, doc)
			if pf.fpr == "" {
				fmt.Fprintln(g.stderr, "Compare this fingerprint with the one the peer's operators gave you before trusting it.")
			}
			return nil
		},
	}
	pf.register(cmd, true)
	return cmd
}

func newPeerUpdateCmd(g *globals) *cobra.Command {
	var pf policyFlags
	cmd := &cobra.Command{
		Use:   "update NAME [--url URL] [--key FILE] [--max-tlp ...] [--types ...] [--groups ...] [--relay=true|false] [--interval D]",
		Short: "Change a peer's document; only the flags given change (a new version)",
		Long: `update writes a new version of the peer's document with the flags given
changed. The bucket keeps every version. When the policy changes, the next
pull of that peer re-decides what it already received: objects it may no
longer see are retracted with signed tombstones, objects it may now see are
sent.

  kurier peer update cert-fr --groups eu-cert   # drop it from every other group
  kurier peer update cert-fr --max-tlp green`,
		Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			ps, err := g.peerStore(c.Context())
			if err != nil {
				return err
			}
			flags := c.Flags()
			doc, err := ps.Update(c.Context(), args[0], func(d *peers.Peer) error {
				if flags.Changed("url") {
					d.URL = strings.TrimRight(pf.url, "/")
				}
				if flags.Changed("key") || flags.Changed("fingerprint") {
					key, err := pf.keyFor(c.Context(), d.URL)
					if err != nil {
						return err
					}
					nd, err := peers.New(d.Name, d.URL, key, pf.fpr, d.Policy, d.Interval.D())
					if err != nil {
						return err
					}
					d.PublicKey, d.Fingerprint = nd.PublicKey, nd.Fingerprint
				}
				if flags.Changed("max-tlp") {
					d.Policy.MaxTLP = pf.maxTLP
				}
				if flags.Changed("types") {
					d.Policy.Types = pf.types
				}
				if flags.Changed("groups") {
					d.Policy.Groups = pf.groups
				}
				if flags.Changed("relay") {
					d.Policy.Relay = pf.relay
				}
				if flags.Changed("interval") {
					d.Interval = peers.Duration(pf.interval)
				}
				if flags.Changed("comment") {
					d.Comment = pf.comment
				}
				if flags.Changed("paused") {
					d.Paused = pf.paused
				}
				return nil
			})
			if err != nil {
				return err
			}
			fmt.Fprintf(g.stdout, "peer %s updated (policy version %d)\n", doc.Name, doc.Version)
			printPolicy(g.stdout, doc)
			return nil
		},
	}
	pf.register(cmd, false)
	return cmd
}

func newPeerListCmd(g *globals) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List the peers and their policies",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			ps, err := g.peerStore(c.Context())
			if err != nil {
				return err
			}
			list, errs := ps.List(c.Context())
			for _, err := range errs {
				fmt.Fprintln(g.stderr, "warning:", err)
			}
			if asJSON {
				if list == nil {
					list = []peers.Peer{}
				}
				return printJSON(g, list)
			}
			if len(list) == 0 {
				fmt.Fprintln(g.stdout, "no peers (add one with `kurier peer add`)")
				return nil
			}
			tw := tabwriter.NewWriter(g.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "NAME\tURL\tFINGERPRINT\tMAX-TLP\tTYPES\tGROUPS\tRELAY\tINTERVAL\tVERSION\tPAUSED")
			for _, p := range list {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%v\t%s\t%d\t%v\n", p.Name, p.URL, p.Fingerprint, p.Policy.MaxTLP,
					listOrAll(p.Policy.Types), listOrDash(p.Policy.Groups), p.Policy.Relay, p.Interval.D(), p.Version, p.Paused)
			}
			return tw.Flush()
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the peer documents as JSON")
	return cmd
}

func newPeerShowCmd(g *globals) *cobra.Command {
	var asJSON, history bool
	cmd := &cobra.Command{
		Use:   "show NAME",
		Short: "Show a peer's document (--history: every version)",
		Args:  cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			ps, err := g.peerStore(c.Context())
			if err != nil {
				return err
			}
			var docs []peers.Peer
			if history {
				docs, err = ps.History(c.Context(), args[0])
			} else {
				var d peers.Peer
				d, err = ps.Get(c.Context(), args[0])
				docs = []peers.Peer{d}
			}
			if err != nil {
				return err
			}
			if asJSON {
				if history {
					return printJSON(g, docs)
				}
				return printJSON(g, docs[0])
			}
			for i, d := range docs {
				if i > 0 {
					fmt.Fprintln(g.stdout)
				}
				fmt.Fprintf(g.stdout, "peer:        %s (version %d, %s)\nurl:         %s\nfingerprint: %s\n", d.Name, d.Version,
					d.Updated.Format(time.RFC3339), d.URL, formatFingerprint(d.Fingerprint))
				printPolicy(g.stdout, d)
				if d.Comment != "" {
					fmt.Fprintf(g.stdout, "comment:     %s\n", d.Comment)
				}
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	cmd.Flags().BoolVar(&history, "history", false, "every stored version, newest first")
	return cmd
}

func newPeerRemoveCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "remove NAME",
		Short: "Remove a peer (its history stays in the store)",
		Long: `remove deletes the peer's document; a running node stops pulling from it and
refuses its requests within seconds. Objects already exchanged stay where
they are (retract your objects first if they must go).`,
		Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			ps, err := g.peerStore(c.Context())
			if err != nil {
				return err
			}
			d, err := ps.Remove(c.Context(), args[0])
			if err != nil {
				return err
			}
			fmt.Fprintf(g.stdout, "peer %s removed (was %s, fingerprint %s)\n", d.Name, d.URL, d.Fingerprint)
			return nil
		},
	}
}

func newPeerPreviewCmd(g *globals) *cobra.Command {
	var asJSON, all bool
	var limit int
	var pf policyFlags
	cmd := &cobra.Command{
		Use:   "preview NAME [--max-tlp ...] [--types ...] [--groups ...] [--relay=...]",
		Short: "What would this peer receive, and which rule allowed or withheld each object (asks a running node)",
		Long: `preview decides every current object for the peer without sending anything,
and names the rule behind each decision. Policy flags preview a draft policy
instead of the stored one. Uses KURIER_URL and KURIER_TOKEN (operator role).

  kurier peer preview cert-fr
  kurier peer preview cert-fr --max-tlp amber --all`,
		Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			cl, err := g.client()
			if err != nil {
				return err
			}
			q := url.Values{}
			flags := c.Flags()
			if flags.Changed("max-tlp") {
				q.Set("max_tlp", pf.maxTLP)
			}
			if flags.Changed("types") {
				q.Set("types", strings.Join(pf.types, ","))
			}
			if flags.Changed("groups") {
				q.Set("groups", strings.Join(pf.groups, ","))
			}
			if flags.Changed("relay") {
				q.Set("relay", strconv.FormatBool(pf.relay))
			}
			q.Set("limit", strconv.Itoa(min(limit, federation.MaxBatchLimit)))
			var total federation.Preview
			shown := 0
			for {
				var pv federation.Preview
				if err := cl.getJSON("/api/v1/federation/peers/"+url.PathEscape(args[0])+"/preview?"+q.Encode(), &pv); err != nil {
					return err
				}
				if total.Summary == nil {
					total = pv
					total.Items, total.Summary = nil, map[string]int{}
				}
				for r, n := range pv.Summary {
					total.Summary[r] += n
				}
				for _, it := range pv.Items {
					if all || shown < limit {
						total.Items = append(total.Items, it)
						shown++
					}
				}
				total.Next = pv.Next
				if pv.Next == "" || !all {
					break
				}
				q.Set("after", pv.Next)
			}
			if asJSON {
				return printJSON(g, total)
			}
			draft := ""
			if total.Draft {
				draft = " (DRAFT policy, not stored)"
			}
			fmt.Fprintf(g.stdout, "peer %s, policy version %d%s: max %s, types %s, groups %s, relay %v\n\n", total.Peer, total.PolicyVersion, draft,
				total.Policy.MaxTLP, listOrAll(total.Policy.Types), listOrDash(total.Policy.Groups), total.Policy.Relay)
			tw := tabwriter.NewWriter(g.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "DECISION\tRULE\tTLP\tTYPE\tID\tREASON")
			for _, it := range total.Items {
				d := "withhold"
				if it.Decision.Allow {
					d = "send"
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", d, it.Decision.Rule, it.TLP, it.Type, it.ID, it.Decision.Reason)
			}
			if err := tw.Flush(); err != nil {
				return err
			}
			send, withhold := 0, 0
			for r, n := range total.Summary {
				if r == policy.RuleAllowed {
					send += n
				} else {
					withhold += n
				}
			}
			fmt.Fprintf(g.stdout, "\n%d would be sent, %d withheld", send, withhold)
			for _, r := range policy.Rules {
				if n := total.Summary[r]; n > 0 {
					fmt.Fprintf(g.stdout, "; %s: %d", r, n)
				}
			}
			fmt.Fprintln(g.stdout)
			if total.Next != "" {
				fmt.Fprintf(g.stdout, "(the first %d objects only; --all decides every object)\n", shown)
			}
			return nil
		},
	}
	pf.register(cmd, false)
	cmd.Flags().IntVar(&limit, "limit", 100, "objects to list")
	cmd.Flags().BoolVar(&all, "all", false, "decide every object (the summary covers all of them)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	for _, name := range []string{"url", "key", "fingerprint", "interval", "comment", "paused"} {
		_ = cmd.Flags().MarkHidden(name)
	}
	return cmd
}

func newPeerIdentityCmd(g *globals) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "identity URL",
		Short: "Fetch and check another node's identity document (name, key, fingerprint)",
		Long: `identity fetches URL/federation/v1/identity, checks that the document is
signed by the key it carries, and prints the key's fingerprint. Compare it with
the fingerprint the node's operators give you out of band before adding the
peer.`,
		Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			d, err := fetchIdentity(c.Context(), args[0])
			if err != nil {
				return err
			}
			if asJSON {
				return printJSON(g, d)
			}
			fmt.Fprintf(g.stdout, "name:        %s\ncountry:     %s\norganization: %s\nfingerprint: %s\nkey profile: %s\nprotocol:    %s\n",
				d.Name, d.Country, d.Organization, formatFingerprint(d.Fingerprint), d.KeyProfile, d.Protocol)
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the whole document")
	return cmd
}

// fetchIdentity GETs and verifies a node's identity document.
func fetchIdentity(ctx context.Context, base string) (wire.Identity, error) {
	u, err := url.Parse(strings.TrimRight(base, "/"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return wire.Identity{}, exitError{code: 2, err: fmt.Errorf("%q is not an http(s) URL", base)}
	}
	u.Path += wire.BasePath + wire.PathIdentity
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return wire.Identity{}, fmt.Errorf("fetch identity: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return wire.Identity{}, fmt.Errorf("fetch identity: %s answered %s", u, resp.Status)
	}
	var d wire.Identity
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&d); err != nil {
		return wire.Identity{}, fmt.Errorf("fetch identity: %w", err)
	}
	if err := d.Verify(); err != nil {
		return wire.Identity{}, err
	}
	return d, nil
}

func printPolicy(w io.Writer, d peers.Peer) {
	fmt.Fprintf(w, "max TLP:     %s\ntypes:       %s\ngroups:      %s\nrelay:       %v\ninterval:    %s\n",
		d.Policy.MaxTLP, listOrAll(d.Policy.Types), listOrDash(d.Policy.Groups), d.Policy.Relay, d.Interval.D())
	if d.Paused {
		fmt.Fprintln(w, "PAUSED:      no pulls, no notices, its requests refused")
	}
}

func listOrAll(l []string) string {
	if len(l) == 0 {
		return "all"
	}
	return strings.Join(l, ",")
}

func listOrDash(l []string) string {
	if len(l) == 0 {
		return "-"
	}
	return strings.Join(l, ",")
}

// formatFingerprint groups a fingerprint by four, as gpg prints it.
func formatFingerprint(f string) string {
	var b strings.Builder
	for i, r := range f {
		if i > 0 && i%4 == 0 {
			b.WriteByte(' ')
		}
		b.WriteRune(r)
	}
	return b.String()
}
