package auditlog

import (
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/gatehouse-health/gatehouse/internal/record"
)

// ExportedEntry is the NDJSON export of one entry: every record field, the
// leaf index and hash, and the body commitments. Bodies appear only when
// they were decrypted, and a body that is not UTF-8 text is exported in the
// *_base64 field instead.
type ExportedEntry struct {
	Index           int64  `json:"index"`
	Seq             int64  `json:"seq"`
	LeafHash        string `json:"leaf_hash"`
	ExchangeID      string `json:"exchange_id"`
	Phase           string `json:"phase"`
	Direction       string `json:"direction"`
	Partner         string `json:"partner"`
	CertFingerprint string `json:"cert_fingerprint,omitempty"`
	TokenID         string `json:"token_id,omitempty"`
	Source          string `json:"source,omitempty"`
	Method          string `json:"method"`
	// Target is the request-target. Its query string, which carries PHI
	// in FHIR searches, is included only when the entry was decrypted.
	Target string `json:"target"`
	// QueryWithheld is the reason Target lacks the query string it had.
	QueryWithheld  string `json:"query_withheld,omitempty"`
	Interaction    string `json:"interaction,omitempty"`
	Decision       string `json:"decision"`
	Rule           string `json:"rule,omitempty"`
	Reason         string `json:"reason,omitempty"`
	Status         int    `json:"status"`
	UpstreamStatus int    `json:"upstream_status,omitempty"`
	RequestType    string `json:"request_type,omitempty"`
	Received       string `json:"received,omitempty"`
	Recorded       string `json:"recorded"`
	UpstreamMillis int64  `json:"upstream_ms"`
	TotalMillis    int64  `json:"total_ms"`
	RequestSize    int64  `json:"request_size"`
	RequestSHA256  string `json:"request_sha256,omitempty"`
	// RequestEntry is the index of the exchange's request entry when that
	// entry holds the request body, which this one commits to by size and
	// hash.
	RequestEntry *int64 `json:"request_entry,omitempty"`
	// RequestShredded is set when the bodies were decrypted but the
	// request entry holding the request body was shredded.
	RequestShredded bool `json:"request_shredded,omitempty"`
	// RequestUnavailable is the reason the request body is missing when
	// its request entry could not be read or decrypted.
	RequestUnavailable string `json:"request_unavailable,omitempty"`
	// BodiesUnreadable is the reason the bodies are missing when they could
	// not be decrypted or do not match their committed hashes.
	BodiesUnreadable string `json:"bodies_unreadable,omitempty"`
	ResponseSize     int64  `json:"response_size"`
	ResponseSHA256   string `json:"response_sha256,omitempty"`
	Shredded         string `json:"shredded,omitempty"`
	RequestBody      string `json:"request_body,omitempty"`
	RequestBodyB64   string `json:"request_body_base64,omitempty"`
	ResponseBody     string `json:"response_body,omitempty"`
	ResponseBodyB64  string `json:"response_body_base64,omitempty"`
}

// Export converts row, with its decrypted bodies if not nil.
func Export(row *Row, bodies *Bodies) *ExportedEntry {
	l, e := &row.Leaf, &row.Leaf.Entry
	x := &ExportedEntry{
		Index: l.Index, Seq: e.Seq, LeafHash: tlog.RecordHash(row.Encoded).String(),
		ExchangeID: e.ExchangeID, Phase: string(e.Phase), Direction: e.Direction, Partner: e.Partner,
		CertFingerprint: e.CertFingerprint, TokenID: e.TokenID, Source: e.Source,
		Method: e.Method, Target: e.Target, Interaction: e.Interaction, Decision: string(e.Decision),
		Rule: e.Rule, Reason: e.Reason, Status: e.Status, UpstreamStatus: e.UpstreamState,
		RequestType: e.RequestType, Received: formatTime(e.Received), Recorded: formatTime(e.RecordedAt),
		UpstreamMillis: e.UpstreamTime.Milliseconds(), TotalMillis: e.TotalTime.Milliseconds(),
		RequestSize: l.Request.Size, ResponseSize: l.Response.Size, Shredded: formatTime(row.Shredded),
	}
	x.Target, x.QueryWithheld = ExportTarget(row, bodies)
	if l.Request.Size > 0 {
		x.RequestSHA256 = hex.EncodeToString(l.Request.SHA256[:])
		if l.Request.InRequestEntry() {
			x.RequestEntry = &l.RequestEntry
		}
	}
	if l.Response.Size > 0 {
		x.ResponseSHA256 = hex.EncodeToString(l.Response.SHA256[:])
	}
	if bodies != nil {
		x.RequestBody, x.RequestBodyB64 = textOrBase64(bodies.Request)
		x.ResponseBody, x.ResponseBodyB64 = textOrBase64(bodies.Response)
		x.RequestShredded, x.RequestUnavailable = bodies.RequestShredded, bodies.RequestUnavailable
	}
	return x
}

