package loadtest

import "testing"

func TestQuickErrorCode(t *testing.T) {
	tests := []struct{ body, want string }{
		{`{"error":{"code":"verify_first","message":"verify who you are first"}}`, "verify_first"},
		{`{"error":{"code":"ticket_key","message":"x"}}`, "ticket_key"},
		{`{"state":"waiting"}`, ""},
		{`<!doctype html>`, ""},
		{`{"error":{"code":"cut`, ""},
	}
	for _, tt := range tests {
		if got := quickErrorCode([]byte(tt.body)); got != tt.want {
			t.Errorf("quickErrorCode(%q) = %q, want %q", tt.body, got, tt.want)
		}
		if got := errorCode([]byte(tt.body)); got != tt.want && tt.want != "" {
			t.Errorf("errorCode(%q) = %q, the full decoder disagrees", tt.body, got)
		}
	}
}
