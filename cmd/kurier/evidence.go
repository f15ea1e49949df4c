package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"

	"github.com/kurier/kurier/evidence"
	"github.com/kurier/kurier/evidence/bagit"
)

func newEvidenceCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "evidence",
		Short: "Create, seal, inspect and export evidence packages (uses KURIER_URL and KURIER_TOKEN; liaison role)",
		Long: `evidence works with Budapest-Convention evidence packages on a node: a signed
manifest (legal basis, recipients, deadlines), items sealed and stored write-once,
and a signed, hash-chained custody log.

  kurier evidence create --type preservation-request --file manifest.json
  kurier evidence add-item PKG mailbox.mbox --exhibit DE-1
  kurier evidence seal PKG
  kurier evidence list --overdue
  kurier evidence verify PKG
  kurier evidence export PKG --out ./bag
  kurier evidence send PKG --to PEER

Every read is recorded in the package's custody log.`,
	}
	cmd.AddCommand(newEvidenceCreateCmd(g), newEvidenceAddItemCmd(g), newEvidenceSealCmd(g), newEvidenceListCmd(g),
		newEvidenceShowCmd(g), newEvidenceCustodyCmd(g), newEvidenceVerifyCmd(g), newEvidenceExportCmd(g),
		newEvidenceStateCmd(g), newEvidenceAuthoriseCmd(g), newEvidenceHoldCmd(g), newEvidenceDisposeCmd(g), newEvidenceSendCmd(g))
	return cmd
}

// streaming returns a client without the overall timeout, for uploads and
// exports of many gigabytes (the connection still fails if the node goes
// away).
func (c *client) streaming() *client {
	cp := *c
	cp.http = &http.Client{}
	return &cp
}

func pkgPath(id string, rest ...string) string {
	p := "/api/v1/evidence/" + url.PathEscape(id)
	for _, r := range rest {
		p += "/" + r
	}
	return p
}

func printPackage(g *globals, p evidence.Package) {
	fmt.Fprintf(g.stdout, "package:   %s\ntype:      %s (%s)\nstate:     %s\nsealed:    %v\nlegal hold: %v\n", p.ID, p.Type, p.Direction, p.State, p.Sealed, p.LegalHold)
	if p.IndexHidden {
		fmt.Fprintf(g.stdout, "record:    HIDDEN: the package record index/%s.json is hidden by a delete marker (package kept from its stored version; run kurier evidence verify)\n", p.ID)
	}
	if p.ReplyTo != "" {
		fmt.Fprintf(g.stdout, "reply to:  %s\n", p.ReplyTo)
	}
	if p.ManifestSHA256 != "" {
		fmt.Fprintf(g.stdout, "manifest:  sha256 %s\n", p.ManifestSHA256)
	}
	if !p.RetainUntil.IsZero() {
		fmt.Fprintf(g.stdout, "retain until: %s\n", p.RetainUntil.Format(time.RFC3339))
	}
	if m := p.Manifest; m != nil {
		fmt.Fprintf(g.stdout, "sender:    %s %s (%s)\n", m.Sender.Country, m.Sender.Authority, m.Sender.Node)
		for _, r := range m.Recipients {
			fmt.Fprintf(g.stdout, "recipient: %s %s (%s)\n", r.Country, r.Authority, r.Node)
		}
		fmt.Fprintf(g.stdout, "legal basis: %s Art. %s\n", m.LegalBasis.Instrument, m.LegalBasis.Article)
	}
	for _, it := range p.Items {
		fmt.Fprintf(g.stdout, "item:      %s  %d bytes  sha256 %s\n", it.Item.Name, it.Item.Size, it.Item.SHA256)
	}
	for _, o := range p.Overdue {
		fmt.Fprintf(g.stdout, "OVERDUE:   %s since %s: %s\n", o.Kind, o.Due.Format(time.DateOnly), o.What)
	}
}

