package federation

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/kurier/kurier/federation/policy"
	"github.com/kurier/kurier/node/api"
	"github.com/kurier/kurier/node/api/problem"
	"github.com/kurier/kurier/node/index"
	"github.com/kurier/kurier/node/indicator"
	"github.com/kurier/kurier/node/stix"
)

// The operator API (/api/v1/federation, bearer tokens): peer status, a
// forced pull, the policy preview, and retraction of this node's objects.

func (f *Federation) fail(w http.ResponseWriter, r *http.Request, p *problem.Problem) {
	f.opts.API.Problems().Write(w, r, p)
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

// Status returns every loaded peer's pull state, by name.
func (f *Federation) Status() []PeerStatus {
	set := f.set.Load()
	out := make([]PeerStatus, 0, len(set.byName))
	for name, ps := range set.byName {
		st := PeerStatus{Name: name}
		if p := f.puller(name); p != nil {
			st = p.status()
		}
		st.Name, st.URL, st.Fingerprint, st.Paused = name, ps.cfg.URL, ps.fpr, ps.cfg.Paused
		st.PolicyVersion, st.Policy, st.Interval = ps.cfg.Version, ps.cfg.Policy, ps.cfg.Interval.D().String()
		out = append(out, st)
	}
	slices.SortFunc(out, func(a, b PeerStatus) int { return strings.Compare(a.Name, b.Name) })
	return out
}

func (f *Federation) listStatus(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{"peers": f.Status()})
}

// SyncNow pulls from a peer at once and returns the result.
func (f *Federation) SyncNow(ctx context.Context, name string) (SyncResult, error) {
	p := f.puller(name)
	if p == nil {
		return SyncResult{}, errNoPeer
	}
	return p.syncNow(ctx)
}

var errNoPeer = errors.New("federation: no such peer (is it added, and has the node reloaded its peers?)")

func (f *Federation) syncPeer(w http.ResponseWriter, r *http.Request) {
	name := chi.URLParam(r, "name")
	res, err := f.SyncNow(r.Context(), name)
	switch {
	case errors.Is(err, errNoPeer):
		f.fail(w, r, problem.New(problem.NotFound, http.StatusNotFound, "no peer "+name))
		return
	case err != nil:
		f.fail(w, r, problem.New(problem.Timeout, http.StatusGatewayTimeout, "the pull did not finish in time; it goes on in the background"))
		return
	}
	code := http.StatusOK
	if res.Error != "" {
		code = http.StatusBadGateway
	}
	writeJSON(w, code, res)
}

// PreviewItem is one object and what the policy decides for it.
type PreviewItem struct {
	ID       string          `json:"id"`
	Type     string          `json:"type"`
	TLP      string          `json:"tlp"`
	Labels   []string        `json:"labels,omitempty"`
	Origin   string          `json:"origin"`
	Version  time.Time       `json:"version"`
	Decision policy.Decision `json:"decision"`
}

// Preview answers "what would this peer receive, and which rule allowed or
// withheld each object", without sending anything.
type Preview struct {
	Peer          string         `json:"peer"`
	Fingerprint   string         `json:"fingerprint"`
	PolicyVersion int            `json:"policy_version"`
	Policy        policy.Policy  `json:"policy"`
	Draft         bool           `json:"draft"`
	Items         []PreviewItem  `json:"items"`
	Summary       map[string]int `json:"summary"`
	Next          string         `json:"next,omitempty"`
}

// PreviewPeer decides the current objects after `after` for a peer under
// pol (its own policy unless a draft is given).
func (f *Federation) PreviewPeer(ctx context.Context, name string, draft *policy.Policy, after time.Time, limit int) (Preview, error) {
	ps := f.set.Load().byName[name]
	if ps == nil {
		return Preview{}, errNoPeer
	}
	pv := Preview{Peer: name, Fingerprint: ps.fpr, PolicyVersion: ps.cfg.Version, Policy: ps.cfg.Policy, Summary: map[string]int{}, Items: []PreviewItem{}}
	if draft != nil {
		pv.Policy, pv.Draft = draft.Normalize(), true
	}
	page, err := f.ind.Entries(index.Query{AddedAfter: after, Limit: limit})
	if err != nil {
		return Preview{}, err
	}
	var thirdParty []int
	for _, e := range page.Entries {
		d := pv.Policy.Outbound(f.fpr, ps.fpr, objectOf(e))
		if d.Allow && e.Origin != f.fpr {
			thirdParty = append(thirdParty, len(pv.Items))
		}
		pv.Items = append(pv.Items, PreviewItem{ID: e.ID, Type: e.Type, TLP: e.TLP, Labels: e.Labels, Origin: e.Origin, Version: e.Modified, Decision: d})
	}
	// Objects from other nodes: never back along their path.
	if len(thirdParty) > 0 {
		es := make([]index.Entry, len(thirdParty))
		for i, k := range thirdParty {
			es[i] = page.Entries[k]
		}
		st, err := f.ind.Load(ctx, es)
		if err != nil {
			return Preview{}, err
		}
		for i, k := range thirdParty {
			if slices.Contains(st[i].Path, ps.fpr) {
				pv.Items[k].Decision = policy.Decision{Rule: policy.RuleLoop, Reason: "the peer already passed on this object"}
			}
		}
	}
	for _, it := range pv.Items {
		pv.Summary[it.Decision.Rule]++
	}
	if page.Next != "" && len(page.Entries) > 0 {
		pv.Next = page.Entries[len(page.Entries)-1].Added.Format(time.RFC3339Nano)
	}
	return pv, nil
}

