// Package config holds the node's configuration: one YAML file, decoded
// strictly (an unknown or misspelt field is an error naming it), defaults
// for every field, environment overrides for secrets, and validation whose
// messages say what to fix.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Config is the whole node configuration. Field comments are mirrored in
// Example, which `kurier config example` prints.
type Config struct {
	Node       Node       `yaml:"node"`
	DataDir    string     `yaml:"data_dir"`
	Listen     string     `yaml:"listen"`
	Keys       Keys       `yaml:"keys"`
	Store      Store      `yaml:"store"`
	HTTP       HTTP       `yaml:"http"`
	Log        Log        `yaml:"log"`
	Indicators Indicators `yaml:"indicators"`
	Evidence   Evidence   `yaml:"evidence"`
	Audit      Audit      `yaml:"audit"`
}

// Audit configures the audit log, kept in the evidence bucket so that
// Object Lock protects it.
type Audit struct {
	// RetentionDays is how long each audit entry is locked (Object Lock
	// governance retention) against deletion.
	RetentionDays Days `yaml:"retention_days"`
}

// Node names this node to people and peers.
type Node struct {
	Name         string `yaml:"name"`
	Country      string `yaml:"country"`
	Organization string `yaml:"organization"`
}

// Keys selects the OpenPGP key profile. The passphrase never appears here:
// it comes from KURIER_PASSPHRASE or KURIER_PASSPHRASE_FILE.
type Keys struct {
	Profile string `yaml:"profile"`
}

// Store selects the object store driver.
type Store struct {
	Driver  string  `yaml:"driver"`
	FS      FSStore `yaml:"fs"`
	S3      S3Store `yaml:"s3"`
	Buckets Buckets `yaml:"buckets"`
}

// FSStore configures the embedded directory store.
type FSStore struct {
	Dir string `yaml:"dir"`
}

// S3Store configures an S3-compatible store (MinIO, Ceph RGW, AWS S3).
type S3Store struct {
	Endpoint    string `yaml:"endpoint"`
	Region      string `yaml:"region"`
	UseTLS      bool   `yaml:"use_tls"`
	AccessKey   string `yaml:"access_key"`
	SecretKey   string `yaml:"secret_key"`
	PartSizeMiB int    `yaml:"part_size_mib"`
}

// Buckets names the buckets the node uses.
type Buckets struct {
	Objects  string `yaml:"objects"`
	Evidence string `yaml:"evidence"`
}

// HTTP tunes the API server.
type HTTP struct {
	ReadHeaderTimeout Duration `yaml:"read_header_timeout"`
	RequestTimeout    Duration `yaml:"request_timeout"`
	IdleTimeout       Duration `yaml:"idle_timeout"`
	ShutdownTimeout   Duration `yaml:"shutdown_timeout"`
	MaxBodyBytes      int64    `yaml:"max_body_bytes"`
	TLSCertFile       string   `yaml:"tls_cert_file"`
	TLSKeyFile        string   `yaml:"tls_key_file"`
}

// Log configures structured logging.
type Log struct {
	Level  string `yaml:"level"`
	Format string `yaml:"format"`
}

// Indicators configures handling of threat indicators.
type Indicators struct {
	DefaultTLP string `yaml:"default_tlp"`
}

// Evidence configures evidence packages.
type Evidence struct {
	// RetentionDays is how long stored evidence is kept at least (Object
	// Lock governance retention) when neither the package's retain_until
	// nor a preservation (at least 60 days) asks for longer.
	RetentionDays Days `yaml:"retention_days"`
}

// Days is a whole number of days ("365"); its own type so that "365d" or
// "1y" get a message saying what to write.
type Days int

// UnmarshalYAML parses a whole number of days.
func (d *Days) UnmarshalYAML(n *yaml.Node) error {
	var v int
	if err := n.Decode(&v); err != nil {
		return fmt.Errorf("line %d: %q is not a number of days (write a whole number, e.g. 365)", n.Line, n.Value)
	}
	*d = Days(v)
	return nil
}

// D returns the period as a time.Duration.
func (d Days) D() time.Duration { return time.Duration(d) * 24 * time.Hour }

// Duration is a time.Duration written as "10s", "5m" in YAML.
type Duration time.Duration

// UnmarshalYAML parses Go duration syntax.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	var s string
	if err := n.Decode(&s); err != nil {
		return fmt.Errorf("line %d: duration must be a string like \"30s\"", n.Line)
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("line %d: %q is not a duration (use e.g. \"30s\", \"5m\")", n.Line, s)
	}
	*d = Duration(v)
	return nil
}

// MarshalYAML writes Go duration syntax.
func (d Duration) MarshalYAML() (any, error) { return time.Duration(d).String(), nil }

