// Package admin is the administration service behind the dashboard: a JSON
// API under /api/v1 served by echo, with JWT bearer tokens and two roles.
//
// # Layout
//
//   - service.go: Options, New, the Service and its operations (the logic:
//     validation, role checks beyond the route's, audit rows).
//   - auth.go: login, tokens, sessions.
//   - api.go: Register, the route table and thin echo handlers.
//   - errors.go: the JSON error type and the one error handler of the group.
//   - openapi.json: the OpenAPI 3 document served at /api/v1/openapi.json; a
//     test compares it with the registered routes in both directions.
//   - stats.go: GET /stats, the protocol traces of a device and its likely
//     successors and predecessors (devices.Registry.Successors).
//
// # Lists
//
// The device, user and audit lists filter, sort, window and count in the
// database (store.QueryDevices, QueryUsers, QueryAudit); "total" is every
// match, "items" the page. Each list accepts only its documented query
// parameters, each once: a misspelt filter gets 400 instead of silently
// listing everything.
//
// # Statistics
//
// GET /stats counts devices in the database and EAS requests in memory: an
// hourly.Counter that the wiring (internal/app) feeds with CountRequest from
// eas.Options.Observe. The request counts are per process since its start
// (Options.Started); with several processes each shows its own.
//
// # Sessions
//
// Tokens are HS256 JWTs signed with Options.SigningKey (Options.PreviousKeys
// still verify, so the key can be rotated without logging everybody out).
// A token carries the account name, its role at login and auth_time, the
// login instant. It expires at min(last activity + inactivity timeout,
// auth_time + 8 h): every authenticated response carries a refreshed token
// in the X-Refreshed-Token header (and its expiry in
// X-Refreshed-Token-Expires), which the client uses from then on. So a
// session dies after the inactivity timeout without a request, and 8 h after
// login whatever happens. There is no server-side session table: a token
// that was handed out stays valid until its own expiry (at most the
// inactivity timeout). What a token may do is decided on every request from
// the account as stored now: a removed account gets 401 and a changed role
// applies at once.
//
// # Roles
//
// store.RoleAdmin may do everything. store.RoleHelpdesk may read users and
// devices, approve (allow) or block devices that are quarantined, and
// request and cancel wipes; nothing else. A helpdesk token on an admin-only
// endpoint gets 403 and an "api.forbidden" audit row.
//
// # Audit
//
// Every change made through the API appends an audit row with the account,
// the action, the target and the client address. Changes to users and
// policies are audited here ("user.create", "policy.update", ...). Device
// and rule changes are audited by the devices registry itself, as they are
// when made from the CLI ("device.blocked", "device.wipe", "rule.add", ...):
// the API hands it the account's address (store.WithAuditRemote), so each
// such change has one row with the account name and the address. A device's
// history (GET /devices/{id}/history) is the audit rows naming it. Logins ("admin.login",
// "admin.login-failed") are audited too.
package admin
