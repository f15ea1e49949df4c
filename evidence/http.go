package evidence

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"

	"github.com/go-chi/chi/v5"

	"github.com/kurier/kurier/node/api"
	"github.com/kurier/kurier/node/api/problem"
	"github.com/kurier/kurier/node/audit"
	"github.com/kurier/kurier/node/auth"
)

// Mount adds the evidence API under /api/v1/evidence to srv. Only the
// liaison role (and admin) may use it; every read is audited (audit.Mark)
// and recorded as a custody event by the service.
//
//	POST /api/v1/evidence                        create a draft (manifest JSON)
//	GET  /api/v1/evidence?overdue=&state=&type=  list
//	GET  /api/v1/evidence/{pkg}                  manifest, items, state, deadlines
//	PUT  /api/v1/evidence/{pkg}/items/{name}     upload an item (streamed body)
//	POST /api/v1/evidence/{pkg}/seal             sign and finalise the manifest
//	POST /api/v1/evidence/{pkg}/state            {"state","why"}
//	POST /api/v1/evidence/{pkg}/authorisations   {"kind","authority","reference","recipient","why"}
//	POST /api/v1/evidence/{pkg}/hold             {"action":"set"|"release","authorised_by","why"}
//	POST /api/v1/evidence/{pkg}/dispose          {"why"}: crypto-shred
//	GET  /api/v1/evidence/{pkg}/custody          the custody log
//	GET  /api/v1/evidence/{pkg}/verify           re-verify everything
//	GET  /api/v1/evidence/{pkg}/export           BagIt bag as a tar stream
//	POST /api/v1/evidence/receipts               file a signed receipt
//	POST /api/v1/evidence/{pkg}/send             {"peer"}: transfer to a peer, file its receipt
func (s *Service) Mount(srv *api.Server) {
	h := &handlers{s: s, p: srv.Problems()}
	const base = "/api/v1/evidence"
	srv.Authenticated(func(r chi.Router) {
		r.Use(srv.Require(auth.Liaison))
		r.Post(base, h.create)
		r.Get(base, h.list)
		r.Post(base+"/", h.create)
		r.Get(base+"/", h.list)
		r.Post(base+"/receipts", h.fileReceipt)
		r.Get(base+"/{pkg}", h.show)
		r.Post(base+"/{pkg}/seal", h.seal)
		r.Post(base+"/{pkg}/state", h.state)
		r.Post(base+"/{pkg}/authorisations", h.authorise)
		r.Post(base+"/{pkg}/hold", h.hold)
		r.Post(base+"/{pkg}/dispose", h.dispose)
		r.Get(base+"/{pkg}/custody", h.custody)
	})
	// Item uploads, verification and export move whole evidence files:
	// no body limit beyond the store's, no request deadline.
	srv.Streaming(func(r chi.Router) {
		r.Use(srv.Require(auth.Liaison))
		r.Put(base+"/{pkg}/items/{name}", h.upload)
		r.Get(base+"/{pkg}/verify", h.verify)
		r.Get(base+"/{pkg}/export", h.export)
		r.Post(base+"/{pkg}/send", h.send)
	})
}

type handlers struct {
	s *Service
	p *problem.Writer
}

func actorOf(r *http.Request) Actor {
	p, _ := auth.FromContext(r.Context())
	return Actor{Person: p.Name, Role: string(p.Role)}
}

// long detaches a long-running request (multi-GB upload or export) from
// the API's request timeout; a client that goes away still stops it, as
// reading its body or writing to it fails.
func long(r *http.Request) context.Context { return context.WithoutCancel(r.Context()) }

