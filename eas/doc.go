// Package eas is the Exchange ActiveSync front-end: the MS-ASHTTP transport and the MS-ASCMD
// command handlers.
//
// # Layout
//
//	version.go           Version (12.0 … 16.1), parsed from MS-ASProtocolVersion or the base64 byte
//	status.go            Status, the common status codes 101-177 (MS-ASCMD 2.2.2), StatusError
//	command.go           CommandCode, the command codes of MS-ASHTTP 2.2.1.1.1.1.2
//	request.go           Request; plain and base64 query parsing (MS-ASHTTP 2.2.1.1.1)
//	command_registry.go  Handler, Command, StatusWriter: what a command implementation registers
//	server.go            Server: OPTIONS, authentication, dispatch; DeviceGate
//	authcache.go         verified credentials remembered per PasswordStamp (spares the KDF)
//	gate.go              the DeviceGate: registry, cap, access state, wipe, policy key (MS-ASPROV)
//	quarantine.go        what a quarantined device may see
//	provision.go         Provision (MS-ASPROV 3.2.5)
//	deviceinfo.go        settings:DeviceInformation, shared by Provision and Settings
//	trace.go             per-device protocol traces, redacted
//	foldersync.go        Hierarchy: FolderSync and the device's hierarchy snapshot
//	folders.go           FolderCreate, FolderUpdate, FolderDelete
//	quirks.go            the client quirk table (docs/quirks.md)
//	settings.go          Settings: Oof, DeviceInformation, UserInformation, DevicePassword, RMS
//	sync.go              Sync: collections, windows, filters, long poll (DESIGN.md "Sync state")
//	sync_state.go        the snapshot a sync key names, the resend rule, the current states in memory
//	sync_commands.go     client Add/Change/Delete/Fetch and their Responses
//	email.go             the Email content class: store item + MIME → WBXML (MS-ASEMAIL)
//	airsyncbase.go       Body, BodyPreference, Attachments (MS-ASAIRS)
//	sync_limits.go       the policy limits the server enforces (filters, truncation, HTML)
//	attachment_policy.go attachments a policy blocks: listed, refused on fetch, cut from MIME
//	getitemestimate.go   GetItemEstimate
//	ping.go              Ping: push over the store's change notifications
//	itemoperations.go    ItemOperations: Fetch, EmptyFolderContents, Move, MultiPart
//	getattachment.go     GetAttachment (12.x and 14.x)
//	moveitems.go         MoveItems
//	sendmail.go          SendMail, SmartReply, SmartForward over package submission
//	(the failed-login throttle is internal/loginlimit, shared with the other front-ends)
//	easclient/           a client that drives the server in tests and in cmd/easbench
//
// # Request path
//
// cmd/easd builds a Server with New, registers commands with Handle and adds the routes to
// the shared echo instance with Register. A POST to /Microsoft-Server-ActiveSync (any case)
// goes through these steps, each answering on its own when it refuses:
//
//  1. Parse the query, plain or base64 form, and its headers (ParseRequest). Malformed
//     query, unknown Cmd, missing or invalid DeviceId or DeviceType, missing or malformed
//     MS-ASProtocolVersion with the plain query: HTTP 400 (MS-ASHTTP 2.2.2.1.1).
//  2. Authenticate with HTTP Basic. Without TLS (unless Options.AllowPlainHTTP): 403. No
//     credentials: 401 with WWW-Authenticate: Basic realm="easd". user@domain logs in as
//     is; "user" and "DOMAIN\user" log in as user@Options.DefaultDomain (the NetBIOS domain
//     is ignored: one organisation, one mail domain for short names). Wrong password: 401.
//     When the Authenticator can also look accounts up (UserLookup, as *store.Store can), a
//     verified password is remembered as an HMAC under a per-process key until it goes unused
//     for Options.CredentialTTL (default 65 min, longer than the longest Ping heartbeat), so
//     a device's every Sync and Ping does not pay the argon2id KDF; the account is still
//     read on every request (from the store's signalled cache), and each entry keeps the
//     account's password stamp, so disabling the account or changing its password acts at
//     once.
//  3. Throttle failed logins, per client address (IPv6 per /64) and per account, each in a
//     sliding window (defaults: 10 per address in 5 min, 20 per account in 15 min). Over
//     budget: HTTP 429 with Retry-After, before the password is even checked, so a guessing
//     attacker also stops costing us KDF time. 429 rather than a delayed 401: a 401 makes
//     iOS and Android mail apps put up the "password incorrect" prompt and disable the
//     account until the user acts, while a 429 or 503 with Retry-After is a transient failure
//     they retry later on their own; holding delayed 401s would also pin a goroutine and a
//     connection per attempt. A successful login resets nothing, so an attacker who owns one
//     account cannot clear his address's count. The per-account budget lets an attacker lock
//     a user out for the window; it is larger than the per-address one for that reason.
//  4. The User parameter, when present, must name the authenticated account: its address
//     or local part, optionally after DOMAIN\, ignoring case. Otherwise 403 (not 401: the
//     password was right, re-prompting would not help).
//  5. A disabled account gets AccountDisabled (131), an account with ActiveSync switched off
//     UserDisabledForSync (126): in the command's Status element for 14.0 and later, HTTP
//     403 before 14.0 (MS-ASCMD 2.2.2: "an HTTP 403 response is returned instead of this
//     status value").
//  6. An unsupported protocol version gets VersionNotSupported (138), HTTP 400 before 14.0
//     (2.5 included), never 449.
//  7. A command without a registered handler: HTTP 501 (MS-ASHTTP 2.2.2.1.1); OPTIONS does not
//     list it.
//  8. The body is read whole under the size limit (Options.MaxBodySize, default 20 MiB;
//     Command.MaxBody): larger gets HTTP 413 and an Info log line. An empty body is allowed
//     only where the command says so (Sync, Ping), else InvalidContent (101). A WBXML body is
//     walked once to its end: malformed gets InvalidWBXML (102), HTTP 400 before 14.0. A
//     message/rfc822 body passes undecoded to commands that take MIME.
//  9. The DeviceGate admits the device or refuses with a status (the device registry and the
//     policy key check plug in here; NewGate is the real one; PassGate admits everything, for tests).
//  10. The handler decodes the request and encodes the response (Handler). A *StatusError it
//     returns is written in the command's shape by its StatusWriter; another error is logged
//     and answered with ServerError (110).
//
// Wherever a status is decided outside a handler, it goes into the command's Status element
// only for protocol 14.0 and later and only if the command registered a StatusWriter;
// otherwise the HTTP status from Status.HTTPStatus is sent (400, 403, 449, 500, ...).
//
// OPTIONS checks credentials the same way (phones treat its 200 as "password accepted") and
// answers MS-ASProtocolVersions 12.0,12.1,14.0,14.1,16.0,16.1, MS-ASProtocolCommands with
// exactly the registered commands, Allow and Public "OPTIONS,POST", and
// MS-Server-ActiveSync (DefaultServerVersion). Every response carries MS-Server-ActiveSync
// and Cache-Control: private; WBXML bodies are application/vnd.ms-sync.wbxml.
//
// Responses always carry Content-Length (MS-ASHTTP 2.2.2.1.2.3), never chunked encoding.
// Bodies of 1 KiB and more are gzipped for clients that send Accept-Encoding: gzip (iOS,
// Android and Nine do), with Content-Encoding (MS-ASHTTP 2.2.2.1.2.2); Options
// .DisableCompression turns that off. MS-ASHTTP defines no response header specific to 16.x.
// The request Content-Type is not checked for WBXML: Quirk(Windows Mail): it sends
// application/vnd.ms-sync without ".wbxml"; only message/rfc822 changes how a body is read.
//
// Every request logs with cid, device_id, cmd and, once known, user attributes; handlers
// get that logger as Request.Log. Options.Observe receives per-request metrics, and an
// Options.Tracer records the raw exchanges of the devices an administrator traces (it
// decodes and redacts before storing).
//
// # Adding a command
//
// Write a Handler that reads the request with the Decoder (Expect, Next, String, Skip) and
// encodes the response with the Encoder; return &StatusError{Status: ...} where the command
// answers a status (the command's own values, or a common one) and let every other error
// through. Register it in cmd/easd with
//
//	srv.Handle(eas.Command{
//		Code:    eas.CmdFolderSync,
//		Handler: folderSync,
//		Status:  eas.TopLevelStatus(wbxml.FolderHierarchyFolderSync, wbxml.FolderHierarchyStatus),
//	})
//
// OPTIONS then lists it. Give every command that has a top-level Status element a
// StatusWriter, so that 14.0+ clients get the common statuses in the body; set EmptyBody or
// MIMEBody where the command allows them.
package eas
