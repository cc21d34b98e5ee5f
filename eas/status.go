package eas

import (
	"net/http"
	"strconv"
)

// Status is an ActiveSync protocol status: a command-specific value (1-99, see each command's
// Status element in MS-ASCMD 2.2.3.177) or one of the common values 101-177 below. A status
// is not an HTTP status code; see HTTPStatus for the HTTP code that replaces it where the
// response cannot carry it.
type Status uint16

// StatusSuccess is 1 in every command's Status element.
const StatusSuccess Status = 1

// Common status codes (MS-ASCMD 2.2.2). Protocol versions 14.0 and later carry them in the
// command's Status element; 2.5, 12.0 and 12.1 get an HTTP status instead (HTTPStatus).
const (
	StatusInvalidContent                                  Status = 101 // MS-ASCMD 2.2.2 Common Status Codes
	StatusInvalidWBXML                                    Status = 102 // MS-ASCMD 2.2.2 Common Status Codes
	StatusInvalidXML                                      Status = 103 // MS-ASCMD 2.2.2 Common Status Codes
	StatusInvalidDateTime                                 Status = 104 // MS-ASCMD 2.2.2 Common Status Codes
	StatusInvalidCombinationOfIDs                         Status = 105 // MS-ASCMD 2.2.2 Common Status Codes
	StatusInvalidIDs                                      Status = 106 // MS-ASCMD 2.2.2 Common Status Codes
	StatusInvalidMIME                                     Status = 107 // MS-ASCMD 2.2.2 Common Status Codes
	StatusDeviceIdMissingOrInvalid                        Status = 108 // MS-ASCMD 2.2.2 Common Status Codes
	StatusDeviceTypeMissingOrInvalid                      Status = 109 // MS-ASCMD 2.2.2 Common Status Codes
	StatusServerError                                     Status = 110 // MS-ASCMD 2.2.2 Common Status Codes
	StatusServerErrorRetryLater                           Status = 111 // MS-ASCMD 2.2.2 Common Status Codes
	StatusActiveDirectoryAccessDenied                     Status = 112 // MS-ASCMD 2.2.2 Common Status Codes
	StatusMailboxQuotaExceeded                            Status = 113 // MS-ASCMD 2.2.2 Common Status Codes
	StatusMailboxServerOffline                            Status = 114 // MS-ASCMD 2.2.2 Common Status Codes
	StatusSendQuotaExceeded                               Status = 115 // MS-ASCMD 2.2.2 Common Status Codes
	StatusMessageRecipientUnresolved                      Status = 116 // MS-ASCMD 2.2.2 Common Status Codes
	StatusMessageReplyNotAllowed                          Status = 117 // MS-ASCMD 2.2.2 Common Status Codes
	StatusMessagePreviouslySent                           Status = 118 // MS-ASCMD 2.2.2 Common Status Codes
	StatusMessageHasNoRecipient                           Status = 119 // MS-ASCMD 2.2.2 Common Status Codes
	StatusMailSubmissionFailed                            Status = 120 // MS-ASCMD 2.2.2 Common Status Codes
	StatusMessageReplyFailed                              Status = 121 // MS-ASCMD 2.2.2 Common Status Codes
	StatusAttachmentIsTooLarge                            Status = 122 // MS-ASCMD 2.2.2 Common Status Codes
	StatusUserHasNoMailbox                                Status = 123 // MS-ASCMD 2.2.2 Common Status Codes
	StatusUserCannotBeAnonymous                           Status = 124 // MS-ASCMD 2.2.2 Common Status Codes
	StatusUserPrincipalCouldNotBeFound                    Status = 125 // MS-ASCMD 2.2.2 Common Status Codes
	StatusUserDisabledForSync                             Status = 126 // MS-ASCMD 2.2.2 Common Status Codes
	StatusUserOnNewMailboxCannotSync                      Status = 127 // MS-ASCMD 2.2.2 Common Status Codes
	StatusUserOnLegacyMailboxCannotSync                   Status = 128 // MS-ASCMD 2.2.2 Common Status Codes
	StatusDeviceIsBlockedForThisUser                      Status = 129 // MS-ASCMD 2.2.2 Common Status Codes
	StatusAccessDenied                                    Status = 130 // MS-ASCMD 2.2.2 Common Status Codes
	StatusAccountDisabled                                 Status = 131 // MS-ASCMD 2.2.2 Common Status Codes
	StatusSyncStateNotFound                               Status = 132 // MS-ASCMD 2.2.2 Common Status Codes
	StatusSyncStateLocked                                 Status = 133 // MS-ASCMD 2.2.2 Common Status Codes
	StatusSyncStateCorrupt                                Status = 134 // MS-ASCMD 2.2.2 Common Status Codes
	StatusSyncStateAlreadyExists                          Status = 135 // MS-ASCMD 2.2.2 Common Status Codes
	StatusSyncStateVersionInvalid                         Status = 136 // MS-ASCMD 2.2.2 Common Status Codes
	StatusCommandNotSupported                             Status = 137 // MS-ASCMD 2.2.2 Common Status Codes
	StatusVersionNotSupported                             Status = 138 // MS-ASCMD 2.2.2 Common Status Codes
	StatusDeviceNotFullyProvisionable                     Status = 139 // MS-ASCMD 2.2.2 Common Status Codes
	StatusRemoteWipeRequested                             Status = 140 // MS-ASCMD 2.2.2 Common Status Codes
	StatusLegacyDeviceOnStrictPolicy                      Status = 141 // MS-ASCMD 2.2.2 Common Status Codes
	StatusDeviceNotProvisioned                            Status = 142 // MS-ASCMD 2.2.2 Common Status Codes
	StatusPolicyRefresh                                   Status = 143 // MS-ASCMD 2.2.2 Common Status Codes
	StatusInvalidPolicyKey                                Status = 144 // MS-ASCMD 2.2.2 Common Status Codes
	StatusExternallyManagedDevicesNotAllowed              Status = 145 // MS-ASCMD 2.2.2 Common Status Codes
	StatusNoRecurrenceInCalendar                          Status = 146 // MS-ASCMD 2.2.2 Common Status Codes
	StatusUnexpectedItemClass                             Status = 147 // MS-ASCMD 2.2.2 Common Status Codes
	StatusRemoteServerHasNoSSL                            Status = 148 // MS-ASCMD 2.2.2 Common Status Codes
	StatusInvalidStoredRequest                            Status = 149 // MS-ASCMD 2.2.2 Common Status Codes
	StatusItemNotFound                                    Status = 150 // MS-ASCMD 2.2.2 Common Status Codes
	StatusTooManyFolders                                  Status = 151 // MS-ASCMD 2.2.2 Common Status Codes
	StatusNoFoldersFound                                  Status = 152 // MS-ASCMD 2.2.2 Common Status Codes
	StatusItemsLostAfterMove                              Status = 153 // MS-ASCMD 2.2.2 Common Status Codes
	StatusFailureInMoveOperation                          Status = 154 // MS-ASCMD 2.2.2 Common Status Codes
	StatusMoveCommandDisallowedForNonPersistentMoveAction Status = 155 // MS-ASCMD 2.2.2 Common Status Codes
	StatusMoveCommandInvalidDestinationFolder             Status = 156 // MS-ASCMD 2.2.2 Common Status Codes
	StatusAvailabilityTooManyRecipients                   Status = 160 // MS-ASCMD 2.2.2 Common Status Codes
	StatusAvailabilityDLLimitReached                      Status = 161 // MS-ASCMD 2.2.2 Common Status Codes
	StatusAvailabilityTransientFailure                    Status = 162 // MS-ASCMD 2.2.2 Common Status Codes
	StatusAvailabilityFailure                             Status = 163 // MS-ASCMD 2.2.2 Common Status Codes
	StatusBodyPartPreferenceTypeNotSupported              Status = 164 // MS-ASCMD 2.2.2 Common Status Codes
	StatusDeviceInformationRequired                       Status = 165 // MS-ASCMD 2.2.2 Common Status Codes
	StatusInvalidAccountId                                Status = 166 // MS-ASCMD 2.2.2 Common Status Codes
	StatusAccountSendDisabled                             Status = 167 // MS-ASCMD 2.2.2 Common Status Codes
	StatusIRMFeatureDisabled                              Status = 168 // MS-ASCMD 2.2.2 Common Status Codes
	StatusIRMTransientError                               Status = 169 // MS-ASCMD 2.2.2 Common Status Codes
	StatusIRMPermanentError                               Status = 170 // MS-ASCMD 2.2.2 Common Status Codes
	StatusIRMInvalidTemplateID                            Status = 171 // MS-ASCMD 2.2.2 Common Status Codes
	StatusIRMOperationNotPermitted                        Status = 172 // MS-ASCMD 2.2.2 Common Status Codes
	StatusNoPicture                                       Status = 173 // MS-ASCMD 2.2.2 Common Status Codes
	StatusPictureTooLarge                                 Status = 174 // MS-ASCMD 2.2.2 Common Status Codes
	StatusPictureLimitReached                             Status = 175 // MS-ASCMD 2.2.2 Common Status Codes
	StatusBodyPartConversationTooLarge                    Status = 176 // MS-ASCMD 2.2.2 Common Status Codes
	StatusMaximumDevicesReached                           Status = 177 // MS-ASCMD 2.2.2 Common Status Codes
)