func (h *handlers) fail(w http.ResponseWriter, r *http.Request, err error) {
	var re *RefusedError
	var mb *http.MaxBytesError
	var te *TransportError
	var se *SlotError
	switch {
	case errors.As(err, &re):
		status, typ := http.StatusUnprocessableEntity, problem.Validation
		if re.Has(RuleReplay) {
			status, typ = http.StatusConflict, problem.Conflict
		}
		h.p.Write(w, r, problem.New(typ, status, re.Error()).With("violations", re.Violations))
	case errors.Is(err, ErrNotFound):
		h.p.Write(w, r, problem.New(problem.NotFound, http.StatusNotFound, err.Error()))
	case errors.As(err, &se):
		h.p.Write(w, r, problem.New(problem.Conflict, http.StatusConflict, se.Error()).With("reason", "custody-"+se.reason()).With("seq", se.Seq))
	case errors.Is(err, ErrDisposed):
		h.p.Write(w, r, problem.New(problem.Conflict, http.StatusConflict, err.Error()))
	case errors.Is(err, ErrUnknownPeer):
		h.p.Write(w, r, problem.New(problem.NotFound, http.StatusNotFound, err.Error()))
	case errors.Is(err, ErrNoTransport):
		h.p.Write(w, r, problem.New(problem.Unavailable, http.StatusServiceUnavailable, err.Error()))
	case errors.As(err, &te):
		h.p.Write(w, r, problem.New(problem.Unavailable, http.StatusBadGateway, te.Error()))
	case errors.As(err, &mb):
		h.p.Write(w, r, problem.New(problem.TooLarge, http.StatusRequestEntityTooLarge,
			fmt.Sprintf("the item is larger than the node's body limit of %d bytes (http.max_body_bytes)", mb.Limit)))
	default:
		h.s.log.Error("evidence request failed", "path", r.URL.Path, "err", err, "request_id", api.RequestID(r.Context()))
		h.p.Write(w, r, problem.New(problem.Internal, http.StatusInternalServerError, "internal error; request id "+api.RequestID(r.Context())))
	}
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

func (h *handlers) create(w http.ResponseWriter, r *http.Request) {
	var raw json.RawMessage
	if p := api.DecodeJSON(r, &raw); p != nil {
		h.p.Write(w, r, p)
		return
	}
	pkg, err := h.s.Create(r.Context(), actorOf(r), raw)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	w.Header().Set("Location", "/api/v1/evidence/"+pkg.ID)
	writeJSON(w, http.StatusCreated, pkg)
}

func (h *handlers) list(w http.ResponseWriter, r *http.Request) {
	audit.Mark(r.Context())
	q := r.URL.Query()
	f := Filter{State: State(q.Get("state")), Type: Type(q.Get("type"))}
	if v := q.Get("overdue"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			h.p.Write(w, r, problem.New(problem.BadRequest, http.StatusBadRequest, "overdue must be true or false").With("parameter", "overdue"))
			return
		}
		f.Overdue = b
	}
	// Deadlines act before they are shown: an ended preservation is listed
	// as expired, not as still preserved. A package that cannot record its
	// expiry (ExpireDue logs and counts why) must not make the whole list
	// unavailable: it is listed in its unchanged state.
	if _, err := h.s.ExpireDue(r.Context()); err != nil {
		h.s.log.Warn("evidence list: expiring due preservations failed; listed unchanged", "err", err, "request_id", api.RequestID(r.Context()))
	}
	pkgs := h.s.List(f)
	if pkgs == nil {
		pkgs = []Package{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"packages": pkgs})
}

func (h *handlers) show(w http.ResponseWriter, r *http.Request) {
	audit.Mark(r.Context())
	pkg, err := h.s.Get(r.Context(), actorOf(r), chi.URLParam(r, "pkg"))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, pkg)
}

func (h *handlers) upload(w http.ResponseWriter, r *http.Request) {
	name := chi.URLParam(r, "name")
	if r.URL.RawPath != "" {
		n, err := url.PathUnescape(name)
		if err != nil {
			h.p.Write(w, r, problem.New(problem.BadRequest, http.StatusBadRequest, "item name is not a valid path segment"))
			return
		}
		name = n
	}
	q := r.URL.Query()
	in := ItemInput{
		Name: name, MediaType: q.Get("media_type"), Exhibit: q.Get("exhibit"), RootExhibit: q.Get("root_exhibit"),
		PersonalData: q.Get("personal_data") == "true", Sensitive: q.Get("sensitive") == "true", Size: r.ContentLength,
	}
	if in.MediaType == "" {
		in.MediaType = r.Header.Get("Content-Type")
	}
	if q.Get("acquired_by") != "" || q.Get("method") != "" || q.Get("tool") != "" || q.Get("source") != "" || q.Get("acquired_at") != "" {
		a := &Acquisition{Operator: q.Get("acquired_by"), Method: q.Get("method"), Tool: q.Get("tool"), Source: q.Get("source")}
		if at := q.Get("acquired_at"); at != "" {
			var t Time
			if err := t.UnmarshalJSON([]byte(strconv.Quote(at))); err != nil || t.problem() != "" {
				h.p.Write(w, r, problem.New(problem.Validation, http.StatusUnprocessableEntity, "acquired_at: "+t.problem()).With("parameter", "acquired_at"))
				return
			}
			a.Time = &t
		}
		in.Acquisition = a
	}
	ir, err := h.s.AddItem(long(r), actorOf(r), chi.URLParam(r, "pkg"), in, r.Body)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, ir)
}

func (h *handlers) seal(w http.ResponseWriter, r *http.Request) {
	pkg, err := h.s.Seal(r.Context(), actorOf(r), chi.URLParam(r, "pkg"))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, pkg)
}

func (h *handlers) state(w http.ResponseWriter, r *http.Request) {
	var req struct {
		State State  `json:"state"`
		Why   string `json:"why"`
	}
	if p := api.DecodeJSON(r, &req); p != nil {
		h.p.Write(w, r, p)
		return
	}
	pkg, err := h.s.Transition(r.Context(), actorOf(r), chi.URLParam(r, "pkg"), req.State, req.Why)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, pkg)
}

