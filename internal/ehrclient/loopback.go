package ehrclient

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
)

// maxDiscoveryBytes caps the SMART configuration document that
// AdoptLoopbackAudience reads.
const maxDiscoveryBytes = 64 << 10

// AdoptLoopbackAudience reads the token endpoint that the gateway
// publishes at FHIRBase()/.well-known/smart-configuration and signs later
// client assertions for it. It adopts an https endpoint only when PublicURL
// and the endpoint both name a loopback host (localhost, 127.0.0.0/8 or
// ::1) on the same port, so that a gateway whose public URL names
// localhost can be reached at 127.0.0.1. Assertions keep naming
// TokenURL() for any other endpoint, because adopting it would let the
// server at PublicURL obtain an assertion that another server accepts.
// It returns whether the audience changed.
func (c *Client) AdoptLoopbackAudience(ctx context.Context) (bool, error) {
	base, err := url.Parse(c.opts.PublicURL)
	if err != nil || !isLoopbackHost(base.Hostname()) {
		return false, nil
	}

	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.FHIRBase()+"/.well-known/smart-configuration", nil)
	if err != nil {
		return false, fmt.Errorf("ehrclient: %w", err)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		return false, fmt.Errorf("ehrclient: reading the SMART configuration: %w", err)
	}
	defer resp.Body.Close()

	if resp.StatusCode != http.StatusOK {
		return false, fmt.Errorf("ehrclient: reading the SMART configuration: HTTP %d", resp.StatusCode)
	}
	var doc struct {
		TokenEndpoint string `json:"token_endpoint"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxDiscoveryBytes)).Decode(&doc); err != nil {
		return false, fmt.Errorf("ehrclient: invalid SMART configuration: %w", err)
	}

	endpoint, err := url.Parse(doc.TokenEndpoint)
	if err != nil || endpoint.Scheme != "https" || !isLoopbackHost(endpoint.Hostname()) || endpoint.Port() != base.Port() {
		return false, nil
	}
	if doc.TokenEndpoint == c.TokenURL() {
		return false, nil
	}

	c.mu.Lock()
	c.audience = doc.TokenEndpoint
	c.mu.Unlock()
	return true, nil
}

// isLoopbackHost reports whether host is localhost or a loopback address.
func isLoopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
