package eas

import (
	"errors"
	"strconv"
	"strings"
)

// Version is an ActiveSync protocol version, stored as major*10+minor: the value of the
// Protocol version byte of the base64-encoded query (MS-ASHTTP 2.2.1.1.1.1), so 14.1 is 141.
// Versions compare with < and ==.
type Version uint8

// Protocol versions (MS-ASHTTP 2.2.1.1.2.6 MS-ASProtocolVersion).
const (
	Version25  Version = 25  // 2.5: parsed but not served
	Version120 Version = 120 // 12.0
	Version121 Version = 121 // 12.1
	Version140 Version = 140 // 14.0
	Version141 Version = 141 // 14.1
	Version160 Version = 160 // 16.0
	Version161 Version = 161 // 16.1
)

// SupportedVersions are the versions easd serves, oldest first, as OPTIONS lists them.
var SupportedVersions = []Version{Version120, Version121, Version140, Version141, Version160, Version161}

// ErrVersion reports a protocol version that is not of the form major.minor.
var ErrVersion = errors.New("eas: malformed protocol version")

// ParseVersion parses "14.1" and the like. It accepts any major.minor with a one-digit minor
// and major below 25 (2.5 and 17.0 parse; whether they are served is Supported's business).
func ParseVersion(s string) (Version, error) {
	maj, min, ok := strings.Cut(strings.TrimSpace(s), ".")
	if !ok || len(min) != 1 || min[0] < '0' || min[0] > '9' || maj == "" || len(maj) > 2 {
		return 0, ErrVersion
	}
	n, err := strconv.Atoi(maj)
	if err != nil || n < 0 || n > 24 || (len(maj) == 2 && maj[0] == '0') {
		return 0, ErrVersion
	}
	return Version(n*10 + int(min[0]-'0')), nil
}

// Supported reports whether v is one of SupportedVersions.
func (v Version) Supported() bool {
	switch v {
	case Version120, Version121, Version140, Version141, Version160, Version161:
		return true
	}
	return false
}

// String returns "14.1" for Version141.
func (v Version) String() string {
	return strconv.Itoa(int(v)/10) + "." + strconv.Itoa(int(v)%10)
}

// versionList is the MS-ASProtocolVersions header value (MS-ASHTTP 2.2.4.1.2.2).
func versionList() string {
	var b strings.Builder
	for i, v := range SupportedVersions {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(v.String())
	}
	return b.String()
}