func newEvidenceCreateCmd(g *globals) *cobra.Command {
	var typ, file string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "create --type TYPE --file MANIFEST.json",
		Short: "Create a draft package from a manifest (refused with every reason if a rule is broken)",
		Long: `create sends a manifest (JSON, see docs/evidence.md) to the node, which checks
it against the Convention's rules (Art. 29(2) elements, data categories, 60-day
preservation, time zones, signer role, recipients' keys ...) and stores a draft.
The node fills in the package id, creation time and itself as sender node if
they are missing. Types: ` + typeList(),
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			cl, err := g.client()
			if err != nil {
				return err
			}
			raw, err := readManifestFile(file)
			if err != nil {
				return err
			}
			var m map[string]any
			if err := json.Unmarshal(raw, &m); err != nil {
				return fmt.Errorf("%s: %w", file, err)
			}
			if typ != "" {
				if have, ok := m["type"].(string); ok && have != typ {
					return exitError{code: 2, err: fmt.Errorf("--type %s but the manifest says %q", typ, have)}
				}
				m["type"] = typ
			}
			body, _ := json.Marshal(m)
			var p evidence.Package
			if err := cl.doJSON(http.MethodPost, "/api/v1/evidence", bytes.NewReader(body), "application/json", &p); err != nil {
				return refusal(err)
			}
			if asJSON {
				return printJSON(g, p)
			}
			fmt.Fprintf(g.stdout, "created %s %s (draft)\n", p.Type, p.ID)
			return nil
		},
	}
	cmd.Flags().StringVar(&typ, "type", "", "package type")
	cmd.Flags().StringVar(&file, "file", "", "manifest JSON file (- for stdin)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	_ = cmd.MarkFlagRequired("file")
	return cmd
}

func typeList() string {
	var s []string
	for _, t := range evidence.Types {
		s = append(s, string(t))
	}
	return strings.Join(s, ", ")
}

func readManifestFile(file string) ([]byte, error) {
	if file == "-" {
		return io.ReadAll(io.LimitReader(os.Stdin, 16<<20))
	}
	return os.ReadFile(file)
}

// refusal prints the node's list of violations one per line.
func refusal(err error) error {
	var p *apiProblem
	if !errors.As(err, &p) {
		return err
	}
	var body struct {
		Violations []evidence.Violation `json:"violations"`
	}
	if json.Unmarshal(p.raw, &body) != nil || len(body.Violations) == 0 {
		return err
	}
	var b strings.Builder
	fmt.Fprintf(&b, "refused by the node (%d %s):", p.Status, p.Title)
	for _, v := range body.Violations {
		fmt.Fprintf(&b, "\n  - %s [%s]", v.String(), v.Rule)
	}
	return errors.New(b.String())
}

