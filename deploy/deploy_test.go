// Package deploy holds deployment files (compose, Prometheus configuration
// and alert rules); its tests check them with the real promtool.
package deploy

import (
	"os"
	"os/exec"
	"testing"
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
