// Package devices is the registry of device partnerships: one row per
// (user, DeviceId), created on the device's first request and touched on
// every one after, with what the device said about itself
// (DeviceInformation), its policy key state and, from issue 6 on, its
// access state and wipe state. The EAS device gate (eas.Gate) asks the
// registry once per request; the admin API and the CLI list, show and
// remove devices through it.
//
// # Writes
//
// Touch runs on every request, so it writes the device's row only when it
// must: on first contact (an INSERT ... ON CONFLICT, so concurrent first
// contacts of one device create one row) and when the DeviceType, User-Agent
// or protocol version changes; DeviceInformation (SetInfo) is written at
// once too. Otherwise the row, read once, answers the device's requests from
// memory for Options.TouchInterval (default a minute) and is then read again
// (a read, no write: see Cache and several nodes for why). The time of every
// touch is recorded in memory, and all devices' last_seen are written
// together, in one statement (store.SetDevicesLastSeen), at most every
// Options.FlushInterval (default 5 s, never more than TouchInterval) and on
// Close: last_seen lags by about FlushInterval, within the TouchInterval the
// admin API and dashboards were promised. A Ping storm is neither a write
// storm nor a queue of write transactions: at 15,000 devices it is one
// statement every few seconds. A device removed before the flush is skipped
// by it (an UPDATE never creates a row), and a failed flush is retried at
// the next one; after Close each touch writes its last_seen at once.
//
// # Cache and several nodes
//
// The registry keeps the devices it touched in memory, and the rules. An
// administrative change — access state, wipe request, cancel, sent and
// acknowledged, removal, a per-user list entry, a rule — is published with
// store.PublishAdminChange by the Registry that makes it, in whatever
// process (`easd device block` from the CLI, the admin API on another
// node): this Registry drops its own entry at once, and every Registry
// of every process sharing the database drops the entry named (or all
// of a user's, or all, for rules) as soon as the signal arrives —
// PostgreSQL LISTEN/NOTIFY at once, SQLite at the next poll of
// store.PollOtherWriters (250 ms by default) — so the device's next
// request reads its row again and is refused, told to wipe or
// re-evaluated. Nothing is read per request to find this out. A row read
// while a signal arrived is kept as expired (a generation count), so a
// read that raced the change cannot outlive it. Should signals be lost
// (a listener reconnect, a failed poll), every cache is dropped; should
// a publication fail, the entry still expires within TouchInterval, the
// old bound. Policy changes and assignments are signalled too
// (policy.Manager); the registry caches no policy, the gate compares the
// device's acknowledged policy with the one in force.
//
// The policy-key check re-reads the row before refusing a key the cache
// does not know, so a device that provisioned on another node is never
// refused for it.
//
// # Policy keys
//
// MS-ASPROV 3.2.5.1: an initial Provision gets a temporary key
// (BeginProvision stores it as pending), the acknowledgement that
// presents it gets the final key (Acknowledge). Keys are random non-zero
// uint32 values; the final key stays valid while a new handshake is under
// way, so a device that re-provisions keeps working if it never finishes.
//
// # The device cap
//
// A mailbox has at most Options.MaxDevices partnerships (default 100, as
// Exchange Online). Touch refuses a new device beyond it with
// ErrDeviceLimit and creates nothing; the gate answers MaximumDevicesReached
// (177; HTTP 403 before 14.0) to every command of that device. Known
// devices keep working. The count and the insert run in one transaction
// under the user's lock (store.TouchDevice), so concurrent first contacts
// cannot overshoot. Wiped partnerships count until an admin removes them:
// a wiped phone that comes back under a new DeviceId needs a free slot.
//
// # Access state
//
// Every partnership is Allowed, Blocked or Quarantined, stored with the
// reason, who decided and when. The decision, first that applies:
//
//  1. an individual decision of an administrator (SetAccess: allow, block,
//     quarantine; approving a quarantined device is allowing it), kept
//     until ClearAccess; a wiped partnership is blocked (reason "wipe")
//     until removed;
//  2. the user's allow or block list of DeviceIds (SetUserList);
//  3. the most specific device access rule (AddRule): a rule matches the
//     DeviceType, the model, the OS or the User-Agent, exactly or as a
//     prefix, case-insensitively; an exact match beats a prefix, a longer
//     prefix a shorter one, and between equally specific rules the stricter
//     action wins (block, quarantine, allow), then the older rule;
//  4. the organisation default (Options.DefaultAccess, allowed by default).
//
// Lists, rules and the default are applied when the registry reads or
// writes a device's row (first contact, then once per TouchInterval, and
// when DeviceInformation arrives, which is when rules on the model and OS
// can first match). A rule or list change is signalled to every process
// (see Cache and several nodes), so the next request of every device it
// concerns re-evaluates, on any node.
//
// Blocked devices get DeviceIsBlockedForThisUser (129; HTTP 403 before
// 14.0) for everything. Quarantined devices may Provision, FolderSync,
// Sync, GetItemEstimate, Ping and use Settings, and see only their Inbox;
// everything else gets AccessDenied (130). Entering quarantine (each
// transition, once) delivers a message into the user's Inbox explaining
// the wait, and one to each Options.AdminRecipients. Deliberate difference
// from Exchange: Exchange also lets a quarantined device send mail to
// itself; easd does not.
//
// # Remote wipe
//
// RequestWipe (full, or account-only: MS-ASPROV AccountOnlyRemoteWipe,
// 16.1) → the device's next request gets RemoteWipeRequested (140; HTTP 449
// before 14.0) → Provision sends the directive (WipeSent; the wipe can no
// longer be cancelled) → the device acknowledges (WipeAcknowledged, with
// its status and time): the partnership is blocked until removed and the
// user and the requester get a confirmation (the requester is the address
// in the actor, "admin:bob@example.com", else Options.AdminRecipients).
// CancelWipe works until the directive was sent. Each step is in the audit
// log. An account-only wipe is never turned into a full wipe: a device on
// a protocol before 16.1 is blocked while the request stands.
package devices
