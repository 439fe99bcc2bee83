package app

import (
	"github.com/gatehouse-health/gatehouse/internal/config"
	"github.com/gatehouse-health/gatehouse/internal/gateway"
	"github.com/gatehouse-health/gatehouse/internal/strict"
)

// strictCheckers builds the strict mode checkers, one for each
// unknown-profile action (reject or warn) that some partner uses. The
// action is fixed when a checker loads the FHIR packages, and loading
// them takes time and memory, so a checker is built only when needed.
type strictCheckers struct {
	pasVersions []string
	// byWarn maps Options.WarnUnknownProfiles to its checker.
	byWarn map[bool]*strict.Checker
}

func newStrictCheckers(cfg *config.File) *strictCheckers {
	return &strictCheckers{pasVersions: cfg.Strict.PASVersions, byWarn: map[bool]*strict.Checker{}}
}

// get returns the checker that warns on unknown profiles when warn is
// set and rejects them otherwise, building it on first use.
func (s *strictCheckers) get(warn bool) (*strict.Checker, error) {
	if c, ok := s.byWarn[warn]; ok {
		return c, nil
	}
	c, err := strict.NewWithOptions(strict.Options{PASVersions: s.pasVersions, WarnUnknownProfiles: warn})
	if err != nil {
		return nil, err
	}
	s.byWarn[warn] = c
	return c, nil
}

// forPartner returns the checker for partner p when its
// strict_unknown_profiles differs from strict.unknown_profiles, and nil
// when the gateway's shared checker applies.
func (s *strictCheckers) forPartner(cfg *config.File, p config.Partner) (gateway.StrictChecker, error) {
	warn := cfg.WarnUnknownProfiles(p)
	if warn == (cfg.Strict.UnknownProfiles == "warn") {
		return nil, nil
	}
	return s.get(warn)
}