// commonStatus describes one common status: its name in MS-ASCMD 2.2.2 and the HTTP status
// that replaces it where no Status element can carry it.
type commonStatus struct {
	name string
	http int
}

// HTTP449 is the "Retry after sending a PROVISION command" status of protocol versions before
// 14.0 (MS-ASPROV 3.2.5.1: 12.x devices are told to provision by HTTP 449).
const HTTP449 = 449

// commonStatuses is indexed by Status-101. The HTTP column follows MS-ASCMD 2.2.2, which for
// 2.5, 12.0 and 12.1 names the HTTP response returned instead of a status where it gives one
// (400 for 103, 403 for 126, ...). Where the table is silent the closest HTTP meaning is used:
// request faults 400, refusals for this user 403, provisioning 449, transient server
// trouble 503, everything else 500.
var commonStatuses = [...]commonStatus{
	{"InvalidContent", http.StatusBadRequest},
	{"InvalidWBXML", http.StatusBadRequest},
	{"InvalidXML", http.StatusBadRequest},
	{"InvalidDateTime", http.StatusBadRequest},
	{"InvalidCombinationOfIDs", http.StatusBadRequest},
	{"InvalidIDs", http.StatusBadRequest},
	{"InvalidMIME", http.StatusBadRequest},
	{"DeviceIdMissingOrInvalid", http.StatusBadRequest},
	{"DeviceTypeMissingOrInvalid", http.StatusBadRequest},
	{"ServerError", http.StatusInternalServerError},
	{"ServerErrorRetryLater", http.StatusServiceUnavailable},
	{"ActiveDirectoryAccessDenied", http.StatusForbidden},
	{"MailboxQuotaExceeded", http.StatusInsufficientStorage},
	{"MailboxServerOffline", http.StatusServiceUnavailable},
	{"SendQuotaExceeded", http.StatusServiceUnavailable},
	{"MessageRecipientUnresolved", http.StatusBadRequest},
	{"MessageReplyNotAllowed", http.StatusForbidden},
	{"MessagePreviouslySent", http.StatusBadRequest},
	{"MessageHasNoRecipient", http.StatusBadRequest},
	{"MailSubmissionFailed", http.StatusInternalServerError},
	{"MessageReplyFailed", http.StatusInternalServerError},
	{"AttachmentIsTooLarge", http.StatusRequestEntityTooLarge},
	{"UserHasNoMailbox", http.StatusForbidden},
	{"UserCannotBeAnonymous", http.StatusUnauthorized},
	{"UserPrincipalCouldNotBeFound", http.StatusForbidden},
	{"UserDisabledForSync", http.StatusForbidden},
	{"UserOnNewMailboxCannotSync", http.StatusForbidden},
	{"UserOnLegacyMailboxCannotSync", http.StatusForbidden},
	{"DeviceIsBlockedForThisUser", http.StatusForbidden},
	{"AccessDenied", http.StatusForbidden},
	{"AccountDisabled", http.StatusForbidden},
	{"SyncStateNotFound", http.StatusInternalServerError},
	{"SyncStateLocked", http.StatusServiceUnavailable},
	{"SyncStateCorrupt", http.StatusInternalServerError},
	{"SyncStateAlreadyExists", http.StatusInternalServerError},
	{"SyncStateVersionInvalid", http.StatusInternalServerError},
	{"CommandNotSupported", http.StatusNotImplemented},
	{"VersionNotSupported", http.StatusBadRequest},
	{"DeviceNotFullyProvisionable", http.StatusForbidden},
	{"RemoteWipeRequested", HTTP449},
	{"LegacyDeviceOnStrictPolicy", http.StatusForbidden},
	{"DeviceNotProvisioned", HTTP449},
	{"PolicyRefresh", HTTP449},
	{"InvalidPolicyKey", HTTP449},
	{"ExternallyManagedDevicesNotAllowed", http.StatusForbidden},
	{"NoRecurrenceInCalendar", http.StatusBadRequest},
	{"UnexpectedItemClass", http.StatusBadRequest},
	{"RemoteServerHasNoSSL", http.StatusInternalServerError},
	{"InvalidStoredRequest", http.StatusBadRequest},
	{"ItemNotFound", http.StatusBadRequest},
	{"TooManyFolders", http.StatusInternalServerError},
	{"NoFoldersFound", http.StatusInternalServerError},
	{"ItemsLostAfterMove", http.StatusInternalServerError},
	{"FailureInMoveOperation", http.StatusInternalServerError},
	{"MoveCommandDisallowedForNonPersistentMoveAction", http.StatusBadRequest},
	{"MoveCommandInvalidDestinationFolder", http.StatusBadRequest},
	{}, {}, {}, // 157-159 are not assigned
	{"AvailabilityTooManyRecipients", http.StatusBadRequest},
	{"AvailabilityDLLimitReached", http.StatusBadRequest},
	{"AvailabilityTransientFailure", http.StatusServiceUnavailable},
	{"AvailabilityFailure", http.StatusInternalServerError},
	{"BodyPartPreferenceTypeNotSupported", http.StatusBadRequest},
	{"DeviceInformationRequired", http.StatusBadRequest},
	{"InvalidAccountId", http.StatusBadRequest},
	{"AccountSendDisabled", http.StatusForbidden},
	{"IRM_FeatureDisabled", http.StatusForbidden},
	{"IRM_TransientError", http.StatusServiceUnavailable},
	{"IRM_PermanentError", http.StatusInternalServerError},
	{"IRM_InvalidTemplateID", http.StatusBadRequest},
	{"IRM_OperationNotPermitted", http.StatusForbidden},
	{"NoPicture", http.StatusBadRequest},
	{"PictureTooLarge", http.StatusBadRequest},
	{"PictureLimitReached", http.StatusBadRequest},
	{"BodyPart_ConversationTooLarge", http.StatusBadRequest},
	{"MaximumDevicesReached", http.StatusForbidden},
}

