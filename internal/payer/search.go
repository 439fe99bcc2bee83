package payer

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"

	"github.com/gatehouse-health/gatehouse/internal/outcome"
)

// Search result page sizes.
const (
	defaultSearchCount = 50
	maxSearchCount     = 200
)

// searchQuery is a parsed ClaimResponse search, compiled to SQL.
type searchQuery struct {
	where  []string
	args   []any
	count  int
	offset int
	// params are the search parameters without _count and _offset, from
	// which the paging links are built.
	params url.Values
}

func (q *searchQuery) arg(v any) string {
	q.args = append(q.args, v)
	return "$" + strconv.Itoa(len(q.args))
}

// handleSearch serves GET /ClaimResponse, the claim status search over
// the current ClaimResponse of each of the partner's prior
// authorizations. Parameters:
//
//	identifier=[system|]value   a Claim identifier of the authorization
//	patient=reference           ClaimResponse.patient.reference as submitted
//	created=[prefix]date        eq, ne, lt, le, gt, ge, sa, eb; repeatable
//	_count=n                    page size, at most 200 (default 50)
//	_offset=n                   matches skipped, for the paging links
//
// Any other parameter gets 400. Results are newest first. The Bundle's
// links (self, first, previous, next, last) repeat the parameters with
// _count and _offset, on the address the request was sent to.
//
// NOTE: offset paging reads the matches again for each page, so an
// authorization decided between two page requests can move to another
// page, be skipped or appear twice.
func (s *Service) handleSearch(w http.ResponseWriter, r *http.Request) {
	q, err := parseSearch(r.URL.Query(), r.Header.Get(PartnerHeader))
	if err != nil {
		fail(w, http.StatusBadRequest, outcome.CodeInvalid, err.Error())
		return
	}
	found, total, err := s.search(r.Context(), q)
	if err != nil {
		s.log.Error("payer: ClaimResponse search failed", "error", err)
		fail(w, http.StatusInternalServerError, outcome.CodeException, "the search failed; retry later")
		return
	}
	writeFHIR(w, s.searchset(found, total, q.links(searchBase(r), total)))
}

// searchBase returns the URL of the search endpoint as the request
// addressed it. The gateway forwards a page request only to a link on
// its upstream base, so the links name the service, not the public base.
func searchBase(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host + r.URL.EscapedPath()
}

func parseSearch(params url.Values, partner string) (*searchQuery, error) {
	q := &searchQuery{count: defaultSearchCount, params: url.Values{}}
	q.where = append(q.where, "a.partner = "+q.arg(partner))
	for name, values := range params {
		for _, v := range values {
			if err := q.add(name, v); err != nil {
				return nil, err
			}
		}
	}
	return q, nil
}

func (q *searchQuery) add(name, v string) error {
	switch name {
	case "identifier":
		system, value, hasSystem := strings.Cut(v, "|")
		if !hasSystem {
			system, value = "", v
		}
		if value == "" {
			return errors.New("payer: identifier needs a value: use identifier=system|value")
		}
		cond := "k.claim_value = " + q.arg(value)
		if hasSystem {
			cond += " AND k.claim_system = " + q.arg(system)
		}
		q.where = append(q.where, "EXISTS (SELECT 1 FROM payer_partner_claim_keys k WHERE k.pre_auth_ref = a.pre_auth_ref AND "+cond+")")
	case "patient":
		if v == "" {
			return errors.New("payer: patient needs a reference, such as patient=Patient/123")
		}
		q.where = append(q.where, "r.patient_ref = "+q.arg(v))
	case "created":
		cond, err := q.createdCondition(v)
		if err != nil {
			return err
		}
		q.where = append(q.where, cond)
	case "_count":
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return errors.New("payer: _count must be a non-negative integer")
		}
		q.count = min(n, maxSearchCount)
		return nil
	case "_offset":
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return errors.New("payer: _offset must be a non-negative integer")
		}
		q.offset = n
		return nil
	default:
		return errors.New("payer: unsupported search parameter; use identifier, patient, created or _count")
	}
	q.params.Add(name, v)
	return nil
}

