package dfd

import (
	"fmt"
	"net/url"
	"path/filepath"
	"strings"
	"time"

	"github.com/gatehouse-health/gatehouse/internal/config"
	"github.com/gatehouse-health/gatehouse/internal/storage"
)

// Node ids of the fixed parts of the diagram.
const (
	idInbound  = "inbound"
	idToken    = "token"
	idGateway  = "gateway"
	idUpstream = "upstream"
	idDatabase = "database"
	idAdmin    = "admin"
	idSecTeam  = "security-team"
	idOutbound = "outbound"
	idEngine   = "engine"
)

const npiSystem = "http://hl7.org/fhir/sid/us-npi"

// Build returns the diagram of cfg.
//
// The layout grid has four columns. The first contains the partners and the
// security team, the second the listeners and the token endpoint, the third
// the gateway pipeline, and the fourth the upstream, the database and the
// payer engine. Rows are chosen so that every edge joins neighbouring
// columns, or crosses a column at a row that column leaves empty.
func Build(cfg *config.File) *Graph {
	g := &Graph{
		Title:    "Gatehouse data flows and trust boundaries",
		Subtitle: "public URL " + cfg.PublicURL,
	}
	outbound := cfg.Outbound.Listen != ""
	// The admin row stays below the partners with one empty row between,
	// so the two zones of the first column do not touch, and below the
	// listeners of the second column.
	adminRow := max(len(cfg.Partners)+1, 2)
	if outbound {
		adminRow = max(adminRow, 3)
	}

	g.addPartners(cfg)
	g.addGatewayHost(cfg)
	g.addPayerSide(cfg)
	if outbound {
		g.addOutbound(cfg)
	}
	if cfg.Admin.Listen != "" {
		g.addAdmin(cfg, adminRow)
	}
	g.addWitnesses(cfg)
	g.Zones = g.usedZones()
	return g
}

func partnerID(id string) string { return "partner-" + id }

func (g *Graph) addPartners(cfg *config.File) {
	for i, p := range cfg.Partners {
		lines := []string{"EHR " + p.ID, organization(p.Organization)}
		if p.Outbound != nil {
			lines = append(lines, "FHIR API "+hostOf(p.Outbound.FHIRBase))
		}
		g.Nodes = append(g.Nodes, Node{ID: partnerID(p.ID), Zone: ZoneInternet.ID, Lines: lines, Col: 0, Row: i})
		g.Edges = append(g.Edges, Edge{
			From: partnerID(p.ID), To: idInbound,
			Data:     classNames(ClassesOf(p.Interactions)),
			Controls: []string{"mTLS (private CA)", fmt.Sprintf("rate limit %g/s", p.RateLimit.RequestsPerSecond)},
		})
	}
}

// organization describes a partner organisation identifier briefly.
func organization(id config.Identifier) string {
	switch {
	case id.Value == "":
		return "organization not set"
	case id.System == npiSystem:
		return "NPI " + id.Value
	}
	return id.System + "|" + id.Value
}

func (g *Graph) addGatewayHost(cfg *config.File) {
	g.Nodes = append(g.Nodes,
		Node{ID: idInbound, Zone: ZoneDMZ.ID, Lines: []string{"Inbound listener", cfg.Listen, "TLS 1.2+, client cert required"}, Col: 1, Row: 0},
		Node{ID: idToken, Zone: ZoneDMZ.ID, Lines: []string{"Token endpoint", "/oauth/token", "tokens live " + duration(cfg.Token.Lifetime)}, Col: 1, Row: 1},
		Node{ID: idGateway, Zone: ZoneDMZ.ID, Lines: []string{"Gateway pipeline", "identity, token, policy,", "payload, record, forward"}, Col: 2, Row: 0},
	)
	g.Edges = append(g.Edges,
		Edge{From: idInbound, To: idToken, Data: []string{"client assertion", "access token"},
			Controls: []string{"private_key_jwt", "single-use jti", "cert-bound token"}},
		Edge{From: idInbound, To: idGateway, Data: classNames(allPartnerClasses(cfg)),
			Controls: append([]string{"token (cnf x5t#S256)", "interaction allowlist", "identity congruence"}, payloadControls(cfg)...)},
	)
}

