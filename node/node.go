// Package node wires one Kurier node's own parts: configuration, identity,
// object store, tokens, audit log, metrics and the API server. Federation
// and evidence mount their routes on the node's API; cmd/kurier connects
// them, so nothing here imports those components.
package node

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/kurier/kurier/node/api"
	"github.com/kurier/kurier/node/audit"
	"github.com/kurier/kurier/node/auth"
	"github.com/kurier/kurier/node/config"
	"github.com/kurier/kurier/node/durable"
	"github.com/kurier/kurier/node/identity"
	"github.com/kurier/kurier/node/index"
	"github.com/kurier/kurier/node/indicator"
	"github.com/kurier/kurier/node/seal"
	"github.com/kurier/kurier/node/segment"
	"github.com/kurier/kurier/node/stix"
	"github.com/kurier/kurier/node/store"
	fsstore "github.com/kurier/kurier/node/store/fs"
	s3store "github.com/kurier/kurier/node/store/s3"
	"github.com/kurier/kurier/node/taxii"
)

// Options are what a node needs from its surroundings.
type Options struct {
	Logger  *slog.Logger
	Env     config.Env
	Version string
}

// Node is a running node's parts.
type Node struct {
	Config   config.Config
	Log      *slog.Logger
	Registry *prometheus.Registry
	Store    store.Store
	Objects  store.Bucket
	Evidence store.Bucket
	Identity *identity.Identity
	Tokens   *auth.Tokens
	Audit    *audit.Log
	API      *api.Server
	Sealer   *seal.Sealer
	Index    *index.Index
	// Indicators holds the node's STIX objects.
	Indicators *indicator.Service
	// PassphraseGenerated is the path of a passphrase file this start
	// generated (empty otherwise), so the CLI can warn about it.
	PassphraseGenerated string

	version string
	started time.Time
}

// OpenStore opens the configured object store and makes sure the node's
// buckets exist (the evidence bucket with Object Lock). Local admin commands
// use it without loading the node's key.
func OpenStore(ctx context.Context, cfg config.Config) (store.Store, error) {
	var (
		st  store.Store
		err error
	)
	switch cfg.Store.Driver {
	case "fs":
		st, err = fsstore.New(cfg.StoreDir())
	case "s3":
		st, err = s3store.New(s3store.Config{
			Endpoint:  cfg.Store.S3.Endpoint,
			AccessKey: cfg.Store.S3.AccessKey,
			SecretKey: cfg.Store.S3.SecretKey,
			Region:    cfg.Store.S3.Region,
			UseTLS:    cfg.Store.S3.UseTLS,
			PartSize:  uint64(cfg.Store.S3.PartSizeMiB) << 20,
		})
	default:
		err = fmt.Errorf("unknown driver %q", cfg.Store.Driver)
	}
	if err != nil {
		return nil, fmt.Errorf("node: open %s store: %w", cfg.Store.Driver, err)
	}
	if err := st.EnsureBucket(ctx, cfg.Store.Buckets.Objects, false); err != nil {
		return nil, fmt.Errorf("node: bucket %s: %w", cfg.Store.Buckets.Objects, err)
	}
	if err := st.EnsureBucket(ctx, cfg.Store.Buckets.Evidence, true); err != nil {
		return nil, fmt.Errorf("node: evidence bucket %s: %w", cfg.Store.Buckets.Evidence, err)
	}
	return st, nil
}

// EnsureDataDir creates the data directory readable by the node's user only.
func EnsureDataDir(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("node: data dir: %w", err)
	}
	return nil
}