// links returns the paging links of a search with total matches: self,
// first, previous and next where they exist, and last.
func (q *searchQuery) links(base string, total int) []searchLink {
	at := func(relation string, offset int) searchLink {
		v := url.Values{}
		for name, values := range q.params {
			v[name] = values
		}
		v.Set("_count", strconv.Itoa(q.count))
		v.Set("_offset", strconv.Itoa(offset))
		return searchLink{Relation: relation, URL: base + "?" + v.Encode()}
	}
	links := []searchLink{at("self", q.offset), at("first", 0)}
	if q.count == 0 {
		return links
	}
	if q.offset > 0 {
		links = append(links, at("previous", max(q.offset-q.count, 0)))
	}
	if q.offset+q.count < total {
		links = append(links, at("next", q.offset+q.count))
	}
	last := 0
	if total > 0 {
		last = (total - 1) / q.count * q.count
	}
	return append(links, at("last", last))
}

// createdCondition compiles one created=[prefix]value parameter. The
// value's precision makes it a range [lo, hi); the prefix compares
// ClaimResponse.created against it as FHIR date search defines.
func (q *searchQuery) createdCondition(v string) (string, error) {
	prefix := "eq"
	if len(v) > 2 && v[0] >= 'a' && v[0] <= 'z' {
		prefix, v = v[:2], v[2:]
	}
	lo, hi, err := dateRange(v)
	if err != nil {
		return "", err
	}
	// Each bound becomes a placeholder only where it is used: PostgreSQL
	// rejects a statement with a parameter it cannot give a type.
	l := func() string { return q.arg(searchInstant(lo)) }
	h := func() string { return q.arg(searchInstant(hi)) }
	switch prefix {
	case "eq":
		return "(r.created >= " + l() + " AND r.created < " + h() + ")", nil
	case "ne":
		return "(r.created < " + l() + " OR r.created >= " + h() + ")", nil
	case "lt", "eb":
		return "r.created < " + l(), nil
	case "le":
		return "r.created < " + h(), nil
	case "gt", "sa":
		return "r.created >= " + h(), nil
	case "ge":
		return "r.created >= " + l(), nil
	}
	return "", errors.New("payer: created has an unknown prefix; use eq, ne, lt, le, gt, ge, sa or eb")
}

// dateRange returns the instants a FHIR date or dateTime search value
// covers. A value without a time zone is taken as UTC.
// NOTE: FHIR leaves the zone of such values to the server; a partner in
// another zone gets day boundaries shifted.
func dateRange(v string) (lo, hi time.Time, err error) {
	layouts := []struct {
		layout string
		next   func(time.Time) time.Time
	}{
		{"2006", func(t time.Time) time.Time { return t.AddDate(1, 0, 0) }},
		{"2006-01", func(t time.Time) time.Time { return t.AddDate(0, 1, 0) }},
		{"2006-01-02", func(t time.Time) time.Time { return t.AddDate(0, 0, 1) }},
		{time.RFC3339Nano, func(t time.Time) time.Time { return t.Truncate(time.Second).Add(time.Second) }},
	}
	for _, l := range layouts {
		if t, err := time.Parse(l.layout, v); err == nil {
			return t.Truncate(time.Second), l.next(t), nil
		}
	}
	return lo, hi, errors.New("payer: created must be a FHIR date or dateTime with time zone, such as 2026-03-01 or ge2026-03-01T09:00:00Z")
}

// foundResponse is one search hit.
type foundResponse struct {
	id       string
	response []byte
}

// search returns one page of matches and the number of all matches.
func (s *Service) search(ctx context.Context, q *searchQuery) ([]foundResponse, int, error) {
	where := strings.Join(q.where, " AND ")
	var total int
	if err := s.store.db.QueryRowContext(ctx, sqlCountCurrent+where, q.args...).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("payer: search count: %w", err)
	}
	args := append([]any(nil), q.args...)
	page := &searchQuery{args: args}
	query := sqlSearchCurrent + where + " ORDER BY r.created DESC, r.id LIMIT " + page.arg(q.count) + " OFFSET " + page.arg(q.offset)
	found, err := s.readFound(ctx, query, page.args)
	return found, total, err
}