// payloadControls names the checks of the bodies that cross the link,
// which strict mode's setting decides for both directions.
func payloadControls(cfg *config.File) []string {
	if cfg.Strict.Mode == "off" {
		return []string{"strict JSON", "FHIR PROFILES OFF"}
	}
	return []string{"strict JSON", "FHIR profiles"}
}

func allPartnerClasses(cfg *config.File) []DataClass {
	var all []string
	for _, p := range cfg.Partners {
		all = append(all, p.Interactions...)
	}
	return ClassesOf(all)
}

// databaseLines labels the database node: the SQLite file's name, or the
// PostgreSQL server's host and port, never the user or password.
func databaseLines(cfg *config.File) []string {
	dialect, target, err := storage.ParseURL(cfg.DatabaseURL())
	if err == nil && dialect == storage.PostgreSQL {
		host := "(host from the environment)"
		if u, err := url.Parse(target); err == nil && u.Host != "" {
			host = u.Host
		}
		return []string{"Database (PostgreSQL)", host, "exchange record, replay cache, shared by replicas"}
	}
	return []string{"Database (SQLite)", filepath.Base(target), "exchange record, replay cache"}
}

func (g *Graph) addPayerSide(cfg *config.File) {
	db := Node{ID: idDatabase, Zone: ZoneInternal.ID, Store: true, Col: 3, Row: 1, Lines: databaseLines(cfg)}
	upstreamEdge := Edge{From: idGateway, To: idUpstream, Data: classNames(allPartnerClasses(cfg))}
	if cfg.Upstream.URL == config.Builtin {
		g.Nodes = append(g.Nodes, Node{ID: idUpstream, Zone: ZoneInternal.ID, Col: 3, Row: 0,
			Lines: []string{"Built-in payer service", cfg.Payer.Listen, "same host, loopback only"}})
		upstreamEdge.Controls = []string{"in process", "identity headers from verified state"}
	} else {
		g.Nodes = append(g.Nodes, Node{ID: idUpstream, Zone: ZoneInternal.ID, Col: 3, Row: 0,
			Lines: []string{"Payer integration engine", hostOf(cfg.Upstream.URL), "upstream FHIR base"}})
		upstreamEdge.Controls = upstreamControls(cfg.Upstream)
	}
	g.Nodes = append(g.Nodes, db)
	g.Edges = append(g.Edges,
		upstreamEdge,
		Edge{From: idGateway, To: idDatabase, Data: []string{"full request and response payloads", "partner-patient links", "partner-claim links"},
			Controls: []string{"recorded before forward and release", "fail closed", "identifier values as HMAC only"}},
		Edge{From: idToken, To: idDatabase, Data: []string{"assertion ids"}, Controls: []string{"replay check"}},
	)
	if cfg.Upstream.URL == config.Builtin {
		g.Edges = append(g.Edges, Edge{From: idUpstream, To: idDatabase, Data: []string{"claims", "decisions"}, Controls: []string{"same host"}})
	}
}

func upstreamControls(up config.Upstream) []string {
	u, err := url.Parse(up.URL)
	switch {
	case err != nil:
		return []string{"unparsable URL"}
	case u.Scheme == "http":
		return []string{"PLAIN HTTP", "identity headers"}
	case up.CAFile != "":
		return []string{"TLS, pinned CA", "identity headers"}
	}
	return []string{"TLS, system roots", "identity headers"}
}

