package policy

// Shadow evaluates a candidate policy beside the enforced one. Only the
// enforced decision acts. The candidate's decision is returned too, so that
// the gateway can count and record disagreements before the candidate is
// promoted.
type Shadow struct {
	Enforced  Decider
	Candidate Decider
}

// ShadowResult contains both decisions of one request.
type ShadowResult struct {
	// Decision is the enforced decision, the only one that acts.
	Decision Decision
	// Candidate is the candidate's decision, for the record only.
	Candidate Decision
	// Disagree is true when the two differ in outcome or status. A
	// different rule id with the same outcome and status is not a
	// disagreement.
	Disagree bool
}

// Decide runs both policies. With no candidate it returns the enforced
// decision alone.
func (s Shadow) Decide(in Input) ShadowResult {
	res := ShadowResult{Decision: s.Enforced.Decide(in)}
	if s.Candidate == nil {
		res.Candidate = res.Decision
		return res
	}
	res.Candidate = s.Candidate.Decide(in)
	res.Disagree = res.Candidate.Allow != res.Decision.Allow || res.Candidate.Status != res.Decision.Status
	return res
}

// WithPartners returns a Decider that runs d with each request's partner
// replaced by the registration of the same id in partners, so that a
// candidate policy can carry its own roles and grants. A partner missing
// from partners is decided with no registration, which denies.
func WithPartners(d Decider, partners map[string]*Partner) Decider {
	return partnerSwap{d: d, partners: partners}
}

type partnerSwap struct {
	d        Decider
	partners map[string]*Partner
}

func (p partnerSwap) Decide(in Input) Decision {
	if in.Partner != nil {
		in.Partner = p.partners[in.Partner.ID]
	}
	return p.d.Decide(in)
}