func (s *Service) readFound(ctx context.Context, query string, args []any) ([]foundResponse, error) {
	rows, err := s.store.db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("payer: search: %w", err)
	}
	defer rows.Close()
	var out []foundResponse
	for rows.Next() {
		var f foundResponse
		var resp string
		if err := rows.Scan(&f.id, &resp); err != nil {
			return nil, fmt.Errorf("payer: search: %w", err)
		}
		f.response = []byte(resp)
		out = append(out, f)
	}
	return out, rows.Err()
}

type searchBundle struct {
	ResourceType string        `json:"resourceType"`
	Type         string        `json:"type"`
	Total        int           `json:"total"`
	Link         []searchLink  `json:"link,omitzero"`
	Entry        []searchEntry `json:"entry,omitzero"`
}

type searchLink struct {
	Relation string `json:"relation"`
	URL      string `json:"url"`
}

type searchEntry struct {
	FullURL  string         `json:"fullUrl"`
	Resource jsontext.Value `json:"resource"`
	Search   struct {
		Mode string `json:"mode"`
	} `json:"search"`
}

// searchset builds the result Bundle of one page. total is the number of
// matches on all pages.
func (s *Service) searchset(found []foundResponse, total int, links []searchLink) []byte {
	b := searchBundle{ResourceType: "Bundle", Type: "searchset", Total: total, Link: links}
	for _, f := range found {
		cr, err := claimResponseOf(f.response)
		if err != nil {
			s.log.Error("payer: stored response unreadable", "error", err)
			continue
		}
		e := searchEntry{FullURL: s.resourceURL("ClaimResponse", f.id), Resource: cr}
		e.Search.Mode = "match"
		b.Entry = append(b.Entry, e)
	}
	out, err := json.Marshal(b)
	if err != nil {
		panic("payer: encode searchset: " + err.Error()) // raw JSON values already checked
	}
	return out
}

// handleRead serves GET /ClaimResponse/{id}: any version of the partner's
// ClaimResponses, or 404.
func (s *Service) handleRead(w http.ResponseWriter, r *http.Request, id string) {
	if r.Method != http.MethodGet {
		w.Header().Set("Allow", http.MethodGet)
		fail(w, http.StatusMethodNotAllowed, outcome.CodeNotSupported, "use GET for this endpoint")
		return
	}
	var resp, partner string
	err := s.store.db.QueryRowContext(r.Context(), sqlReadResponse, id).Scan(&resp, &partner)
	if errors.Is(err, sql.ErrNoRows) || (err == nil && partner != r.Header.Get(PartnerHeader)) {
		fail(w, http.StatusNotFound, outcome.CodeNotFound, "no ClaimResponse with this id")
		return
	}
	var cr []byte
	if err == nil {
		cr, err = claimResponseOf([]byte(resp))
	}
	if err != nil {
		s.log.Error("payer: ClaimResponse read failed", "error", err)
		fail(w, http.StatusInternalServerError, outcome.CodeException, "the read failed; retry later")
		return
	}
	writeFHIR(w, cr)
}

// claimResponseOf returns the first entry resource of a stored response.
func claimResponseOf(stored []byte) (jsontext.Value, error) {
	var b struct {
		Entry []struct {
			Resource jsontext.Value `json:"resource"`
		} `json:"entry"`
	}
	if err := json.Unmarshal(stored, &b); err != nil || len(b.Entry) == 0 {
		return nil, errors.New("payer: stored response has no ClaimResponse")
	}
	return b.Entry[0].Resource, nil
}

func (s *Service) resourceURL(resourceType, id string) string {
	if s.fhirBase == "" {
		return resourceType + "/" + id
	}
	return s.fhirBase + "/" + resourceType + "/" + id
}
