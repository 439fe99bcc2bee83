package app_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-health/gatehouse/internal/auditlog"
	"github.com/gatehouse-health/gatehouse/internal/gateway"
	"github.com/gatehouse-health/gatehouse/internal/record"
)

// TestShippedBundlesEndToEnd submits every shipped PAS request bundle
// through the gateway to the built-in payer service over real TLS, and
// checks the PAS response and the two committed record entries.
func TestShippedBundlesEndToEnd(t *testing.T) {
	h := newHarness(t, harnessOptions{builtinUpstream: true})
	files, err := filepath.Glob("../demo/bundles/*.json")
	if err != nil || len(files) == 0 {
		t.Fatalf("no shipped bundles: %v", err)
	}
	header := http.Header{"Content-Type": {"application/fhir+json"}, "Authorization": {"Bearer " + h.accessToken()}}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			in, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			resp := h.send(h.ehr.HTTPClient(), "POST", "/fhir/Claim/$submit", header, in)
			body := readBody(t, resp)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status %d: %s", resp.StatusCode, body)
			}
			var b struct {
				ResourceType string `json:"resourceType"`
				Entry        []struct {
					Resource struct {
						ResourceType string `json:"resourceType"`
						Item         []any  `json:"item"`
					} `json:"resource"`
				} `json:"entry"`
			}
			if err := json.Unmarshal(body, &b); err != nil || b.ResourceType != "Bundle" || len(b.Entry) == 0 {
				t.Fatalf("response is not a Bundle: %s", body)
			}
			if rt := b.Entry[0].Resource.ResourceType; rt != "ClaimResponse" {
				t.Fatalf("first entry is %s, want ClaimResponse", rt)
			}
			if len(b.Entry[0].Resource.Item) == 0 {
				t.Error("ClaimResponse carries no item decisions")
			}

			entries := h.entries(resp)
			if len(entries) != 2 {
				t.Fatalf("recorded %d entries, want request and response", len(entries))
			}
			req, res := entries[0], entries[1]
			if req.Phase != record.PhaseRequest || res.Phase != record.PhaseResponse {
				t.Errorf("phases %s, %s", req.Phase, res.Phase)
			}
			recIn, _ := h.bodies(req)
			_, recOut := h.bodies(res)
			if !bytes.Equal(recIn, in) || !bytes.Equal(recOut, body) {
				t.Error("recorded bodies differ from what crossed the link")
			}
			if res.Partner != "demo-ehr" || res.TokenID == "" || len(res.CertFingerprint) != 64 || !strings.HasPrefix(res.Rule, "allow") {
				t.Errorf("record identity: partner %q token %q cert %q rule %q", res.Partner, res.TokenID, res.CertFingerprint, res.Rule)
			}
			if res.Status != 200 || res.Interaction != "Claim/$submit" {
				t.Errorf("record status %d interaction %q", res.Status, res.Interaction)
			}
		})
	}
}

// TestSmartConfiguration checks the discovery document.
func TestSmartConfiguration(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	resp := h.send(h.ehr.HTTPClient(), "GET", "/fhir/.well-known/smart-configuration", nil, nil)
	body := readBody(t, resp)
	if resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	var doc struct {
		TokenEndpoint      string   `json:"token_endpoint"`
		RevocationEndpoint string   `json:"revocation_endpoint"`
		AuthMethods        []string `json:"token_endpoint_auth_methods_supported"`
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		t.Fatal(err)
	}
	if doc.TokenEndpoint != h.rt.TokenURL {
		t.Errorf("token_endpoint = %q, want %q", doc.TokenEndpoint, h.rt.TokenURL)
	}
	// The advertised endpoint is the one the inbound listener serves.
	if want := strings.TrimSuffix(h.rt.TokenURL, gateway.TokenPath) + gateway.RevokePath; doc.RevocationEndpoint != want {
		t.Errorf("revocation_endpoint = %q, want %q", doc.RevocationEndpoint, want)
	}
	if len(doc.AuthMethods) != 1 || doc.AuthMethods[0] != "private_key_jwt" {
		t.Errorf("auth methods = %v", doc.AuthMethods)
	}
}

// TestReceipt checks that a partner can prove its exchange was logged: the
// response names the leaf, and the receipt endpoint returns an inclusion
// proof against a signed checkpoint that verifies with the log's key.
func TestReceipt(t *testing.T) {
	h := newHarness(t, harnessOptions{builtinUpstream: true})
	header := http.Header{"Content-Type": {"application/fhir+json"}, "Authorization": {"Bearer " + h.accessToken()}}
	resp := h.send(h.ehr.HTTPClient(), "POST", "/fhir/Claim/$submit", header, shippedBundle(t))
	readBody(t, resp)
	index, leaf := resp.Header.Get("X-Gatehouse-Log-Index"), resp.Header.Get("X-Gatehouse-Leaf-Hash")
	if index == "" || leaf == "" {
		t.Fatalf("no receipt headers: %v", resp.Header)
	}

	var proof []byte
	deadline := time.Now().Add(15 * time.Second)
	for {
		r := h.send(h.ehr.HTTPClient(), "GET", "/receipts/"+index, nil, nil)
		proof = readBody(t, r)
		if r.StatusCode == http.StatusOK {
			break
		}
		if r.StatusCode != http.StatusAccepted || time.Now().After(deadline) {
			t.Fatalf("receipt: status %d: %s", r.StatusCode, proof)
		}
		time.Sleep(200 * time.Millisecond)
	}
	p, err := auditlog.ParseProof(proof)
	if err != nil {
		t.Fatal(err)
	}
	verifier, err := auditlog.LoadVerifier(auditlog.DevKeyPaths(h.layout.Dir).VerifierFile)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := auditlog.CheckProof(p, verifier); err != nil {
		t.Fatalf("the receipt does not verify: %v", err)
	}
	if p.LeafHash.String() != leaf {
		t.Errorf("receipt leaf %s, header %s", p.LeafHash, leaf)
	}
}

// TestPayerServiceRefusesOtherClients checks that a local process cannot
// bypass the gateway by calling the built-in payer service directly.
func TestPayerServiceRefusesOtherClients(t *testing.T) {
	h := newHarness(t, harnessOptions{builtinUpstream: true})
	req, _ := http.NewRequest("POST", h.rt.PayerURL+"/Claim/$submit", bytes.NewReader(shippedBundle(t)))
	req.Header.Set("Content-Type", "application/fhir+json")
	req.Header.Set("X-Gatehouse-Partner", "demo-ehr")
	resp, err := (&http.Client{}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body := readBody(t, resp)
	if resp.StatusCode != http.StatusForbidden || outcomeCode(t, body) != "security" {
		t.Errorf("direct call: status %d: %s", resp.StatusCode, body)
	}
}