func (f *Federation) previewPeer(w http.ResponseWriter, r *http.Request) {
	name := chi.URLParam(r, "name")
	q := r.URL.Query()
	bad := func(param, msg string) {
		f.fail(w, r, problem.New(problem.BadRequest, http.StatusBadRequest, msg).With("parameter", param))
	}
	limit, p := api.QueryLimit(q, "limit", 500, MaxBatchLimit)
	if p != nil {
		f.fail(w, r, p)
		return
	}
	var after time.Time
	if s := q.Get("after"); s != "" {
		t, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			bad("after", "after must be the next value of a previous preview")
			return
		}
		after = t
	}
	var draft *policy.Policy
	if q.Has("max_tlp") || q.Has("types") || q.Has("groups") || q.Has("relay") {
		ps := f.set.Load().byName[name]
		if ps == nil {
			f.fail(w, r, problem.New(problem.NotFound, http.StatusNotFound, "no peer "+name))
			return
		}
		d := ps.cfg.Policy
		if q.Has("max_tlp") {
			d.MaxTLP = q.Get("max_tlp")
		}
		if q.Has("types") {
			d.Types = splitList(q.Get("types"))
		}
		if q.Has("groups") {
			d.Groups = splitList(q.Get("groups"))
		}
		if q.Has("relay") {
			d.Relay, _ = strconv.ParseBool(q.Get("relay"))
		}
		if err := d.Validate(); err != nil {
			f.fail(w, r, problem.New(problem.Validation, http.StatusUnprocessableEntity, err.Error()))
			return
		}
		draft = &d
	}
	pv, err := f.PreviewPeer(r.Context(), name, draft, after, limit)
	if errors.Is(err, errNoPeer) {
		f.fail(w, r, problem.New(problem.NotFound, http.StatusNotFound, "no peer "+name))
		return
	}
	if err != nil {
		f.log.Error("preview", "peer", name, "err", err, "request_id", api.RequestID(r.Context()))
		f.fail(w, r, problem.New(problem.Unavailable, http.StatusServiceUnavailable, "the preview could not be computed; retry"))
		return
	}
	writeJSON(w, http.StatusOK, pv)
}

func splitList(s string) []string {
	var out []string
	for _, v := range strings.Split(s, ",") {
		if v = strings.TrimSpace(v); v != "" {
			out = append(out, v)
		}
	}
	return out
}

// RetractRequest is the body of POST /api/v1/federation/objects/{id}/retract:
// withdraw the object (a revoked version) or narrow its sharing to tlp (a
// new version with that marking). Peers that may no longer see it receive
// a signed tombstone.
type RetractRequest struct {
	TLP      string `json:"tlp,omitempty"`
	Withdraw bool   `json:"withdraw,omitempty"`
}

func (f *Federation) retract(w http.ResponseWriter, r *http.Request) {
	id := chi.URLParam(r, "id")
	var req RetractRequest
	if p := api.DecodeJSON(r, &req); p != nil {
		f.fail(w, r, p)
		return
	}
	if req.Withdraw == (req.TLP != "") {
		f.fail(w, r, problem.New(problem.Validation, http.StatusUnprocessableEntity, `give either "withdraw": true or "tlp": a more restrictive level`))
		return
	}
	var o *stix.Object
	var err error
	if req.Withdraw {
		o, err = f.ind.Revoke(r.Context(), id, f.now())
	} else {
		t, perr := stix.ParseTLP(req.TLP)
		if perr != nil {
			f.fail(w, r, problem.New(problem.Validation, http.StatusUnprocessableEntity, perr.Error()).With("property", "tlp"))
			return
		}
		o, err = f.ind.Remark(r.Context(), id, t, f.now())
	}
	switch {
	case errors.Is(err, indicator.ErrNotFound):
		f.fail(w, r, problem.New(problem.NotFound, http.StatusNotFound, "no object "+id))
		return
	case errors.Is(err, indicator.ErrNotOrigin):
		f.fail(w, r, problem.New(indicator.ProblemNotOrigin, http.StatusConflict, err.Error()))
		return
	case errors.Is(err, indicator.ErrRejected):
		f.fail(w, r, problem.New(problem.Validation, http.StatusUnprocessableEntity, err.Error()))
		return
	case err != nil:
		f.log.Error("retract", "id", id, "err", err)
		f.fail(w, r, problem.New(problem.Unavailable, http.StatusServiceUnavailable, "the object could not be retracted; retry"))
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"object": o})
}