func (h *handlers) authorise(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Kind string `json:"kind"` // hold-release or onward-transfer
		Authorisation
	}
	if p := api.DecodeJSON(r, &req); p != nil {
		h.p.Write(w, r, p)
		return
	}
	kind := map[string]EventKind{"hold-release": EvHoldReleaseAuthorised, "onward-transfer": EvOnwardTransferAuthorised}[req.Kind]
	if kind == "" {
		h.p.Write(w, r, problem.New(problem.BadRequest, http.StatusBadRequest, `kind must be "hold-release" or "onward-transfer"`))
		return
	}
	ev, err := h.s.Authorise(r.Context(), actorOf(r), chi.URLParam(r, "pkg"), kind, req.Authorisation)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, ev.Event)
}

func (h *handlers) hold(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Action       string `json:"action"`
		AuthorisedBy int64  `json:"authorised_by"`
		Why          string `json:"why"`
	}
	if p := api.DecodeJSON(r, &req); p != nil {
		h.p.Write(w, r, p)
		return
	}
	var pkg Package
	var err error
	switch req.Action {
	case "set":
		pkg, err = h.s.SetHold(r.Context(), actorOf(r), chi.URLParam(r, "pkg"), req.Why)
	case "release":
		pkg, err = h.s.ReleaseHold(r.Context(), actorOf(r), chi.URLParam(r, "pkg"), req.AuthorisedBy, req.Why)
	default:
		h.p.Write(w, r, problem.New(problem.BadRequest, http.StatusBadRequest, `action must be "set" or "release"`))
		return
	}
	if err != nil {
		h.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, pkg)
}

func (h *handlers) dispose(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Why string `json:"why"`
	}
	if p := api.DecodeJSON(r, &req); p != nil {
		h.p.Write(w, r, p)
		return
	}
	pkg, err := h.s.Dispose(r.Context(), actorOf(r), chi.URLParam(r, "pkg"), req.Why)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, pkg)
}

func (h *handlers) custody(w http.ResponseWriter, r *http.Request) {
	audit.Mark(r.Context())
	events, err := h.s.Custody(r.Context(), actorOf(r), chi.URLParam(r, "pkg"))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	out := make([]map[string]any, len(events))
	for i, ev := range events {
		out[i] = map[string]any{"event": ev.Event, "hash": ev.Hash(), "signature": ev.Signature}
	}
	writeJSON(w, http.StatusOK, map[string]any{"events": out})
}

func (h *handlers) verify(w http.ResponseWriter, r *http.Request) {
	audit.Mark(r.Context())
	rep, err := h.s.Verify(long(r), actorOf(r), chi.URLParam(r, "pkg"))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, rep)
}

func (h *handlers) export(w http.ResponseWriter, r *http.Request) {
	audit.Mark(r.Context())
	id := chi.URLParam(r, "pkg")
	// Errors before the first byte become problems; after it, the stream
	// is cut off without a tar trailer, which the client detects.
	sw := &startWriter{w: w, start: func() {
		w.Header().Set("Content-Type", "application/x-tar")
		w.Header().Set("Content-Disposition", `attachment; filename="`+id+`.tar"`)
		w.WriteHeader(http.StatusOK)
	}}
	err := h.s.Export(long(r), actorOf(r), id, sw)
	if err != nil && !sw.started {
		h.fail(w, r, err)
		return
	}
	if err != nil {
		h.s.log.Error("evidence export cut off", "package", id, "err", err)
		panic(http.ErrAbortHandler) // abort the response so the client sees a broken stream
	}
}

type startWriter struct {
	w       io.Writer
	start   func()
	started bool
}

func (s *startWriter) Write(p []byte) (int, error) {
	if !s.started {
		s.started = true
		s.start()
	}
	return s.w.Write(p)
}

func (h *handlers) fileReceipt(w http.ResponseWriter, r *http.Request) {
	var sr SignedReceipt
	if p := api.DecodeJSON(r, &sr); p != nil {
		h.p.Write(w, r, p)
		return
	}
	rb, err := h.s.FileReceipt(r.Context(), actorOf(r), sr)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, rb)
}

func (h *handlers) send(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Peer string `json:"peer"`
	}
	if p := api.DecodeJSON(r, &req); p != nil {
		h.p.Write(w, r, p)
		return
	}
	if req.Peer == "" {
		h.p.Write(w, r, problem.New(problem.BadRequest, http.StatusBadRequest, "peer is required").With("parameter", "peer"))
		return
	}
	// The transfer runs to its end (receipt filed) even if the client
	// goes away.
	res, err := h.s.Send(long(r), actorOf(r), chi.URLParam(r, "pkg"), req.Peer)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, res)
}
