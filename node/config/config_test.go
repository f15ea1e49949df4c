package config

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func testEnv(vars map[string]string) Env {
	return func(k string) string { return vars[k] }
}

func TestExampleMatchesDefault(t *testing.T) {
	env := testEnv(map[string]string{"HOME": "/home/k"})
	got := Default(env)
	if err := Decode(strings.NewReader(Example), &got); err != nil {
		t.Fatalf("example does not decode: %v", err)
	}
	if want := Default(env); !reflect.DeepEqual(got, want) {
		t.Fatalf("example differs from defaults:\n got %+v\nwant %+v", got, want)
	}
	// Decoding into a zero Config proves every field is written out (only
	// data_dir is left commented because its default depends on the user).
	var zero Config
	if err := Decode(strings.NewReader(Example), &zero); err != nil {
		t.Fatal(err)
	}
	zero.DataDir = got.DataDir
	if !reflect.DeepEqual(zero, got) {
		t.Fatalf("example omits a field:\n got %+v\nwant %+v", zero, got)
	}
	if err := got.Validate(); err != nil {
		t.Fatalf("defaults invalid: %v", err)
	}
}

func TestXDGPaths(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		data string
		conf string
	}{
		{"home only", map[string]string{"HOME": "/home/a"}, "/home/a/.local/share/kurier", "/home/a/.config/kurier/config.yaml"},
		{"xdg set", map[string]string{"HOME": "/home/a", "XDG_DATA_HOME": "/x/data", "XDG_CONFIG_HOME": "/x/conf"}, "/x/data/kurier", "/x/conf/kurier/config.yaml"},
		{"relative xdg ignored", map[string]string{"HOME": "/home/a", "XDG_DATA_HOME": "rel"}, "/home/a/.local/share/kurier", "/home/a/.config/kurier/config.yaml"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := testEnv(tt.env)
			if got := Default(env).DataDir; got != tt.data {
				t.Errorf("data dir = %q, want %q", got, tt.data)
			}
			if got := DefaultPath(env); got != tt.conf {
				t.Errorf("config path = %q, want %q", got, tt.conf)
			}
		})
	}
}

func TestLoadErrors(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		want []string // substrings the error must contain
	}{
		{"unknown top-level field", "listne: 1.2.3.4:1\n", []string{`unknown field "listne"`, "top level", "line 1"}},
		{"unknown nested field", "http:\n  max_body: 10\n", []string{`unknown field "max_body"`, "section http", "line 2"}},
		{"misspelt s3 field", "store:\n  s3:\n    acess_key: x\n", []string{`unknown field "acess_key"`, "store.s3"}},
		{"bad duration", "http:\n  idle_timeout: soon\n", []string{`"soon" is not a duration`}},
		{"bad driver", "store:\n  driver: tape\n", []string{`store.driver "tape"`}},
		{"s3 without endpoint", "store:\n  driver: s3\n", []string{"store.s3.endpoint must be set", "KURIER_S3_ACCESS_KEY"}},
		{"bad profile", "keys:\n  profile: rsa\n", []string{`keys.profile "rsa"`}},
		{"bad country", "node:\n  country: germany\n", []string{"ISO 3166-1"}},
		{"bad listen", "listen: localhost\n", []string{"host:port"}},
		{"same buckets", "store:\n  buckets:\n    objects: a-b\n    evidence: a-b\n", []string{"must differ"}},
		{"bad tlp", "indicators:\n  default_tlp: white\n", []string{`default_tlp "white"`}},
		{"retention zero", "evidence:\n  retention_days: 0\n", []string{"evidence.retention_days 0 must be between 1 and 36500"}},
		{"audit retention too long", "audit:\n  retention_days: 99999\n", []string{"audit.retention_days 99999 must be between 1 and 36500"}},
		{"audit retention misspelt", "audit:\n  retension_days: 30\n", []string{"retension_days"}},
		{"retention as duration", "evidence:\n  retention_days: 365d\n", []string{"line 2", `"365d" is not a number of days`}},
		{"misspelt evidence field", "evidence:\n  retention: 30\n", []string{`unknown field "retention"`, "section evidence"}},
		{"tls half set", "http:\n  tls_cert_file: /c.pem\n", []string{"set together"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "c.yaml")
			if err := os.WriteFile(path, []byte(tt.yaml), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := Load(path, testEnv(map[string]string{"HOME": "/h"}))
			if err == nil {
				t.Fatal("Load succeeded, want error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

func TestEnvOverridesSecrets(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.yaml")
	if err := os.WriteFile(path, []byte("store:\n  driver: s3\n  s3:\n    endpoint: 127.0.0.1:9000\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := Load(path, testEnv(map[string]string{"HOME": "/h", "KURIER_S3_ACCESS_KEY": "ak", "KURIER_S3_SECRET_KEY": "sk"}))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Store.S3.AccessKey != "ak" || cfg.Store.S3.SecretKey != "sk" {
		t.Fatalf("env not applied: %+v", cfg.Store.S3)
	}
}

func TestEmptyFileIsDefaults(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.yaml")
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := Load(path, testEnv(map[string]string{"HOME": "/h"}))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(cfg, Default(testEnv(map[string]string{"HOME": "/h"}))) {
		t.Fatal("empty file should give defaults")
	}
}