// InitIdentity loads the node's key, generating it on first start. The
// passphrase comes from the environment; on the embedded default (fs
// driver) with none set, one is generated into a 0600 file.
func InitIdentity(cfg config.Config, env config.Env) (id *identity.Identity, generatedPass string, err error) {
	if err := EnsureDataDir(cfg.DataDir); err != nil {
		return nil, "", err
	}
	pass, generatedPass, err := identity.ResolvePassphrase(env, cfg.DataDir, cfg.Store.Driver == "fs")
	if err != nil {
		return nil, "", fmt.Errorf("node: passphrase: %w", err)
	}
	id, err = identity.Load(cfg.KeyPath(), pass)
	if err == nil {
		return id, generatedPass, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, "", fmt.Errorf("node: load key: %w", err)
	}
	profile, err := identity.ParseProfile(cfg.Keys.Profile)
	if err != nil {
		return nil, "", fmt.Errorf("node: %w", err)
	}
	id, err = identity.Generate(cfg.Node.Name, "", profile, time.Now())
	if err != nil {
		return nil, "", fmt.Errorf("node: generate key: %w", err)
	}
	if err := id.Save(cfg.KeyPath(), pass); err != nil {
		return nil, "", fmt.Errorf("node: save key: %w", err)
	}
	pub, err := id.ArmoredPublicKey()
	if err != nil {
		return nil, "", fmt.Errorf("node: public key: %w", err)
	}
	if err := durable.WriteFile(PublicKeyPath(cfg), pub, 0o644); err != nil {
		return nil, "", fmt.Errorf("node: save public key: %w", err)
	}
	return id, generatedPass, nil
}

// PublicKeyPath is where the node's armored public key is kept, so it can
// be exported without the passphrase.
func PublicKeyPath(cfg config.Config) string {
	return filepath.Join(cfg.DataDir, "node-key.pub.asc")
}

// Open builds a node from cfg: data directory, identity, store, tokens,
// audit log, metrics and API server.
func Open(ctx context.Context, cfg config.Config, opts Options) (*Node, error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Env == nil {
		opts.Env = os.Getenv
	}
	id, gen, err := InitIdentity(cfg, opts.Env)
	if err != nil {
		return nil, err
	}
	st, err := OpenStore(ctx, cfg)
	if err != nil {
		return nil, err
	}
	n := &Node{
		Config: cfg, Log: opts.Logger, Registry: prometheus.NewRegistry(), Store: st,
		Objects: st.Bucket(cfg.Store.Buckets.Objects), Evidence: st.Bucket(cfg.Store.Buckets.Evidence),
		Identity: id, PassphraseGenerated: gen, version: opts.Version, started: time.Now(),
	}
	n.Tokens = auth.NewTokens(n.Objects)
	// The audit log lives in the evidence bucket, the one with Object Lock.
	n.Audit = audit.New(n.Evidence, cfg.Audit.RetentionDays.D())
	if err := n.registerMetrics(); err != nil {
		return nil, err
	}
	n.API, err = api.New(api.Options{
		Logger: opts.Logger, Registerer: n.Registry, Gatherer: n.Registry,
		Ready: st.Ping, Auth: n.Tokens, Audit: n.Audit,
		MaxBodyBytes: cfg.HTTP.MaxBodyBytes, RequestTimeout: cfg.HTTP.RequestTimeout.D(),
	})
	if err != nil {
		return nil, fmt.Errorf("node: %w", err)
	}
	n.Sealer = seal.New(id, nil)
	if err := n.openIndicators(ctx); err != nil {
		return nil, err
	}
	n.mountRoutes()
	n.Indicators.Mount(n.API)
	tx, err := taxii.New(taxii.Options{
		Indicators: n.Indicators, Statuses: n.Objects, Logger: n.Log, Registerer: n.Registry,
		Title: cfg.Node.Name, Description: "Kurier node " + cfg.Node.Name, Contact: cfg.Node.Organization,
		MaxContentLength: cfg.HTTP.MaxBodyBytes,
	})
	if err != nil {
		return nil, fmt.Errorf("node: taxii: %w", err)
	}
	tx.Mount(n.API)
	return n, nil
}

// IndexPath is where the derived index lives.
func IndexPath(cfg config.Config) string { return filepath.Join(cfg.DataDir, "index", "index.db") }

