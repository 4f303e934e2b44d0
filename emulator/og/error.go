package og

import (
	"errors"
	"fmt"
)

// Error codes. Each surface maps them once into its own wire shape (the purchase POST's
// errors object, REST's {"detail": ...}, SFTP status codes); any other error is internal.
const (
	EINVALID      = "invalid"      // the request breaks a rule: 400
	EUNAUTHORIZED = "unauthorized" // authentication failed: 401 (purchase POST), 403 (REST)
	ECONFLICT     = "conflict"     // already received and processed: 409 (P6)
	ENOTFOUND     = "not_found"    // no such object for this merchant: 404
	ELOCKED       = "locked"       // the object cannot change now: 423 (REST)
	ETOOLARGE     = "too_large"    // a body or file over its bound: 413
	ETIMEOUT      = "timeout"      // a request body that stopped arriving: 408
	EINTERNAL     = "internal"     // a bug or an I/O failure: logged in full, shown generically
)

// Error is a refusal the sandbox explains: a code, the SPEC rule broken, the field at fault
// and a message saying what was expected. Diagnostics holds further findings when a request
// broke several rules at once; the first diagnostic repeats Rule/Field/Message.
type Error struct {
	Code        string
	Rule        string
	Field       string
	Message     string
	Diagnostics []Diagnostic
	// Wire is staging's own text for the answer's error fields, where Message (which the
	// diagnostics carry) explains more than staging says.
	Wire string
}

// Error implements the error interface.
func (e *Error) Error() string {
	var s string
	if e.Rule != "" {
		s = e.Rule + ": "
	}
	if e.Field != "" {
		s += e.Field + ": "
	}
	return s + e.Message
}

// AllDiagnostics returns the error's findings, its own first.
func (e *Error) AllDiagnostics() []Diagnostic {
	own := Diagnostic{Rule: e.Rule, Field: e.Field, Message: e.Message, Severity: SeverityError}
	for _, d := range e.Diagnostics {
		if d.Rule == own.Rule && d.Field == own.Field && d.Message == own.Message {
			return e.Diagnostics
		}
	}
	return append([]Diagnostic{own}, e.Diagnostics...)
}

// Errorf returns an *Error with the given code, rule and field.
func Errorf(code, rule, field, format string, args ...any) *Error {
	return &Error{Code: code, Rule: rule, Field: field, Message: fmt.Sprintf(format, args...)}
}

// Invalid returns an EINVALID error carrying every error diagnostic of diags. The first
// error diagnostic becomes the error's own rule, field and message.
func Invalid(diags []Diagnostic) *Error {
	e := &Error{Code: EINVALID, Diagnostics: diags}
	for _, d := range diags {
		if d.Severity != SeverityWarning {
			e.Rule, e.Field, e.Message = d.Rule, d.Field, d.Message
			break
		}
	}
	return e
}

// ErrorCode returns the code of err if it is (or wraps) an *Error, EINTERNAL otherwise,
// and "" for nil.
func ErrorCode(err error) string {
	var e *Error
	switch {
	case err == nil:
		return ""
	case errors.As(err, &e):
		return e.Code
	default:
		return EINTERNAL
	}
}

// ErrorMessage returns the message of an *Error, and a generic one for any other error:
// internal details are logged, never shown.
func ErrorMessage(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Message
	}
	return "Internal error."
}

// AsError returns err as an *Error, or nil if it is not one.
func AsError(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return nil
}
