// Package weights holds the names and default score contributions of
// lib/scan's checks and rules. It imports nothing, so lib/config can check
// the names in [scan.weights] when the configuration is loaded without
// importing the scanner.
package weights

import (
	"maps"
	"slices"
)

// Default are the score contributions of the checks and rules, by name;
// the config's [scan.weights] overrides them. Read only.
var Default = map[string]float64{
	"spf_fail":           3,
	"spf_softfail":       1,
	"spf_permerror":      0.5,
	"spf_pass":           -0.5,
	"spf_helo_fail":      1,
	"dkim_fail":          1,
	"dkim_pass":          -0.5,
	"dmarc_fail":         3,
	"dmarc_pass":         -1,
	"missing_date":       1,
	"missing_message_id": 1,
	"forged_local":       4,
	"html_only":          1,
	"many_urls":          1.5, // more than 10 URLs
	"caps_subject":       1,
	"missing_from":       2,
	"gtube":              1000,
	// bayes scales the classifier's verdict: a spam probability of 0.99
	// adds 0.98 of it (the default spam score's worth), see bayesScore.
	"bayes": 5,
}

// Known reports whether name is a check or rule that has a weight.
func Known(name string) bool {
	_, ok := Default[name]
	return ok
}

// Names lists every name, sorted.
func Names() []string { return slices.Sorted(maps.Keys(Default)) }