func (n *Node) openIndicators(ctx context.Context) error {
	if err := os.MkdirAll(filepath.Dir(IndexPath(n.Config)), 0o700); err != nil {
		return fmt.Errorf("node: index dir: %w", err)
	}
	idx, err := index.Open(IndexPath(n.Config), index.Options{Registerer: n.Registry})
	if err != nil {
		return fmt.Errorf("node: open index (is another kurier using %s?): %w", n.Config.DataDir, err)
	}
	n.Index = idx
	seg, err := segment.Open(ctx, n.Objects, n.Sealer)
	if err != nil {
		return fmt.Errorf("node: %w", err)
	}
	tlp, err := stix.ParseTLP(n.Config.Indicators.DefaultTLP)
	if err != nil {
		return fmt.Errorf("node: indicators.default_tlp: %w", err)
	}
	n.Indicators, err = indicator.New(ctx, indicator.Options{
		Logger: n.Log, Registerer: n.Registry, Identity: n.Identity, Sealer: n.Sealer,
		Segments: seg, Index: idx, DefaultTLP: tlp, StatePath: indicator.StatePath(n.Config.DataDir),
		CreatorRefs: []string{stix.NodeIdentityID(n.Identity.Fingerprint())},
	})
	if err != nil {
		return fmt.Errorf("node: %w", err)
	}
	return nil
}

// Close releases what the node holds open (the index file).
func (n *Node) Close() error {
	if n.Index != nil {
		return n.Index.Close()
	}
	return nil
}

func (n *Node) registerMetrics() error {
	storeUp := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "kurier_store_up", Help: "1 if the object store answered a ping at scrape time.",
		ConstLabels: prometheus.Labels{"driver": n.Store.Driver()},
	}, func() float64 {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		if n.Store.Ping(ctx) != nil {
			return 0
		}
		return 1
	})
	info := prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "kurier_build_info", Help: "Build and identity of this node (always 1).",
		ConstLabels: prometheus.Labels{
			"version": n.version, "goversion": runtime.Version(),
			"fingerprint": n.Identity.Fingerprint(), "key_profile": string(n.Identity.Profile()),
		},
	})
	info.Set(1)
	started := prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "kurier_node_start_time_seconds", Help: "Unix time the node started.",
	})
	started.Set(float64(n.started.Unix()))
	for _, c := range []prometheus.Collector{
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		storeUp, info, started,
	} {
		if err := n.Registry.Register(c); err != nil {
			return fmt.Errorf("node: register metrics: %w", err)
		}
	}
	return nil
}

// Serve runs the API on ln until ctx ends, then shuts down gracefully:
// in-flight requests get the configured shutdown timeout to finish.
func (n *Node) Serve(ctx context.Context, ln net.Listener) error {
	// Request bodies are bounded per route by the API (a read deadline of
	// http.request_timeout, or an idle pause and a minimum rate on
	// streaming routes), not by ReadTimeout: one bound from the start of
	// every request would also cut evidence streams that legitimately take
	// hours.
	srv := &http.Server{
		Handler:           n.API.Handler(),
		ReadHeaderTimeout: n.Config.HTTP.ReadHeaderTimeout.D(),
		IdleTimeout:       n.Config.HTTP.IdleTimeout.D(),
		ErrorLog:          slog.NewLogLogger(n.Log.Handler(), slog.LevelWarn),
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
	errc := make(chan error, 1)
	go func() {
		var err error
		if n.Config.HTTP.TLSCertFile != "" {
			err = srv.ServeTLS(ln, n.Config.HTTP.TLSCertFile, n.Config.HTTP.TLSKeyFile)
		} else {
			err = srv.Serve(ln)
		}
		errc <- err
	}()
	select {
	case err := <-errc:
		return fmt.Errorf("node: serve: %w", err)
	case <-ctx.Done():
	}
	n.Log.Info("shutting down", "timeout", n.Config.HTTP.ShutdownTimeout.D().String())
	sctx, cancel := context.WithTimeout(context.Background(), n.Config.HTTP.ShutdownTimeout.D())
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("node: shutdown: %w", err)
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("node: serve: %w", err)
	}
	return nil
}