// D returns the time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// Env is how the process environment is read; tests pass their own.
type Env func(string) string

// Default returns the configuration used when no file is given: the embedded
// fs store under the XDG data home, listening on loopback.
func Default(env Env) Config {
	return Config{
		Node:    Node{Name: "kurier"},
		DataDir: filepath.Join(DataHome(env), "kurier"),
		Listen:  "127.0.0.1:7470",
		Keys:    Keys{Profile: "default"},
		Store: Store{
			Driver:  "fs",
			S3:      S3Store{Region: "us-east-1", PartSizeMiB: 16},
			Buckets: Buckets{Objects: "kurier-objects", Evidence: "kurier-evidence"},
		},
		HTTP: HTTP{
			ReadHeaderTimeout: Duration(10 * time.Second),
			RequestTimeout:    Duration(60 * time.Second),
			IdleTimeout:       Duration(120 * time.Second),
			ShutdownTimeout:   Duration(30 * time.Second),
			MaxBodyBytes:      16 << 20,
		},
		Log:        Log{Level: "info", Format: "text"},
		Indicators: Indicators{DefaultTLP: "amber"},
		Evidence:   Evidence{RetentionDays: 365},
		Audit:      Audit{RetentionDays: 400},
	}
}

// DataHome is $XDG_DATA_HOME, or ~/.local/share as the XDG spec says.
func DataHome(env Env) string {
	if d := env("XDG_DATA_HOME"); d != "" && filepath.IsAbs(d) {
		return d
	}
	home := env("HOME")
	if home == "" {
		home, _ = os.UserHomeDir()
	}
	return filepath.Join(home, ".local", "share")
}

// DefaultPath is $XDG_CONFIG_HOME/kurier/config.yaml (used when it exists and
// no --config is given).
func DefaultPath(env Env) string {
	dir := env("XDG_CONFIG_HOME")
	if dir == "" || !filepath.IsAbs(dir) {
		home := env("HOME")
		if home == "" {
			home, _ = os.UserHomeDir()
		}
		dir = filepath.Join(home, ".config")
	}
	return filepath.Join(dir, "kurier", "config.yaml")
}

// Load reads a config file over the defaults, applies environment overrides
// and validates. An empty path means defaults only.
func Load(path string, env Env) (Config, error) {
	cfg := Default(env)
	if path != "" {
		data, err := os.ReadFile(path)
		if err != nil {
			return Config{}, fmt.Errorf("config: %w", err)
		}
		if err := Decode(bytes.NewReader(data), &cfg); err != nil {
			return Config{}, fmt.Errorf("config %s: %w", path, err)
		}
	}
	cfg.applyEnv(env)
	if err := cfg.Validate(); err != nil {
		if path != "" {
			return Config{}, fmt.Errorf("config %s: %w", path, err)
		}
		return Config{}, fmt.Errorf("config: %w", err)
	}
	return cfg, nil
}

// Decode decodes YAML strictly into cfg (fields not present keep their value).
func Decode(r io.Reader, cfg *Config) error {
	dec := yaml.NewDecoder(r)
	dec.KnownFields(true)
	if err := dec.Decode(cfg); err != nil {
		if errors.Is(err, io.EOF) {
			return nil // an empty file means defaults
		}
		return friendlyYAMLError(err)
	}
	return nil
}

var unknownField = regexp.MustCompile(`line (\d+): field (\S+) not found in type config\.(\w+)`)

// friendlyYAMLError turns yaml's "field x not found in type config.HTTP" into
// a message an operator can act on.
func friendlyYAMLError(err error) error {
	msg := err.Error()
	if m := unknownField.FindAllStringSubmatch(msg, -1); len(m) > 0 {
		parts := make([]string, 0, len(m))
		for _, s := range m {
			parts = append(parts, fmt.Sprintf("line %s: unknown field %q in section %s (misspelt? see `kurier config example`)", s[1], s[2], sectionName(s[3])))
		}
		return errors.New(strings.Join(parts, "; "))
	}
	return err
}

func sectionName(typ string) string {
	switch typ {
	case "Config":
		return "top level"
	case "FSStore":
		return "store.fs"
	case "S3Store":
		return "store.s3"
	case "Buckets":
		return "store.buckets"
	default:
		return strings.ToLower(typ)
	}
}

// applyEnv lets secrets (and the usual deployment knobs) come from the
// environment so they need not sit in the file.
func (c *Config) applyEnv(env Env) {
	set := func(dst *string, key string) {
		if v := env(key); v != "" {
			*dst = v
		}
	}
	set(&c.Store.S3.AccessKey, "KURIER_S3_ACCESS_KEY")
	set(&c.Store.S3.SecretKey, "KURIER_S3_SECRET_KEY")
	set(&c.Store.S3.Endpoint, "KURIER_S3_ENDPOINT")
}

