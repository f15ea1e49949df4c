// Package deploy holds deployment files (compose, Prometheus configuration
// and alert rules); its tests check them with the real promtool.
package deploy

import (
	"encoding/json"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

func promtool(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("promtool")
	if err != nil {
		if os.Getenv("KURIER_REQUIRE_TOOLS") == "1" {
			t.Fatal("promtool is required (Debian package prometheus) but not installed")
		}
		t.Skip("promtool not installed")
	}
	return p
}

func TestPrometheusFiles(t *testing.T) {
	bin := promtool(t)
	for _, args := range [][]string{
		{"check", "rules", "prometheus/alerts.yml"},
		{"test", "rules", "prometheus/alerts_test.yml"},
		{"check", "config", "prometheus/prometheus.yml"},
	} {
		out, err := exec.Command(bin, args...).CombinedOutput()
		if err != nil {
			t.Errorf("promtool %v: %v\n%s", args, err, out)
		}
	}
}

// TestGrafanaDashboard checks the dashboard is valid JSON whose every
// query names a metric the node or its parts export.
func TestGrafanaDashboard(t *testing.T) {
	data, err := os.ReadFile("grafana/kurier.json")
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		Title  string
		Panels []struct {
			Title   string
			Targets []struct{ Expr string }
		}
	}
	if err := json.Unmarshal(data, &d); err != nil {
		t.Fatalf("dashboard is not JSON: %v", err)
	}
	if d.Title == "" || len(d.Panels) < 10 {
		t.Fatalf("dashboard incomplete: %q, %d panels", d.Title, len(d.Panels))
	}
	// Every kurier_* metric a panel uses must be defined in the code.
	var src strings.Builder
	_ = filepath.WalkDir("..", func(path string, e fs.DirEntry, err error) error {
		if err == nil && !e.IsDir() && strings.HasSuffix(path, ".go") && !strings.HasSuffix(path, "_test.go") {
			b, _ := os.ReadFile(path)
			src.Write(b)
		}
		return nil
	})
	re := regexp.MustCompile(`kurier_[a-z_]+`)
	for _, p := range d.Panels {
		for _, tg := range p.Targets {
			for _, m := range re.FindAllString(tg.Expr, -1) {
				base := strings.TrimSuffix(m, "_bucket")
				if !strings.Contains(src.String(), `"`+base+`"`) {
					t.Errorf("panel %q uses %s, which no code defines", p.Title, m)
				}
			}
		}
	}
}

// TestComposeMounts checks that every file the compose file bind-mounts
// exists here, and that Prometheus gets the rule files its configuration
// loads (a missing rule file would leave the deployment with no alerts).
func TestComposeMounts(t *testing.T) {
	var compose struct {
		Services map[string]struct {
			Volumes []string
		}
	}
	data, err := os.ReadFile("compose.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(data, &compose); err != nil {
		t.Fatalf("compose.yaml: %v", err)
	}
	mounted := map[string]bool{}
	for name, svc := range compose.Services {
		for _, v := range svc.Volumes {
			parts := strings.Split(v, ":")
			if len(parts) < 2 || !strings.HasPrefix(parts[0], "./") {
				continue // a named volume
			}
			if _, err := os.Stat(parts[0]); err != nil {
				t.Errorf("service %s mounts %s, which does not exist", name, parts[0])
			}
			if name == "prometheus" {
				mounted[parts[1]] = true
			}
		}
	}
	var prom struct {
		RuleFiles []string `yaml:"rule_files"`
	}
	data, err = os.ReadFile("prometheus/prometheus.yml")
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(data, &prom); err != nil {
		t.Fatal(err)
	}
	if len(prom.RuleFiles) == 0 {
		t.Fatal("prometheus.yml loads no rule files")
	}
	for _, rf := range prom.RuleFiles {
		if !mounted[filepath.Join("/etc/prometheus", rf)] {
			t.Errorf("prometheus.yml loads %s, which compose does not mount into /etc/prometheus", rf)
		}
	}
}
