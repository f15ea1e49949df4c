package identity

import (
	"testing"
	"time"
)

// TestSTIXIdentityID: the id is derived from the fingerprint alone and must
// never change (peers compute it for each other, and objects name it in
// created_by_ref).
func TestSTIXIdentityID(t *testing.T) {
	tests := []struct{ fpr, want string }{
		{"7F3A000000000000000000000000000000000000", "identity--41438f61-2c91-5fa8-a1d0-e330ea231c73"},
	}
	for _, tt := range tests {
		if got := STIXIdentityID(tt.fpr); got != tt.want {
			t.Errorf("STIXIdentityID(%s) = %s, want %s", tt.fpr, got, tt.want)
		}
	}
	a, err := Generate("Node A", "", ProfileDefault, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	b, err := Generate("Node B", "", ProfileDefault, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if a.STIXID() != STIXIdentityID(a.Fingerprint()) || a.STIXID() == b.STIXID() {
		t.Fatalf("ids: %s %s", a.STIXID(), b.STIXID())
	}
}