// Validate checks the configuration and names what to fix.
func (c *Config) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if strings.TrimSpace(c.Node.Name) == "" {
		bad("node.name must not be empty")
	}
	if c.Node.Country != "" && !regexp.MustCompile(`^[A-Z]{2}$`).MatchString(c.Node.Country) {
		bad("node.country %q must be an ISO 3166-1 alpha-2 code in upper case, e.g. \"DE\"", c.Node.Country)
	}
	if c.DataDir == "" {
		bad("data_dir must not be empty")
	}
	if _, port, err := net.SplitHostPort(c.Listen); err != nil || port == "" {
		bad("listen %q must be host:port, e.g. \"127.0.0.1:7470\"", c.Listen)
	}
	switch c.Keys.Profile {
	case "default", "rfc9580":
	default:
		bad("keys.profile %q must be \"default\" (GnuPG 2.2 compatible) or \"rfc9580\" (v6 keys, AEAD)", c.Keys.Profile)
	}
	switch c.Store.Driver {
	case "fs":
	case "s3":
		if c.Store.S3.Endpoint == "" {
			bad("store.s3.endpoint must be set for driver s3 (host:port, or KURIER_S3_ENDPOINT)")
		}
		if c.Store.S3.AccessKey == "" || c.Store.S3.SecretKey == "" {
			bad("store.s3 credentials missing: set KURIER_S3_ACCESS_KEY and KURIER_S3_SECRET_KEY")
		}
		if c.Store.S3.PartSizeMiB < 5 || c.Store.S3.PartSizeMiB > 5120 {
			bad("store.s3.part_size_mib %d must be between 5 and 5120", c.Store.S3.PartSizeMiB)
		}
	default:
		bad("store.driver %q must be \"fs\" or \"s3\"", c.Store.Driver)
	}
	bucket := regexp.MustCompile(`^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$`)
	for name, v := range map[string]string{"objects": c.Store.Buckets.Objects, "evidence": c.Store.Buckets.Evidence} {
		if !bucket.MatchString(v) {
			bad("store.buckets.%s %q is not a valid bucket name (3-63 lower-case letters, digits, '.', '-')", name, v)
		}
	}
	if c.Store.Buckets.Objects == c.Store.Buckets.Evidence {
		bad("store.buckets.objects and store.buckets.evidence must differ (evidence needs Object Lock)")
	}
	for name, d := range map[string]Duration{
		"http.read_header_timeout": c.HTTP.ReadHeaderTimeout, "http.request_timeout": c.HTTP.RequestTimeout,
		"http.idle_timeout": c.HTTP.IdleTimeout, "http.shutdown_timeout": c.HTTP.ShutdownTimeout,
	} {
		if d <= 0 {
			bad("%s must be positive", name)
		}
	}
	if c.HTTP.MaxBodyBytes < 1024 {
		bad("http.max_body_bytes %d is too small (at least 1024)", c.HTTP.MaxBodyBytes)
	}
	if (c.HTTP.TLSCertFile == "") != (c.HTTP.TLSKeyFile == "") {
		bad("http.tls_cert_file and http.tls_key_file must be set together")
	}
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		bad("log.level %q must be debug, info, warn or error", c.Log.Level)
	}
	switch c.Log.Format {
	case "text", "json":
	default:
		bad("log.format %q must be text or json", c.Log.Format)
	}
	switch c.Indicators.DefaultTLP {
	case "clear", "green", "amber", "amber+strict", "red":
	default:
		bad("indicators.default_tlp %q must be clear, green, amber, amber+strict or red", c.Indicators.DefaultTLP)
	}
	// Object Lock retention cannot be shortened once set, so a typo here
	// (e.g. days taken for hours) would bind every object stored with it.
	if c.Evidence.RetentionDays < 1 || c.Evidence.RetentionDays > 36500 {
		bad("evidence.retention_days %d must be between 1 and 36500 (days stored evidence is kept when a package asks for nothing longer; preserved data is kept at least 60 days regardless)", c.Evidence.RetentionDays)
	}
	if c.Audit.RetentionDays < 1 || c.Audit.RetentionDays > 36500 {
		bad("audit.retention_days %d must be between 1 and 36500 (days each audit entry is locked against deletion)", c.Audit.RetentionDays)
	}
	return errors.Join(errs...)
}

// StoreDir is where the fs driver keeps its buckets.
func (c *Config) StoreDir() string {
	if c.Store.FS.Dir != "" {
		return c.Store.FS.Dir
	}
	return filepath.Join(c.DataDir, "store")
}

// KeyPath is where the node's encrypted private key lives.
func (c *Config) KeyPath() string { return filepath.Join(c.DataDir, "node-key.asc") }
