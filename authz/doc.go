// Package authz decides whether a call may happen, and records every
// decision.
//
// An [Authorizer] answers [Input] — who calls whom, for which capability
// (action) and A2A operation — with a [Decision]. Providers: embedded OPA
// and remote OPA (package authz/opa) and, in development only, [AllowAll].
// Any error means deny: enforcement points turn an error or a denial into a
// *[DenyError] wrapping [ErrDenied].
//
// Every decision, allowed or denied, is written to the audit trail
// (package authz/audit) as one hash-chained JSON line.
package authz
