package app

import (
	"fmt"
	"log/slog"

	"github.com/gatehouse-health/gatehouse/internal/config"
)

// warnRelaxedStrict logs one warning at start-up for each setting that
// lets bodies through without FHIR profile validation: strict.mode off,
// strict.skip, strict.unknown_profiles warn, and a partner's strict: false,
// strict_skip or strict_unknown_profiles warn. The warnings name the key
// and the partner and count the skipped interactions. They do not list
// them, so the log shows which setting to review without repeating the
// configuration.
func warnRelaxedStrict(cfg *config.File, log *slog.Logger) {
	if cfg.Strict.Mode == "off" {
		log.Warn("strict mode is off for every partner: request and response bodies are not validated against their FHIR profiles; set strict.mode to enforce",
			"key", "strict.mode")
	}
	if cfg.Strict.UnknownProfiles == "warn" {
		log.Warn("bodies that declare a FHIR profile Gatehouse has not loaded are forwarded without being checked against it; set strict.unknown_profiles to reject",
			"key", "strict.unknown_profiles")
	}
	if n := len(cfg.Strict.Skip); n > 0 {
		log.Warn("some interactions are exempt from strict mode for every partner; remove the strict.skip entries once the payloads conform",
			"key", "strict.skip", "entries", n)
	}
	for i, p := range cfg.Partners {
		if p.Strict != nil && !*p.Strict {
			log.Warn("strict mode is off for a partner: its bodies are not validated against their FHIR profiles; remove the strict: false setting once its payloads conform",
				"key", fmt.Sprintf("partners[%d].strict", i), "partner", p.ID)
		}
		if n := len(p.StrictSkip); n > 0 {
			log.Warn("some interactions of a partner are exempt from strict mode; remove the strict_skip entries once its payloads conform",
				"key", fmt.Sprintf("partners[%d].strict_skip", i), "partner", p.ID, "entries", n)
		}
		if p.StrictUnknownProfiles == "warn" {
			log.Warn("a partner's bodies that declare a FHIR profile Gatehouse has not loaded are forwarded without being checked against it. Set its strict_unknown_profiles to reject to block them",
				"key", fmt.Sprintf("partners[%d].strict_unknown_profiles", i), "partner", p.ID)
		}
	}
}
