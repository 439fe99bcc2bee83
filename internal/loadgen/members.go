package loadgen

import "github.com/gatehouse-health/gatehouse/internal/members"

// MemberSeeds returns one filled request per distinct patient of reqs,
// for a built-in payer to store as members (members.Store.AddRequestPatient),
// so that it adjudicates the load instead of rejecting every patient as
// unknown. skipped counts the requests whose patient cannot be a member
// (no identifier, family name or birth date); the payer rejects those.
func MemberSeeds(reqs []*Template) (seed [][]byte, skipped int) {
	seen := map[string]bool{}
	for _, t := range reqs {
		body := t.Fill(nil, "load-members-bundle", "load-members-claim")
		m, _, err := members.RequestMember(body)
		if err != nil {
			skipped++
			continue
		}
		if !seen[m.ID] {
			seen[m.ID] = true
			seed = append(seed, body)
		}
	}
	return seed, skipped
}
