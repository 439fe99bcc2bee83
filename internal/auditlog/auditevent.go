package auditlog

import (
	"net"
	"strconv"
	"strings"

	"github.com/gatehouse-health/gatehouse/internal/record"
)

// Code systems used by the BALP AuditEvent shape.
const (
	systemEventType   = "http://terminology.hl7.org/CodeSystem/audit-event-type"
	systemInteraction = "http://hl7.org/fhir/restful-interaction"
	systemDICOM       = "http://dicom.nema.org/resources/ontology/DCM"
	systemSourceType  = "http://terminology.hl7.org/CodeSystem/security-source-type"
	systemBALPEntity  = "https://profiles.ihe.net/ITI/BALP/CodeSystem/BasicAuditEntityType"
	systemAuditIndex  = "urn:gatehouse:audit-log-index"
	balpProfileBase   = "https://profiles.ihe.net/ITI/BALP/StructureDefinition/IHE.BasicAudit."
)

type coding struct {
	System  string `json:"system,omitempty"`
	Code    string `json:"code"`
	Display string `json:"display,omitempty"`
}

type concept struct {
	Coding []coding `json:"coding"`
}

type identifier struct {
	System string `json:"system,omitempty"`
	Value  string `json:"value"`
}

type reference struct {
	Identifier *identifier `json:"identifier,omitempty"`
	Display    string      `json:"display,omitempty"`
}

type network struct {
	Address string `json:"address"`
	Type    string `json:"type"`
}

type agent struct {
	Type      concept    `json:"type"`
	Who       *reference `json:"who,omitempty"`
	Requestor bool       `json:"requestor"`
	Policy    []string   `json:"policy,omitempty"`
	Network   *network   `json:"network,omitempty"`
}

type entity struct {
	What *reference `json:"what,omitempty"`
	Type *coding    `json:"type,omitempty"`
}

type auditEventJSON struct {
	ResourceType string `json:"resourceType"`
	Meta         *struct {
		Profile []string `json:"profile"`
	} `json:"meta,omitempty"`
	Type        coding   `json:"type"`
	Subtype     []coding `json:"subtype,omitempty"`
	Action      string   `json:"action"`
	Recorded    string   `json:"recorded"`
	Outcome     string   `json:"outcome"`
	OutcomeDesc string   `json:"outcomeDesc,omitempty"`
	Agent       []agent  `json:"agent"`
	Source      struct {
		Observer reference `json:"observer"`
		Type     []coding  `json:"type"`
	} `json:"source"`
	Entity []entity `json:"entity"`
}

func auditEvent(row *Row, observer string) *auditEventJSON {
	e := &row.Leaf.Entry
	interaction, action, profile := restfulInteraction(e, row.Leaf.HasQuery())
	ev := &auditEventJSON{
		ResourceType: "AuditEvent",
		Type:         coding{System: systemEventType, Code: "rest", Display: "Restful Operation"},
		Subtype:      []coding{{System: systemInteraction, Code: interaction}},
		Action:       action,
		Recorded:     formatTime(e.RecordedAt),
		Outcome:      outcomeCode(e),
		OutcomeDesc:  e.Reason,
	}
	if profile != "" && e.Decision == record.Allow && e.Status < 400 {
		ev.Meta = &struct {
			Profile []string `json:"profile"`
		}{[]string{balpProfileBase + profile}}
	}
	ev.Agent = []agent{clientAgent(e), serverAgent(e, observer)}
	ev.Source.Observer = reference{Display: observer}
	ev.Source.Type = []coding{{System: systemSourceType, Code: "4", Display: "Application Server"}}
	ev.Entity = []entity{
		{What: &reference{Identifier: &identifier{Value: e.ExchangeID}}, Type: &coding{System: systemBALPEntity, Code: "XrequestId"}},
		{What: &reference{Identifier: &identifier{System: systemAuditIndex, Value: strconv.FormatInt(row.Leaf.Index, 10)}}},
	}
	return ev
}

// clientAgent is the partner: the DICOM Source Role ID, the requestor.
func clientAgent(e *record.Entry) agent {
	a := agent{
		Type:      concept{[]coding{{System: systemDICOM, Code: "110153", Display: "Source Role ID"}}},
		Who:       &reference{Identifier: &identifier{Value: e.Partner}, Display: e.Partner},
		Requestor: e.Direction != "outbound",
	}
	if e.TokenID != "" {
		a.Policy = []string{e.TokenID}
	}
	if host, _, err := net.SplitHostPort(e.Source); err == nil {
		a.Network = &network{Address: host, Type: "2"} // 2: IP address
	}
	return a
}

// serverAgent is the receiving side: the DICOM Destination Role ID.
func serverAgent(e *record.Entry, observer string) agent {
	return agent{
		Type:      concept{[]coding{{System: systemDICOM, Code: "110152", Display: "Destination Role ID"}}},
		Who:       &reference{Display: observer},
		Requestor: e.Direction == "outbound",
		Network:   &network{Address: pathOnly(e.Target), Type: "5"}, // 5: URI
	}
}

// restfulInteraction maps the method and target to the FHIR restful
// interaction code, the AuditEvent action and the BALP profile name.
// hasQuery reports whether the target had a query string, which a version
// 3 entry keeps apart from the target.
func restfulInteraction(e *record.Entry, hasQuery bool) (code, action, profile string) {
	path := pathOnly(e.Target)
	last := path[strings.LastIndexByte(path, '/')+1:]
	switch {
	case strings.HasPrefix(last, "$"):
		return "operation", "E", ""
	case e.Method == "POST":
		return "create", "C", "Create"
	case e.Method == "PUT":
		return "update", "U", "Update"
	case e.Method == "DELETE":
		return "delete", "D", "Delete"
	case e.Method == "GET" && hasQuery:
		return "search-type", "E", "Query"
	case e.Method == "GET" && strings.Count(strings.Trim(path, "/"), "/") >= 2:
		return "read", "R", "Read"
	}
	return "search-type", "E", "Query"
}

// outcomeCode maps the released status to the AuditEvent outcome: 0
// success, 4 minor failure (refused or 4xx), 8 serious failure (5xx).
func outcomeCode(e *record.Entry) string {
	switch {
	case e.Status >= 500:
		return "8"
	case e.Status >= 400 || e.Decision == record.Deny:
		return "4"
	}
	return "0"
}
