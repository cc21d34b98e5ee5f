// Package autodiscover lets mail clients set themselves up from an address
// and a password. It serves, on the shared HTTPS listener:
//
//	POST /autodiscover/autodiscover.xml        POX Autodiscover (MS-ASCMD 2.2.1.1 mobilesync, MS-OXDSCLI outlook 2006a)
//	GET  /autodiscover/autodiscover.json       Autodiscover v2 (?Email=…&Protocol=…)
//	GET  /autodiscover/autodiscover.json/v1.0/{address}?Protocol=…
//	GET  /mail/config-v1.1.xml                 Mozilla autoconfig (?emailaddress=…)
//	GET  /.well-known/autoconfig/mail/config-v1.1.xml
//	GET  /autodiscover/easd.mobileconfig       Apple profile for the authenticated user
//
// Paths are matched ignoring case (a Pre middleware rewrites any spelling of
// these paths, and only these, to the one above).
//
// Every answer is built from Options, which cmd/easd fills from the flags
// that start the listeners: the EAS URL from the HTTPS host name and port,
// the IMAP, POP3 and SMTP blocks only for listeners that run. Nothing is
// announced that is not there.
//
// # Decisions
//
// POX (POST autodiscover.xml):
//   - Basic authentication, over TLS only (403 otherwise unless
//     AllowPlainHTTP). No credentials: 401 with a Basic challenge before the
//     body is read. Throttled like EAS: 429 with Retry-After while Guard
//     refuses, and each wrong password is reported to Guard.
//   - A body over MaxBodySize: 413, from Content-Length without reading, or
//     as soon as the limit is passed.
//   - Malformed XML, no Autodiscover/Request root, no EMailAddress, no
//     AcceptableResponseSchema, an unparsable address: error 600. An
//     AcceptableResponseSchema other than mobilesync 2006 or outlook 2006a:
//     error 601. Errors are Autodiscover documents with HTTP 200, as
//     Exchange sends them; Response is in the mobilesync namespace for
//     mobilesync requests and in the base responseschema/2006 namespace
//     otherwise.
//   - Lenient parsing: elements are matched by local name, the XML
//     declaration and namespaces may be missing, text/xml or any other
//     Content-Type is accepted; the response schema is chosen by
//     AcceptableResponseSchema, not by the request namespace.
//   - Login names: user@domain as is; DOMAIN\user and a bare user are
//     completed with the domain of the EMailAddress asked about (the Remote
//     Connectivity Analyzer logs in as DOMAIN\user).
//   - Redirect: when the address's domain is in Options.Redirects and the
//     address is not an account here, the answer is a redirect to
//     local@target (mobilesync Action/Redirect, outlook Action redirectAddr
//     with RedirectAddr) without checking the password (the request must
//     still carry Basic credentials): they belong to the other system. This tells an unauthenticated caller only
//     whether an address of a redirect domain has been moved here already.
//   - Another user's address: answered only for the authenticated mailbox.
//     Asking for any other address, existing or not, gives error 600
//     (mobilesync: the only request error MS-ASCMD defines) or 500 (outlook:
//     MS-OXDSCLI's "address cannot be found"); the answer is the same either
//     way, so it does not reveal which addresses exist, and one user never
//     sees another's display name.
//   - An unknown address cannot authenticate: 401, like a wrong password
//     (the store hashes against a dummy, so the timing is the same too).
//   - A disabled user: 403. A user with EAS switched off asking mobilesync:
//     error 601. Outlook: Protocol blocks only for listeners that run and
//     that the user may use; with no IMAP or POP3 among them, error 601.
//   - Outlook Protocol blocks say SSL on and Encryption SSL (implicit TLS)
//     or TLS (STARTTLS), SPA off, AuthRequired on, LoginName the address;
//     SMTP also UsePOPAuth off and SMTPLast off.
//
// Autodiscover v2 and autoconfig need no authentication (as Exchange Online
// and ISPs serve them) and answer the same for every well-formed address.
// Autoconfig lists only running IMAP, POP3 and SMTP listeners and answers
// 404 when neither IMAP nor POP3 runs; it cannot describe ActiveSync (its
// "exchange" type means EWS).
//
// The Apple profile (Service.Profile, also used by the dashboard) carries a
// com.apple.eas.account payload without a password. Its identifiers are
// UUIDv5 of the host and the address, so reinstalling replaces it. It is
// not signed.
package autodiscover