func newEvidenceAddItemCmd(g *globals) *cobra.Command {
	var name, mediaType, exhibit, rootExhibit, acquiredBy, method, tool, source, acquiredAt string
	var personal, quiet bool
	cmd := &cobra.Command{
		Use:   "add-item PKG FILE",
		Short: "Stream a file into a draft package (hashed SHA-256/SHA-512, encrypted, stored under Object Lock)",
		Args:  cobra.ExactArgs(2),
		RunE: func(c *cobra.Command, args []string) error {
			cl, err := g.client()
			if err != nil {
				return err
			}
			f, err := os.Open(args[1])
			if err != nil {
				return err
			}
			defer f.Close()
			fi, err := f.Stat()
			if err != nil {
				return err
			}
			if name == "" {
				name = filepath.Base(args[1])
			}
			q := url.Values{}
			for k, v := range map[string]string{"media_type": mediaType, "exhibit": exhibit, "root_exhibit": rootExhibit,
				"acquired_by": acquiredBy, "method": method, "tool": tool, "source": source, "acquired_at": acquiredAt} {
				if v != "" {
					q.Set(k, v)
				}
			}
			if personal {
				q.Set("personal_data", "true")
			}
			var body io.Reader = f
			if !quiet && fi.Size() > 16<<20 {
				bar := progressbar.NewOptions64(fi.Size(), progressbar.OptionSetWriter(g.stderr), progressbar.OptionSetDescription(name),
					progressbar.OptionShowBytes(true), progressbar.OptionThrottle(200e6))
				r := progressbar.NewReader(f, bar)
				body = &r
			}
			req, err := http.NewRequestWithContext(c.Context(), http.MethodPut, cl.base+pkgPath(args[0], "items", url.PathEscape(name))+"?"+q.Encode(), body)
			if err != nil {
				return err
			}
			req.ContentLength = fi.Size()
			req.Header.Set("Authorization", "Bearer "+cl.token)
			req.Header.Set("Content-Type", "application/octet-stream")
			resp, err := cl.streaming().http.Do(req)
			if err != nil {
				return fmt.Errorf("cannot reach node: %w", err)
			}
			defer resp.Body.Close()
			data, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
			if resp.StatusCode >= 300 {
				return refusal(problemError(resp, data))
			}
			var ir evidence.ItemRecord
			if err := json.Unmarshal(data, &ir); err != nil {
				return err
			}
			fmt.Fprintf(g.stdout, "stored %s: %d bytes\n  sha256 %s\n  sha512 %s\n", ir.Item.Name, ir.Item.Size, ir.Item.SHA256, ir.Item.SHA512)
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&name, "name", "", "item name (default: the file's base name)")
	fl.StringVar(&mediaType, "media-type", "", "declared media type")
	fl.StringVar(&exhibit, "exhibit", "", "exhibit number")
	fl.StringVar(&rootExhibit, "root-exhibit", "", "root exhibit number (default: the exhibit number)")
	fl.StringVar(&acquiredBy, "acquired-by", "", "operator who acquired the data")
	fl.StringVar(&method, "method", "", "acquisition method")
	fl.StringVar(&tool, "tool", "", "acquisition tool and version")
	fl.StringVar(&source, "source", "", "where the data came from")
	fl.StringVar(&acquiredAt, "acquired-at", "", "acquisition time (RFC 3339 with time zone)")
	fl.BoolVar(&personal, "personal-data", false, "the item holds personal data")
	fl.BoolVar(&quiet, "quiet", false, "no progress bar")
	return cmd
}

func newEvidenceSealCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "seal PKG",
		Short: "Finalise a draft: the node signs the manifest with every item's hashes",
		Args:  cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			cl, err := g.client()
			if err != nil {
				return err
			}
			var p evidence.Package
			if err := cl.doJSON(http.MethodPost, pkgPath(args[0], "seal"), nil, "", &p); err != nil {
				return refusal(err)
			}
			fmt.Fprintf(g.stdout, "sealed %s: %d items, manifest sha256 %s\n", p.ID, len(p.Items), p.ManifestSHA256)
			return nil
		},
	}
}

func newEvidenceListCmd(g *globals) *cobra.Command {
	var overdue, asJSON bool
	var state, typ string
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List packages (--overdue: only those with a passed deadline)",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			cl, err := g.client()
			if err != nil {
				return err
			}
			q := url.Values{}
			if overdue {
				q.Set("overdue", "true")
			}
			if state != "" {
				q.Set("state", state)
			}
			if typ != "" {
				q.Set("type", typ)
			}
			var out struct {
				Packages []evidence.Package `json:"packages"`
			}
			if err := cl.getJSON("/api/v1/evidence?"+q.Encode(), &out); err != nil {
				return err
			}
			if asJSON {
				return printJSON(g, out)
			}
			tw := tabwriter.NewWriter(g.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tTYPE\tDIRECTION\tSTATE\tCREATED\tOVERDUE")
			for _, p := range out.Packages {
				var od []string
				for _, o := range p.Overdue {
					od = append(od, o.Kind+" since "+o.Due.Format(time.DateOnly))
				}
				st := string(p.State)
				if p.IndexHidden {
					st += " (record HIDDEN)"
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", p.ID, p.Type, p.Direction, st, p.Created.Format(time.DateOnly), strings.Join(od, ", "))
			}
			return tw.Flush()
		},
	}
	cmd.Flags().BoolVar(&overdue, "overdue", false, "only packages with a passed deadline")
	cmd.Flags().StringVar(&state, "state", "", "only packages in this state")
	cmd.Flags().StringVar(&typ, "type", "", "only packages of this type")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func newEvidenceShowCmd(g *globals) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "show PKG",
		Short: "Show a package: manifest, items, state, deadlines (recorded as an access)",
		Args:  cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			cl, err := g.client()
			if err != nil {
				return err
			}
			var p evidence.Package
			if err := cl.getJSON(pkgPath(args[0]), &p); err != nil {
				return err
			}
			if asJSON {
				return printJSON(g, p)
			}
			printPackage(g, p)
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON (with the full manifest)")
	return cmd
}