func (s Status) common() (commonStatus, bool) {
	if s < StatusInvalidContent || int(s-StatusInvalidContent) >= len(commonStatuses) {
		return commonStatus{}, false
	}
	c := commonStatuses[s-StatusInvalidContent]
	return c, c.name != ""
}

// IsCommon reports whether s is one of the common status codes of MS-ASCMD 2.2.2.
func (s Status) IsCommon() bool {
	_, ok := s.common()
	return ok
}

// String returns the MS-ASCMD 2.2.2 name and value of a common status ("UserDisabledForSync
// (126)") and the bare number otherwise (command-specific meanings differ per command).
func (s Status) String() string {
	if c, ok := s.common(); ok {
		return c.name + " (" + strconv.Itoa(int(s)) + ")"
	}
	return strconv.Itoa(int(s))
}

// HTTPStatus returns the HTTP status code that stands for s when the response cannot carry
// it: for protocol versions before 14.0 (MS-ASCMD 2.2.2: "an HTTP 403 response is returned
// instead of this status value") and for commands that have no Status element. It is 500 for
// a command-specific status, which a handler should write itself.
func (s Status) HTTPStatus() int {
	if c, ok := s.common(); ok {
		return c.http
	}
	return http.StatusInternalServerError
}

// StatusError carries a protocol status from where the decision is made to the one place that
// writes it: the dispatcher writes it in the command's Status element (or as an HTTP status,
// see Status.HTTPStatus). Err, which may be nil, is the cause for the log; clients never see it.
type StatusError struct {
	Status Status
	Err    error
}

// Error returns "eas: status UserDisabledForSync (126): <cause>".
func (e *StatusError) Error() string {
	msg := "eas: status " + e.Status.String()
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg
}

// Unwrap returns the cause.
func (e *StatusError) Unwrap() error { return e.Err }
