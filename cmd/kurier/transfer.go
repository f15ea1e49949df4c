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

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"

	"github.com/kurier/kurier/node/indicator"
	"github.com/kurier/kurier/node/stix"
)

// importBatch is how many objects one request carries: large files are
// sent in pieces so no request nears the node's body limit.
const importBatch = 2000

func newImportCmd(g *globals) *cobra.Command {
	var batch int
	var quiet bool
	cmd := &cobra.Command{
		Use:   "import FILE...",
		Short: "Import STIX 2.1 bundles (or single objects) into a node",
		Long: `import streams each file (a STIX bundle, or one STIX object) to the node in
batches, showing progress for large files, and prints how many objects were
accepted and rejected, with the reason for each rejection. Every copy of an
id that occurs more than once in a file is rejected without being sent, as
the node rejects them in one bundle. Exit status 1 when any object was
rejected.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			cl, err := g.client()
			if err != nil {
				return err
			}
			var total indicator.ImportSummary
			for _, path := range args {
				s, err := importFile(g, cl, path, batch, quiet)
				total.Total += s.Total
				total.Stored += s.Stored
				total.Unchanged += s.Unchanged
				total.Failed += s.Failed
				if err != nil {
					return fmt.Errorf("%s: %w", path, err)
				}
			}
			fmt.Fprintf(g.stdout, "%d objects: %d accepted (%d new, %d already known), %d rejected\n",
				total.Total, total.Stored+total.Unchanged, total.Stored, total.Unchanged, total.Failed)
			if total.Failed > 0 {
				return errors.New("some objects were rejected")
			}
			return nil
		},
	}
	cmd.Flags().IntVar(&batch, "batch", importBatch, "objects per request")
	cmd.Flags().BoolVar(&quiet, "quiet", false, "no progress bar")
	return cmd
}

func importFile(g *globals, cl *client, path string, batch int, quiet bool) (indicator.ImportSummary, error) {
	var sum indicator.ImportSummary
	f, err := os.Open(path)
	if err != nil {
		return sum, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return sum, err
	}
	var bar *progressbar.ProgressBar
	if !quiet && fi.Size() > 1<<20 {
		// Two passes over the file (ids first, then objects): the bar
		// covers both.
		bar = progressbar.NewOptions64(2*fi.Size(), progressbar.OptionSetWriter(g.stderr),
			progressbar.OptionSetDescription(path), progressbar.OptionShowBytes(true), progressbar.OptionThrottle(200e6))
	}
	// A lone object (not a bundle) is small: read it whole.
	head := make([]byte, 512)
	n, _ := io.ReadFull(f, head)
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return sum, err
	}
	if !isBundle(head[:n]) {
		data, err := io.ReadAll(io.LimitReader(f, 64<<20))
		if err != nil {
			return sum, err
		}
		return sendBatch(g, cl, data)
	}

	// The node rejects every copy of an id repeated in one bundle, but it
	// sees one batch at a time: find the repeats in the whole file first,
	// keeping only ids, so memory grows with the id set, not the objects.
	scan := countIDs(f, bar)
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return sum, err
	}

	dec := stix.NewBundleDecoder(f, importLimits)
	var objs []json.RawMessage
	progress := func() {
		if bar != nil {
			_ = bar.Set64(fi.Size() + dec.BytesRead())
		}
	}
	flush := func() error {
		if len(objs) == 0 {
			return nil
		}
		body, _ := json.Marshal(map[string]any{"type": "bundle", "id": stix.NewID("bundle"), "objects": objs})
		s, err := sendBatch(g, cl, body)
		sum.Total += s.Total
		sum.Stored += s.Stored
		sum.Unchanged += s.Unchanged
		sum.Failed += s.Failed
		objs = objs[:0]
		progress()
		return err
	}
	for i := 0; ; i++ {
		if scan.err != nil && i == scan.n {
			_ = flush()
			return sum, fmt.Errorf("stopped (objects before this point were sent): %w", scan.err)
		}
		o, err := dec.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			_ = flush()
			return sum, fmt.Errorf("stopped (objects before this point were sent): %w", err)
		}
		if c := scan.counts[o.ID]; c > 1 {
			// Neither copy is sent: which one is meant is the producer's
			// to say, as the node answers for a single bundle.
			st := indicator.FailureOf(o.ID, o.Version(), []*stix.ValidationError{stix.DuplicateID(o.ID, int(c))})
			fmt.Fprintf(g.stderr, "rejected %s: %s\n", st.ID, st.Message)
			sum.Total++
			sum.Failed++
			continue
		}
		raw, err := json.Marshal(o)
		if err != nil {
			return sum, fmt.Errorf("re-encode %s: %w", o.ID, err)
		}
		objs = append(objs, raw)
		if len(objs) >= batch {
			if err := flush(); err != nil {
				return sum, err
			}
		}
	}
	if err := flush(); err != nil {
		return sum, err
	}
	if bar != nil {
		_ = bar.Finish()
		fmt.Fprintln(g.stderr)
	}
	return sum, nil
}

// importLimits: the file may be far larger than one request; each batch
// is bounded by --batch instead.
var importLimits = stix.Limits{MaxBundleBytes: 1 << 40}

// idScan is the first pass over a bundle: how often each object id
// occurs among the first n objects. err is what ended the scan early (bad
// input, or a failed read); the sending pass stops at the same object, so
// it never sends an object whose id was not counted.
type idScan struct {
	counts map[string]int32
	n      int
	err    error
}

func countIDs(r io.Reader, bar *progressbar.ProgressBar) idScan {
	dec := stix.NewBundleDecoder(r, importLimits)
	sc := idScan{counts: map[string]int32{}}
	for {
		o, err := dec.Next()
		if err != nil {
			if !errors.Is(err, io.EOF) {
				sc.err = err
			}
			return sc
		}
		sc.n++
		if o.ID != "" {
			sc.counts[o.ID]++
		}
		if bar != nil && sc.n%1000 == 0 {
			_ = bar.Set64(dec.BytesRead())
		}
	}
}

func isBundle(head []byte) bool {
	var probe struct {
		Type string `json:"type"`
	}
	// The head may be cut mid-document; look for the type token instead.
	if json.Unmarshal(head, &probe) == nil {
		return probe.Type == "bundle"
	}
	return bytes.Contains(head, []byte(`"bundle"`))
}

// sendBatch posts one bundle and reports its rejections on stderr.
func sendBatch(g *globals, cl *client, body []byte) (indicator.ImportSummary, error) {
	var sum indicator.ImportSummary
	err := cl.doJSON(http.MethodPost, "/api/v1/bundles", bytes.NewReader(body), "application/stix+json", &sum)
	var p *apiProblem
	if errors.As(err, &p) && p.Status == http.StatusUnprocessableEntity {
		// Nothing in this batch was acceptable: the problem lists why.
		sum.Failures = nil
		_ = extractFailures(err, &sum.Failures)
		if len(sum.Failures) == 0 {
			sum.Failures = []indicator.Status{{ID: p.Object, Property: p.Property, Message: p.Detail}}
		}
		sum.Failed = len(sum.Failures)
		sum.Total = sum.Failed
		err = nil
	}
	if err != nil {
		return sum, err
	}
	for _, f := range sum.Failures {
		fmt.Fprintf(g.stderr, "rejected %s: %s\n", f.ID, f.Message)
	}
	return sum, nil
}

func extractFailures(err error, dst *[]indicator.Status) error {
	var p *apiProblem
	if !errors.As(err, &p) || p.raw == nil {
		return errors.New("no failures")
	}
	var body struct {
		Failures []indicator.Status `json:"failures"`
	}
	if err := json.Unmarshal(p.raw, &body); err != nil {
		return err
	}
	*dst = body.Failures
	return nil
}

func newExportCmd(g *globals) *cobra.Command {
	var query, out, types, tlp, label, origin, addedAfter string
	var includeRevoked, allVersions bool
	cmd := &cobra.Command{
		Use:   "export",
		Short: "Export objects from a node as one STIX 2.1 bundle",
		Long: `export writes a STIX bundle of the objects that match the filters, as stored
(signed content, unchanged). Filters combine with AND; --query takes them in
URL form, e.g. --query 'type=indicator&tlp=green&label=c2'.`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			cl, err := g.client()
			if err != nil {
				return err
			}
			q := url.Values{}
			if query != "" {
				if q, err = splitQuery(query); err != nil {
					return exitError{code: 2, err: err}
				}
			}
			for k, v := range map[string]string{"type": types, "tlp": tlp, "label": label, "origin": origin, "added_after": addedAfter} {
				if v != "" {
					q.Set(k, v)
				}
			}
			if includeRevoked {
				q.Set("include_revoked", "true")
			}
			if allVersions {
				q.Set("all_versions", "true")
			}
			resp, err := cl.do(http.MethodGet, "/api/v1/export?"+q.Encode(), nil, "")
			if err != nil {
				return err
			}
			defer resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				data, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
				return problemError(resp, data)
			}
			w := g.stdout
			if out != "" && out != "-" {
				f, err := os.Create(out)
				if err != nil {
					return err
				}
				defer f.Close()
				w = f
			}
			if _, err := io.Copy(w, resp.Body); err != nil {
				return fmt.Errorf("export interrupted: %w", err)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&query, "query", "", "filters in URL form: type=…&tlp=…&label=…&origin=…&added_after=…")
	f.StringVar(&types, "type", "", "STIX types (comma-separated)")
	f.StringVar(&tlp, "tlp", "", "TLP levels (comma-separated)")
	f.StringVar(&label, "label", "", "label")
	f.StringVar(&origin, "origin", "", "origin node fingerprint")
	f.StringVar(&addedAfter, "added-after", "", "only objects added after this time (RFC 3339)")
	f.BoolVar(&includeRevoked, "include-revoked", false, "include revoked objects")
	f.BoolVar(&allVersions, "all-versions", false, "every version, not only the current one")
	f.StringVarP(&out, "out", "o", "", "write to this file instead of standard output")
	return cmd
}
