// Package wbxml is the WBXML 1.3 codec of Exchange ActiveSync: a tokenizer over a byte slice,
// an append-style encoder, the EAS code pages 0-25 and a conversion to and from XML for
// traces, tests and `easd wbxml decode|encode`. It imports only the standard library.
//
// Syntax lives here, meaning in package eas: this package knows tags, strings and opaque
// data, not what a Sync or a Provision means.
//
// # Layout
//
//   - decoder.go: Decoder (Next and the helpers Skip, Text, String, Int, Expect), Token, Kind.
//   - encoder.go: Encoder, AppendMBUint32.
//   - tag.go: Tag, LookupTag, PageNamespace; tables.go (generated, see below) holds the pages.
//   - xml.go: ToXML, AppendXML, FromXML.
//   - errors.go: SyntaxError and the sentinel errors.
//   - internal/gen: the code page table codepages.txt and its generator. After editing the
//     table run `go generate ./wbxml`.
//
// # Wire format
//
// A document is the WAP-192-WBXML header (version, public id, charset, string table) followed
// by one root element. MS-ASWBXML 2.1.1: EAS sends version 1.3 (0x03), public id 0x01
// (unknown), charset 0x6A (UTF-8) and an empty string table, which is the header Encoder
// writes: 03 01 6A 00. Tokens (WAP-192-WBXML 5.8):
//
//	0x00 SWITCH_PAGE p   the following tags are on code page p (not a Token; Encoder emits it
//	                     only when the page changes)
//	0x01 END             closes the innermost element opened with the content bit
//	0x03 STR_I s 0x00    inline string                     -> KindString
//	0x83 STR_T index     string from the string table      -> KindString
//	0xC3 OPAQUE len data opaque bytes, len an mb_u_int32   -> KindOpaque
//	tag | 0x40           start tag with content            -> KindStart, Content true
//	tag                  start tag without content (<t/>)  -> KindStart, Content false
//
// # Invariants and limits
//
//   - Next never allocates: Token.Data aliases the input (valid until the Decoder is Reset
//     to another slice and as long as the caller leaves the input alone), the open-element
//     stack is an array of MaxDepth tags inside the Decoder.
//   - Every malformed input is a *SyntaxError with the byte offset of the offending token or
//     field, wrapping one sentinel (ErrTruncated, ErrHeader, ErrMBUint32, ErrUnknownPage,
//     ErrUnknownTag, ErrUnsupported, ErrStructure, ErrTooDeep, ErrTooLarge) for errors.Is.
//     Nothing panics and nothing is allocated in proportion to a length field: lengths are
//     checked against the remaining input before use. Errors are sticky.
//   - Limits: MaxDepth (64) open elements; DefaultMaxSize (32 MiB) per document, changed with
//     Decoder.SetMaxSize; an mb_u_int32 has at most 5 bytes and 32 bits (WAP-192-WBXML 5.1).
//   - Rejected: a version other than 1.3, a charset other than UTF-8, undefined code pages and
//     tags (including everything on page 3, AirNotify, which defines none), tags with the
//     attribute bit (EAS defines no attributes), the global tokens ENTITY, LITERAL*, EXT*,
//     EXT_I*, EXT_T* and PI (EAS uses none of them), END with nothing open, strings or
//     opaque data outside the root, anything after the root closed, input ending before it.
//   - Accepted although EAS does not send them: other public ids (also as a string table
//     reference), a non-empty string table and STR_T, mb_u_int32 with leading 0x80 bytes.
//   - The Encoder writes only what the Decoder accepts; misuse is reported by Encoder.Err.
//
// # Code pages
//
// Pages 0-25 follow MS-ASWBXML 2.1.2.1 (v16.1), including the 14.x and 16.x tokens (page 8
// ProposedStartTime/ProposedEndTime, page 14 AccountOnlyRemoteWipe, page 25 Find). Tokens the
// spec lists only for protocol 2.5 (email and calendar bodies before AirSyncBase) are not
// defined and decode as ErrUnknownTag. Page 6 Version and DateTime (12.1), page 7
// Folders/Folder (GetHierarchy, up to 12.1) and page 13 AutdState (listed as not used) are
// kept; Version, DateTime and AutdState are the three tokens the Interop-TestSuites table
// lacks. Where MS-ASWBXML spells a name
// differently from the schema of the element, the schema wins because it is what XML shows:
// page 24 0x18 RemoveRightsManagementProtection (MS-ASRM 6) and page 25 0x19
// GALSearchCriterion (MS-ASCMD 2.2.3.82). The constants are named <prefix><Name>, where the
// prefix is the page's namespace:
//
//	 0 AirSync           AirSyncSync, AirSyncSyncKey, ...
//	 1 Contacts          ContactsFileAs, ...
//	 2 Email             EmailSubject, ...
//	 3 AirNotify         (no tokens)
//	 4 Calendar          CalendarStartTime, ...
//	 5 Move              MoveMoveItems, ...
//	 6 GetItemEstimate   GetItemEstimateGetItemEstimate, GetItemEstimateEstimate, ...
//	 7 FolderHierarchy   FolderHierarchyFolderSync, ...
//	 8 MeetingResponse   MeetingResponseMeetingResponse, ...
//	 9 Tasks             TasksDueDate, ...
//	10 ResolveRecipients ResolveRecipientsResolveRecipients, ...
//	11 ValidateCert      ValidateCertValidateCert, ...
//	12 Contacts2         Contacts2NickName, ...
//	13 Ping              PingPing, PingHeartbeatInterval, ...
//	14 Provision         ProvisionPolicyKey, ...
//	15 Search            SearchSearch, ...
//	16 GAL               GALDisplayName, ...
//	17 AirSyncBase       AirSyncBaseBody, ...
//	18 Settings          SettingsDeviceInformation, ...
//	19 DocumentLibrary   DocumentLibraryLinkId, ...
//	20 ItemOperations    ItemOperationsFetch, ...
//	21 ComposeMail       ComposeMailSendMail, ...
//	22 Email2            Email2ConversationId, ...
//	23 Notes             NotesSubject, ...
//	24 RightsManagement  RightsManagementTemplateID, ...
//	25 Find              FindFind, ...
//
// # XML format
//
// ToXML writes, and FromXML reads:
//
//	<?xml version="1.0" encoding="utf-8"?>
//	<Sync xmlns="AirSync" xmlns:airsyncbase="AirSyncBase" xmlns:email="Email">
//	  <Collections>
//	    <Collection>
//	      <SyncKey>0</SyncKey>
//	      <GetChanges/>
//	      <email:Subject>Lunch &amp; more</email:Subject>
//	      <email2:ConversationId wbxml="opaque-base64">sWxgv2tkJC+IM4gtOQcnbQ==</email2:ConversationId>
//
// The rules:
//
//   - The root declares its own code page as the default namespace and every other page used
//     in the document with the namespace lowercased as prefix, in prefix order; elements of
//     the root's page are unprefixed, the others prefixed. Two spaces indent each level.
//   - <T/> is a tag without the content bit; <T></T> is a tag with the content bit followed
//     directly by END (clients send both). FromXML tells them apart by the raw input.
//   - A leaf's inline string is its text, escaped (&amp; &lt; &gt;, and CR as &#xD; so that
//     XML's CR LF normalisation does not change it). FromXML takes a leaf's text exactly;
//     whitespace-only text between child elements is indentation and ignored.
//   - The attribute wbxml marks other content: wbxml="opaque" is OPAQUE written as text (when
//     the bytes are UTF-8 made of legal XML characters, e.g. SendMail's MIME);
//     wbxml="opaque-base64" is OPAQUE as standard base64; wbxml="string-base64" is an inline
//     string that cannot be XML text, and the empty inline string. No attribute: inline string.
//   - FromXML accepts any well-formed namespace usage (prefixes of any name, redeclared
//     defaults), ignores comments, processing instructions and a DOCTYPE, and rejects unknown
//     namespaces, names and attributes with the XML line number.
//
// Round trip: decode -> ToXML -> FromXML -> encode is byte-identical for every document whose
// header is 03 01 6A 00, whose elements each hold either child elements or at most one
// string/opaque token, and whose SWITCH_PAGE tokens appear only where the page changes (what
// Encoder writes). Elements mixing text and children, or holding two content tokens, are
// written as mixed XML content; their whitespace-only text is lost, adjacent strings merge
// and opaque data there comes back as a string. STR_T comes back as STR_I.
//
//go:generate go run ./internal/gen -in internal/gen/codepages.txt -out tables.go
package wbxml