// Reasons given in ExportedEntry.QueryWithheld.
const (
	QueryNotDecrypted = "query withheld; pass --identity to decrypt it"
	QueryShredded     = "query destroyed by retention"
	// QueryKeyDestroyed is the reason for an entry older than version 3,
	// which stores its query in clear text but can no longer be decrypted.
	QueryKeyDestroyed = "query withheld; retention destroyed this entry's key, so --identity cannot show it"
)

// ExportTarget returns the request-target to export and, when its query
// string is left out, the reason. The query is shown only with decrypted
// bodies, also for entries older than version 3 that store it in clear
// text, so that an export without a key never carries it.
func ExportTarget(row *Row, bodies *Bodies) (target, withheld string) {
	l := &row.Leaf
	switch {
	case !l.HasQuery():
		return l.Entry.Target, ""
	case bodies != nil:
		return bodies.Target, ""
	case row.WrappedKey == nil && len(l.QueryCiphertext) > 0:
		return l.Entry.Target, QueryShredded
	case !row.Shredded.IsZero():
		return pathOnly(l.Entry.Target), QueryKeyDestroyed
	}
	return pathOnly(l.Entry.Target), QueryNotDecrypted
}

func textOrBase64(b []byte) (text, b64 string) {
	if utf8.Valid(b) {
		return string(b), ""
	}
	return "", base64.StdEncoding.EncodeToString(b)
}

func formatTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339Nano)
}

// pathOnly drops the query string, which carries PHI in FHIR searches,
// from a target of an entry older than version 3, which stores it in
// clear text. A version 3 target is already the path only.
func pathOnly(target string) string {
	path, _, _ := strings.Cut(target, "?")
	return path
}

// CEF formats row as one ArcSight Common Event Format line. The request
// query string is left out (see pathOnly).
func CEF(row *Row) string {
	e := &row.Leaf.Entry
	severity := 3
	name := "FHIR exchange allowed"
	if e.Decision != record.Allow {
		severity, name = 6, "FHIR exchange refused"
	}
	sigID := "gatehouse." + string(e.Phase) + "." + string(e.Decision)
	ext := []string{
		"rt=" + strconv.FormatInt(e.RecordedAt.UnixMilli(), 10),
		"act=" + cefValue(string(e.Decision)),
		"requestMethod=" + cefValue(e.Method),
		"request=" + cefValue(pathOnly(e.Target)),
		"outcome=" + strconv.Itoa(e.Status),
		"suser=" + cefValue(e.Partner),
		"cs1Label=exchangeId", "cs1=" + cefValue(e.ExchangeID),
		"cs2Label=interaction", "cs2=" + cefValue(e.Interaction),
		"cs3Label=rule", "cs3=" + cefValue(e.Rule),
		"cs4Label=direction", "cs4=" + cefValue(e.Direction),
		"cn1Label=auditIndex", "cn1=" + strconv.FormatInt(row.Leaf.Index, 10),
		"reason=" + cefValue(e.Reason),
	}
	if host, _, err := net.SplitHostPort(e.Source); err == nil {
		ext = append(ext, "src="+cefValue(host))
	}
	return fmt.Sprintf("CEF:0|Gatehouse Health|Gatehouse|1|%s|%s|%d|%s",
		cefHeader(sigID), cefHeader(name), severity, strings.Join(ext, " "))
}

var (
	cefHeaderEscaper = strings.NewReplacer(`\`, `\\`, `|`, `\|`, "\n", " ", "\r", " ")
	cefValueEscaper  = strings.NewReplacer(`\`, `\\`, `=`, `\=`, "\n", `\n`, "\r", `\r`)
)

func cefHeader(s string) string { return cefHeaderEscaper.Replace(s) }
func cefValue(s string) string  { return cefValueEscaper.Replace(s) }

// MarshalAuditEvent returns row as a FHIR R4 AuditEvent in the shape of
// the IHE Basic Audit Log Patterns (BALP), a RESTful event. The partner is
// the client (DICOM Source Role ID) and Gatehouse the server (Destination
// Role ID). The token id is the client's policy, and the exchange id the
// transaction entity. observer names this Gatehouse, for example by the
// log origin. The query string is left out (see pathOnly).
func MarshalAuditEvent(row *Row, observer string) ([]byte, error) {
	return json.Marshal(auditEvent(row, observer))
}
