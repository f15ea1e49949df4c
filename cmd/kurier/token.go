package main

import (
	"fmt"
	"net/http"
	"os"
	"os/user"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/kurier/kurier/node"
	"github.com/kurier/kurier/node/audit"
	"github.com/kurier/kurier/node/auth"
)

func newTokenCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "token",
		Short: "Create, list and revoke API tokens (local admin: works on the node's store)",
	}
	var log *audit.Log
	open := func(c *cobra.Command) (*auth.Tokens, error) {
		cfg, err := g.loadConfig()
		if err != nil {
			return nil, err
		}
		st, err := node.OpenStore(c.Context(), cfg)
		if err != nil {
			return nil, err
		}
		log = audit.New(st.Bucket(cfg.Store.Buckets.Evidence), cfg.Audit.RetentionDays.D())
		return auth.NewTokens(st.Bucket(cfg.Store.Buckets.Objects)), nil
	}
	// record puts a local token change in the audit log, as the API does
	// for its writes: the token itself is written already, so a failed
	// record is an error the operator must see, not a silent gap.
	record := func(c *cobra.Command, action string, tok auth.Token, status int) error {
		if err := log.Record(c.Context(), audit.Event{
			Actor: localActor(), Role: "local-admin", Action: action, Route: "kurier " + action,
			Target: "token/" + tok.ID, Status: status, Remote: "local",
			Detail: fmt.Sprintf("token %s (%s, role %s, tlp_red %v)", tok.ID, tok.Name, tok.Role, tok.TLPRed),
		}); err != nil {
			return fmt.Errorf("token %s changed, but its audit entry was not written: %w", tok.ID, err)
		}
		return nil
	}

	var (
		role, name string
		tlpRed     bool
	)
	create := &cobra.Command{
		Use:   "create --role ROLE --name NAME",
		Short: "Create a token; it is shown once and stored only as a hash",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			r, err := auth.ParseRole(role)
			if err != nil {
				return exitError{code: 2, err: err}
			}
			tokens, err := open(c)
			if err != nil {
				return err
			}
			var opts []auth.TokenOption
			if tlpRed {
				if !r.Allowed(auth.Analyst) {
					return exitError{code: 2, err: fmt.Errorf("--tlp-red needs a role that reads indicators (analyst or admin), not %s", r)}
				}
				opts = append(opts, auth.WithTLPRed())
			}
			secret, tok, err := tokens.Create(c.Context(), name, r, opts...)
			if err != nil {
				return err
			}
			fmt.Fprintln(g.stdout, secret)
			if err := record(c, "token create", tok, http.StatusCreated); err != nil {
				return err
			}
			red := ""
			if tok.TLPRed {
				red = ", a named recipient of TLP:RED"
			}
			fmt.Fprintf(g.stderr, "token %s (%s, role %s%s) created; it is shown only this once.\n", tok.ID, tok.Name, tok.Role, red)
			return nil
		},
	}
	create.Flags().StringVar(&role, "role", "", "role: analyst, liaison, operator or admin (required)")
	create.Flags().StringVar(&name, "name", "", "who or what uses the token (required)")
	create.Flags().BoolVar(&tlpRed, "tlp-red", false, "name the holder a recipient of TLP:RED (without it no token sees TLP:RED objects)")
	_ = create.MarkFlagRequired("role")
	_ = create.MarkFlagRequired("name")

	list := &cobra.Command{
		Use:   "list",
		Short: "List tokens (ids, names, roles; never secrets)",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			tokens, err := open(c)
			if err != nil {
				return err
			}
			all, err := tokens.List(c.Context())
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(g.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tNAME\tROLE\tTLP:RED\tCREATED\tREVOKED")
			for _, t := range all {
				revoked := "-"
				if t.RevokedAt != nil {
					revoked = t.RevokedAt.Format(time.RFC3339)
				}
				red := "-"
				if t.TLPRed {
					red = "yes"
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", t.ID, t.Name, t.Role, red, t.CreatedAt.Format(time.RFC3339), revoked)
			}
			return tw.Flush()
		},
	}
	revoke := &cobra.Command{
		Use:   "revoke ID",
		Short: "Revoke a token (a running node refuses it within seconds)",
		Args:  cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			tokens, err := open(c)
			if err != nil {
				return err
			}
			t, err := tokens.Revoke(c.Context(), args[0])
			if err != nil {
				return err
			}
			if err := record(c, "token revoke", t, http.StatusOK); err != nil {
				return err
			}
			fmt.Fprintf(g.stdout, "token %s (%s) revoked at %s\n", t.ID, t.Name, t.RevokedAt.Format(time.RFC3339))
			return nil
		},
	}
	cmd.AddCommand(create, list, revoke)
	return cmd
}

// localActor names who ran a local admin command: the OS user.
func localActor() string {
	if u, err := user.Current(); err == nil && u.Username != "" {
		return "local:" + u.Username
	}
	return fmt.Sprintf("local:uid %d", os.Getuid())
}
