package eas

import "strings"

// CommandCode identifies an ActiveSync command by its code in the base64-encoded query
// (MS-ASHTTP 2.2.1.1.1.1.2 Command Codes). Codes 5-8 are not assigned.
type CommandCode uint8

// MS-ASHTTP 2.2.1.1.1.1.2 Command Codes.
const (
	CmdSync              CommandCode = 0
	CmdSendMail          CommandCode = 1
	CmdSmartForward      CommandCode = 2
	CmdSmartReply        CommandCode = 3
	CmdGetAttachment     CommandCode = 4
	CmdFolderSync        CommandCode = 9
	CmdFolderCreate      CommandCode = 10
	CmdFolderDelete      CommandCode = 11
	CmdFolderUpdate      CommandCode = 12
	CmdMoveItems         CommandCode = 13
	CmdGetItemEstimate   CommandCode = 14
	CmdMeetingResponse   CommandCode = 15
	CmdSearch            CommandCode = 16
	CmdSettings          CommandCode = 17
	CmdPing              CommandCode = 18
	CmdItemOperations    CommandCode = 19
	CmdProvision         CommandCode = 20
	CmdResolveRecipients CommandCode = 21
	CmdValidateCert      CommandCode = 22
	// CmdFind has no code in MS-ASHTTP 2.2.1.1.1.1.2: Find (16.1, MS-ASCMD 2.2.1.2) can only
	// be named in the plain query. 255 is an internal value that never parses from a
	// base64 query.
	CmdFind CommandCode = 255
)

// commandNames is indexed by CommandCode; "" marks an unassigned code.
var commandNames = [...]string{
	CmdSync:              "Sync",
	CmdSendMail:          "SendMail",
	CmdSmartForward:      "SmartForward",
	CmdSmartReply:        "SmartReply",
	CmdGetAttachment:     "GetAttachment",
	CmdFolderSync:        "FolderSync",
	CmdFolderCreate:      "FolderCreate",
	CmdFolderDelete:      "FolderDelete",
	CmdFolderUpdate:      "FolderUpdate",
	CmdMoveItems:         "MoveItems",
	CmdGetItemEstimate:   "GetItemEstimate",
	CmdMeetingResponse:   "MeetingResponse",
	CmdSearch:            "Search",
	CmdSettings:          "Settings",
	CmdPing:              "Ping",
	CmdItemOperations:    "ItemOperations",
	CmdProvision:         "Provision",
	CmdResolveRecipients: "ResolveRecipients",
	CmdValidateCert:      "ValidateCert",
}

// Valid reports whether c names a command.
func (c CommandCode) Valid() bool {
	return c == CmdFind || (int(c) < len(commandNames) && commandNames[c] != "")
}

// String returns the command name as the Cmd query parameter spells it ("FolderSync"), or
// "" for an unassigned code.
func (c CommandCode) String() string {
	if c == CmdFind {
		return "Find"
	}
	if int(c) < len(commandNames) {
		return commandNames[c]
	}
	return ""
}

// LookupCommand returns the command named name (the Cmd query parameter). The match ignores
// ASCII case: the spec spells names one way, but a few clients do not.
func LookupCommand(name string) (CommandCode, bool) {
	if strings.EqualFold(name, "Find") {
		return CmdFind, true
	}
	for c, n := range commandNames {
		if n != "" && strings.EqualFold(n, name) {
			return CommandCode(c), true
		}
	}
	return 0, false
}
