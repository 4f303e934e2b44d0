// Package og is the domain of the sandbox: the Ordergroove objects every surface shares
// (merchants, customers, subscriptions, products, orders, attempts, emails, journal entries),
// the service interfaces the storage implements, the Error type that carries a SPEC rule id,
// and the Clock every scheduled behaviour runs on.
//
// It imports only the standard library. The surfaces (emulator/sc, emulator/api,
// emulator/sftpd, emulator/scheduler, emulator/control) speak to one another only through
// the types declared here; cmd/ogsandbox and emulator/sandbox wire the concrete types.
//
// Rule ids in comments and diagnostics (A3, P6, O6d, ...) are those of ../shared/SPEC.md.
package og

import (
	"fmt"
	"time"
)

// Clock is the sandbox clock. Everything Ordergroove does on a schedule (placement runs,
// reminders, price lock, feed cadence) reads time from it, never from time.Now.
//
// Wall is real time, used only where the other side of an exchange uses a real clock:
// signature freshness (A3) is judged on wall time, because merchants sign with theirs.
type Clock interface {
	Now() time.Time
	Wall() time.Time
}

// Surface names, as recorded in the journal and accepted by its surface filter.
const (
	SurfaceSC        = "sc"        // purchase POST (P)
	SurfaceAPI       = "api"       // REST and legacy APIs (S, B)
	SurfaceStatic    = "static"    // msi.js, auth.js (U)
	SurfaceSFTP      = "sftp"      // SFTP drop site file events (F, O2 batch)
	SurfacePlacement = "placement" // order XML POSTed to the merchant (O2)
	SurfaceControl   = "control"   // the sandbox's own /_sandbox/ API
	SurfaceHTTP      = "http"      // a request no surface claimed (unknown path)
)

// Surfaces lists every surface name, for validation of filters.
var Surfaces = []string{SurfaceSC, SurfaceAPI, SurfaceStatic, SurfaceSFTP, SurfacePlacement, SurfaceControl, SurfaceHTTP}

// Diagnostic explains one finding: the SPEC rule it concerns, the request field at fault
// and, in plain words, what was expected. Severity is "error" unless the finding is only a
// warning (a request accepted in a form staging tolerates, such as cc_exp_date M/YYYY).
type Diagnostic struct {
	Rule     string `json:"rule"`
	Field    string `json:"field,omitempty"`
	Message  string `json:"message"`
	Severity string `json:"severity,omitempty"`
	Line     int    `json:"line,omitempty"` // for files (feeds): the line of the finding
}

// Severity values of a Diagnostic.
const (
	SeverityError   = "error"
	SeverityWarning = "warning"
)

// Warning returns a warning diagnostic.
func Warning(rule, field, msg string) Diagnostic {
	return Diagnostic{Rule: rule, Field: field, Message: msg, Severity: SeverityWarning}
}

// Finding returns an error diagnostic.
func Finding(rule, field, msg string) Diagnostic {
	return Diagnostic{Rule: rule, Field: field, Message: msg, Severity: SeverityError}
}

// Clip cuts a value a client or merchant sent to what a diagnostic shows of it: its first 120
// bytes, and how long it was.
func Clip(s string) string {
	const max = 120
	if len(s) <= max {
		return s
	}
	return fmt.Sprintf("%s… (%d bytes)", s[:max], len(s))
}

// Rules returns the distinct rule ids of the error diagnostics, in order of first appearance.
func Rules(diags []Diagnostic) []string {
	var out []string
	seen := map[string]bool{}
	for _, d := range diags {
		if d.Severity == SeverityWarning || d.Rule == "" || seen[d.Rule] {
			continue
		}
		seen[d.Rule] = true
		out = append(out, d.Rule)
	}
	return out
}