func newEvidenceCustodyCmd(g *globals) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "custody PKG",
		Short: "Print the package's custody chain (who, when, where, what, why)",
		Args:  cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			cl, err := g.client()
			if err != nil {
				return err
			}
			var out struct {
				Events []struct {
					Event evidence.Event `json:"event"`
					Hash  string         `json:"hash"`
				} `json:"events"`
			}
			if err := cl.getJSON(pkgPath(args[0], "custody"), &out); err != nil {
				return err
			}
			if asJSON {
				return printJSON(g, out)
			}
			tw := tabwriter.NewWriter(g.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "SEQ\tTIME\tEVENT\tWHO\tWHERE\tWHAT\tWHY\tHASH")
			for _, e := range out.Events {
				ev := e.Event
				var what []string
				for _, it := range ev.What {
					what = append(what, fmt.Sprintf("%s(%.12s)", it.Name, it.SHA256))
				}
				who := ev.Who.Person
				if who == "" {
					who = ev.Who.NodeName
				}
				fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%.16s\n", ev.Seq, ev.Time.Format(time.RFC3339), ev.Kind, who, ev.Where,
					strings.Join(what, " "), ev.Why, e.Hash)
			}
			return tw.Flush()
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func newEvidenceVerifyCmd(g *globals) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "verify PKG",
		Short: "Re-check the manifest signature, every item's hashes and the custody chain (exit 1 on any problem)",
		Args:  cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			cl, err := g.client()
			if err != nil {
				return err
			}
			var rep evidence.Report
			if err := cl.streaming().getJSON(pkgPath(args[0], "verify"), &rep); err != nil {
				return err
			}
			if asJSON {
				if err := printJSON(g, rep); err != nil {
					return err
				}
			} else {
				switch {
				case rep.IndexHidden:
					fmt.Fprintf(g.stdout, "record: HIDDEN: %s\n", rep.Index)
				case rep.Index != "":
					fmt.Fprintf(g.stdout, "record: %s\n", rep.Index)
				}
				fmt.Fprintf(g.stdout, "manifest: %s\n", rep.Manifest)
				for _, it := range rep.Items {
					mark := "ok"
					if !it.OK {
						mark = "FAILED"
					}
					fmt.Fprintf(g.stdout, "item %s: %s (%s)\n", it.Name, mark, it.Note)
				}
				for _, h := range rep.Hidden {
					fmt.Fprintf(g.stdout, "custody: HIDDEN: %s\n", h)
				}
				switch {
				case rep.Break != nil:
					fmt.Fprintf(g.stdout, "custody: BROKEN at event %d: %s [%s]\n", rep.Break.Seq, rep.Break.Message, rep.Break.Rule)
				case len(rep.Hidden) > 0:
					fmt.Fprintf(g.stdout, "custody: %d events listed, each verified, but the chain was cut (above)\n", rep.Events)
				default:
					fmt.Fprintf(g.stdout, "custody: %d events, every hash, signature and link verified\n", rep.Events)
				}
			}
			if !rep.OK {
				return errors.New("verification failed: " + strings.Join(rep.Problems, "; "))
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func newEvidenceExportCmd(g *globals) *cobra.Command {
	var out string
	cmd := &cobra.Command{
		Use:   "export PKG --out DIR",
		Short: "Write a BagIt bag a court can check with sha512sum -c and gpg --verify",
		Long: `export downloads the package as a BagIt bag (RFC 8493) and unpacks it into DIR
(which must not exist or be empty). The bag holds the decrypted items under data/,
SHA-512 and SHA-256 manifests, the signed manifest with its detached signature,
the custody log with a signature per event, and the public keys of the signers.
The unpacked bag is verified before the command succeeds; entries with unsafe
paths or files no manifest lists are refused.

  cd DIR && sha512sum -c manifest-sha512.txt && gpg --verify manifest.json.asc manifest.json`,
		Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			cl, err := g.client()
			if err != nil {
				return err
			}
			resp, err := cl.streaming().do(http.MethodGet, pkgPath(args[0], "export"), nil, "")
			if err != nil {
				return err
			}
			defer resp.Body.Close()
			if resp.StatusCode >= 300 {
				data, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
				return refusal(problemError(resp, data))
			}
			if err := bagit.Extract(resp.Body, out); err != nil {
				return fmt.Errorf("export: %w (the bag in %s is incomplete; remove it)", err, out)
			}
			if err := bagit.Verify(out); err != nil {
				return fmt.Errorf("export: the bag does not verify: %w", err)
			}
			fmt.Fprintf(g.stdout, "bag written to %s and verified\ncheck it with: cd %s && sha512sum -c manifest-sha512.txt && gpg --import node-key.asc keys/*.asc && gpg --verify manifest.json.asc manifest.json\n", out, out)
			return nil
		},
	}
	cmd.Flags().StringVar(&out, "out", "", "directory to write the bag into (must not exist or be empty)")
	_ = cmd.MarkFlagRequired("out")
	return cmd
}