func (g *Graph) addOutbound(cfg *config.File) {
	g.Nodes = append(g.Nodes, Node{ID: idOutbound, Zone: ZoneDMZ.ID, Col: 1, Row: 2,
		Lines: []string{"Outbound listener", cfg.Outbound.Listen, "engine cert required"}})
	engine := idUpstream
	if cfg.Upstream.URL == config.Builtin {
		engine = idEngine
		g.Nodes = append(g.Nodes, Node{ID: idEngine, Zone: ZoneInternal.ID, Col: 3, Row: 2,
			Lines: []string{"Payer integration engine", "outbound requests"}})
	}
	g.Edges = append(g.Edges, Edge{From: engine, To: idOutbound, Data: []string{"requests to partners"}, Controls: []string{"mTLS (engine cert)"}})
	for _, p := range cfg.Partners {
		if p.Outbound == nil {
			continue
		}
		g.Edges = append(g.Edges, Edge{From: idOutbound, To: partnerID(p.ID),
			Data: classNames(ClassesOf(p.Outbound.Interactions)),
			Controls: append([]string{"mTLS (payer cert)", "partner token", "interaction allowlist", "identity congruence", "patients linked to partner"},
				append(payloadControls(cfg), "recorded")...)})
	}
}

func (g *Graph) addAdmin(cfg *config.File, row int) {
	g.Nodes = append(g.Nodes,
		Node{ID: idSecTeam, Zone: ZoneAdmin.ID, Col: 0, Row: row, Lines: []string{"Security team", "administrators"}},
		Node{ID: idAdmin, Zone: ZoneDMZ.ID, Col: 1, Row: row, Lines: []string{"Admin listener", cfg.Admin.Listen, "admin cert required"}},
	)
	g.Edges = append(g.Edges,
		Edge{From: idSecTeam, To: idAdmin, Data: []string{"kill switch", "metrics", "health"}, Controls: []string{"mTLS (admin cert)"}},
		// The label sits near the admin listener, away from the token
		// endpoint's row that the edge crosses at its middle.
		Edge{From: idAdmin, To: idGateway, Data: []string{"kill-switch cuts"}, Controls: []string{"recorded"}, LabelAt: 0.25},
	)
}

// addWitnesses draws the checkpoint witnesses in the fourth column, one
// empty row below the payer side so the zones do not touch.
func (g *Graph) addWitnesses(cfg *config.File) {
	row := 0
	for _, n := range g.Nodes {
		if n.Col == 3 {
			row = max(row, n.Row+2)
		}
	}
	for i, w := range cfg.Audit.Witnesses {
		id := fmt.Sprintf("witness-%d", i)
		g.Nodes = append(g.Nodes, Node{ID: id, Zone: ZoneWitness.ID, Col: 3, Row: row + i,
			Lines: []string{"Checkpoint witness", hostOf(w.URL), "cosigns checkpoints"}})
		g.Edges = append(g.Edges, Edge{From: idGateway, To: id,
			Data:     []string{"signed checkpoints", "consistency proofs (no PHI)"},
			Controls: []string{"TLS", "egress allowlist", "cosignature checked"}})
	}
}

// usedZones returns the zones that hold at least one node, in drawing
// order.
func (g *Graph) usedZones() []Zone {
	var out []Zone
	for _, z := range []Zone{ZoneInternet, ZoneDMZ, ZoneInternal, ZoneAdmin, ZoneWitness} {
		if len(g.zoneNodes(z.ID)) > 0 {
			out = append(out, z)
		}
	}
	return out
}

func classNames(cs []DataClass) []string {
	if len(cs) == 0 {
		return []string{"no interactions allowed"}
	}
	out := make([]string, len(cs))
	for i, c := range cs {
		out[i] = string(c)
	}
	return out
}

// duration formats d without zero units: 5m rather than 5m0s.
func duration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// hostOf returns the host (and port) of a URL, or the text itself when it
// does not parse.
func hostOf(s string) string {
	u, err := url.Parse(s)
	if err != nil || u.Host == "" {
		return s
	}
	return strings.TrimSuffix(u.Host, ":443")
}
