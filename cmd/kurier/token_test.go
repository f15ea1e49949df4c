package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/kurier/kurier/node"
	"github.com/kurier/kurier/node/audit"
	"github.com/kurier/kurier/node/config"
)

// TestTokenChangesAudited: creating and revoking tokens with the local
// admin commands leaves audit entries (who, what, which token), like the
// API's writes; the secret is never in them.
func TestTokenChangesAudited(t *testing.T) {
	home := t.TempDir()
	env := map[string]string{"HOME": home, "KURIER_PASSPHRASE": "correct horse"}
	secret, _, err := run(t, env, "token", "create", "--role", "analyst", "--name", "alice", "--tlp-red")
	if err != nil {
		t.Fatal(err)
	}
	secret = strings.TrimSpace(secret)
	out, _, err := run(t, env, "token", "list")
	if err != nil || !strings.Contains(out, "alice") || !strings.Contains(out, "yes") {
		t.Fatalf("list: %v\n%s", err, out)
	}
	id := strings.Fields(strings.Split(out, "\n")[1])[0]
	if _, _, err := run(t, env, "token", "revoke", id); err != nil {
		t.Fatal(err)
	}

	cfg := config.Default(func(k string) string { return env[k] })
	st, err := node.OpenStore(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	var actions []string
	for e, err := range audit.New(st.Bucket(cfg.Store.Buckets.Evidence), 0).Events(context.Background(), time.Time{}) {
		if err != nil {
			t.Fatal(err)
		}
		if e.Target != "token/"+id || !strings.HasPrefix(e.Actor, "local:") || !strings.Contains(e.Detail, "alice") {
			t.Fatalf("audit entry: %+v", e)
		}
		if strings.Contains(e.Detail, secret) || strings.Contains(e.Target, secret) {
			t.Fatalf("secret in the audit log: %+v", e)
		}
		actions = append(actions, e.Action)
	}
	if strings.Join(actions, ",") != "token create,token revoke" {
		t.Fatalf("audited actions: %v", actions)
	}
}