func postJSON(g *globals, path string, req any, v any) error {
	cl, err := g.client()
	if err != nil {
		return err
	}
	body, _ := json.Marshal(req)
	return refusal(cl.doJSON(http.MethodPost, path, bytes.NewReader(body), "application/json", v))
}

func newEvidenceStateCmd(g *globals) *cobra.Command {
	var why string
	cmd := &cobra.Command{
		Use:   "state PKG STATE --why TEXT",
		Short: "Record a state change made outside Kurier (e.g. production-pending)",
		Args:  cobra.ExactArgs(2),
		RunE: func(c *cobra.Command, args []string) error {
			var p evidence.Package
			if err := postJSON(g, pkgPath(args[0], "state"), map[string]string{"state": args[1], "why": why}, &p); err != nil {
				return err
			}
			fmt.Fprintf(g.stdout, "%s is now %s\n", p.ID, p.State)
			return nil
		},
	}
	cmd.Flags().StringVar(&why, "why", "", "reason (recorded in the custody log)")
	return cmd
}

func newEvidenceAuthoriseCmd(g *globals) *cobra.Command {
	var a evidence.Authorisation
	cmd := &cobra.Command{
		Use:   "authorise PKG hold-release|onward-transfer --authority A --reference R [--recipient FPR]",
		Short: "Record the decision that allows releasing a legal hold or an onward transfer",
		Args:  cobra.ExactArgs(2),
		RunE: func(c *cobra.Command, args []string) error {
			var ev evidence.Event
			req := map[string]string{"kind": args[1], "authority": a.Authority, "reference": a.Reference, "recipient": a.Recipient, "why": a.Why}
			if err := postJSON(g, pkgPath(args[0], "authorisations"), req, &ev); err != nil {
				return err
			}
			fmt.Fprintf(g.stdout, "recorded as custody event %d (cite it with --authorised-by %d)\n", ev.Seq, ev.Seq)
			return nil
		},
	}
	cmd.Flags().StringVar(&a.Authority, "authority", "", "authority that decided")
	cmd.Flags().StringVar(&a.Reference, "reference", "", "decision reference")
	cmd.Flags().StringVar(&a.Recipient, "recipient", "", "node fingerprint an onward transfer is authorised to")
	cmd.Flags().StringVar(&a.Why, "why", "", "note")
	return cmd
}

