package app

import (
	"net"
	"testing"
)

// A hardened deployment binds the outbound listener to one internal
// address and serves a certificate for public_url's host only, so the
// notification sender must dial that address and verify that name.
func TestNotificationTargetFollowsListener(t *testing.T) {
	cases := []struct {
		name      string
		listen    string
		publicURL string
		wantURL   string
		wantName  string
	}{
		{"internal address", "10.30.0.5:8444", "https://gatehouse.payer.example:8443", "https://10.30.0.5:8444", "gatehouse.payer.example"},
		{"every IPv4 interface", "0.0.0.0:8444", "https://gatehouse.payer.example:8443", "https://127.0.0.1:8444", "gatehouse.payer.example"},
		{"every IPv6 interface", "[::]:8444", "https://gatehouse.payer.example:8443", "https://[::1]:8444", "gatehouse.payer.example"},
		{"development loopback", "127.0.0.1:40001", "https://localhost:8443", "https://127.0.0.1:40001", "localhost"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			addr, err := net.ResolveTCPAddr("tcp", tc.listen)
			if err != nil {
				t.Fatal(err)
			}
			gotURL, gotName := notificationTarget(addr, tc.publicURL)
			if gotURL != tc.wantURL {
				t.Errorf("URL = %q, want %q", gotURL, tc.wantURL)
			}
			if gotName != tc.wantName {
				t.Errorf("server name = %q, want %q", gotName, tc.wantName)
			}
		})
	}
}