func newEvidenceHoldCmd(g *globals) *cobra.Command {
	var why string
	var by int64
	cmd := &cobra.Command{
		Use:   "hold PKG set|release [--authorised-by SEQ] --why TEXT",
		Short: "Set or release the legal hold on a package's data (release needs a recorded authorisation)",
		Args:  cobra.ExactArgs(2),
		RunE: func(c *cobra.Command, args []string) error {
			var p evidence.Package
			if err := postJSON(g, pkgPath(args[0], "hold"), map[string]any{"action": args[1], "authorised_by": by, "why": why}, &p); err != nil {
				return err
			}
			fmt.Fprintf(g.stdout, "%s legal hold: %v\n", p.ID, p.LegalHold)
			return nil
		},
	}
	cmd.Flags().StringVar(&why, "why", "", "reason (recorded in the custody log)")
	cmd.Flags().Int64Var(&by, "authorised-by", -1, "custody event number of the hold-release authorisation")
	return cmd
}

func newEvidenceDisposeCmd(g *globals) *cobra.Command {
	var why string
	cmd := &cobra.Command{
		Use:   "dispose PKG --why TEXT",
		Short: "Crypto-shred a package after its retention: destroy its key (the data becomes unreadable)",
		Args:  cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			var p evidence.Package
			if err := postJSON(g, pkgPath(args[0], "dispose"), map[string]string{"why": why}, &p); err != nil {
				return err
			}
			fmt.Fprintf(g.stdout, "%s disposed of: package key destroyed\n", p.ID)
			return nil
		},
	}
	cmd.Flags().StringVar(&why, "why", "", "the retention decision (recorded in the custody log)")
	return cmd
}

func newEvidenceSendCmd(g *globals) *cobra.Command {
	var to string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "send PKG --to PEER",
		Short: "Transfer a sealed package to a peer node over federation and file its signed receipt",
		Long: `send asks the node to transfer a sealed package to a peer (a name from
` + "`kurier peer list`" + `, or its fingerprint) over the signed federation channel. The
peer verifies the manifest signature, that it is a recipient, every item's
hashes and the custody chain, stores the package under its own locks and
answers with a signed receipt, which the node files as a custody event
(delivered, or delivery-failed with the peer's reason). Exit status 1 when the
peer rejected the package. On a network failure nothing is filed and the send
can simply be repeated (the whole transfer is sent again).`,
		Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			cl, err := g.client()
			if err != nil {
				return err
			}
			body, _ := json.Marshal(map[string]string{"peer": to})
			var res evidence.SendResult
			if err := cl.streaming().doJSON(http.MethodPost, pkgPath(args[0], "send"), bytes.NewReader(body), "application/json", &res); err != nil {
				return refusal(err)
			}
			if asJSON {
				if err := printJSON(g, res); err != nil {
					return err
				}
			} else {
				fmt.Fprintf(g.stdout, "%s: %s\n", res.Result, res.Message)
				rb := res.Receipt
				fmt.Fprintf(g.stdout, "receipt:  signed by %s at %s\n", rb.Receiver, rb.Time.Format(time.RFC3339))
				if rb.ManifestSHA256 != "" {
					fmt.Fprintf(g.stdout, "manifest: sha256 %s\n", rb.ManifestSHA256)
				}
				for _, v := range rb.Violations {
					fmt.Fprintf(g.stdout, "  - %s [%s]\n", v.String(), v.Rule)
				}
			}
			if res.Result != evidence.ResultAccepted {
				return fmt.Errorf("package %s rejected by %s", args[0], to)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&to, "to", "", "peer name (or fingerprint)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	_ = cmd.MarkFlagRequired("to")
	return cmd
}
