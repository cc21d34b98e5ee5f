package autodiscover

import (
	"net/http"
	"net/url"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/easd/easd/store"
)

// v2Answer is the Autodiscover v2 success body.
type v2Answer struct {
	Protocol string
	Url      string // the wire name, as Exchange spells it
}

// v2Error is the Autodiscover v2 error body, as Exchange Online answers an
// unknown protocol with HTTP 400.
type v2Error struct {
	ErrorCode    string
	ErrorMessage string
}

// Autodiscover v2 protocol names easd serves.
const (
	ProtocolActiveSync     = "ActiveSync"
	ProtocolAutodiscoverV1 = "AutodiscoverV1"
)

// handleJSON answers Autodiscover v2, GET /autodiscover/autodiscover.json
// ?Email=…&Protocol=… and /autodiscover/autodiscover.json/v1.0/{address}
// ?Protocol=…. Autodiscover v2 is not in the Open Specifications; this
// follows what Exchange Online answers (MS-ASCMD 2.2.1.1 points clients at
// [MSFT-AUTODISCOVER] for the service). It needs no authentication, as on
// Exchange Online, and answers the same for every well-formed address, so it
// reveals nothing about which accounts exist. Protocol names are matched
// ignoring case.
func (s *Service) handleJSON(c echo.Context) error {
	addr := c.Param("address")
	if a, err := url.PathUnescape(addr); err == nil {
		addr = a // echo leaves path parameters escaped ("alice%40example.com")
	}
	if addr == "" {
		addr = queryFold(c, "Email")
	}
	proto := queryFold(c, "Protocol")
	c.Response().Header().Set("Cache-Control", "private, no-store")
	if _, err := store.NormalizeAddress(addr); err != nil {
		return c.JSON(http.StatusBadRequest, v2Error{
			ErrorCode:    "InvalidUser",
			ErrorMessage: "The given email address is invalid.",
		})
	}
	switch {
	case strings.EqualFold(proto, ProtocolActiveSync):
		return c.JSON(http.StatusOK, v2Answer{Protocol: ProtocolActiveSync, Url: s.ActiveSyncURL()})
	case strings.EqualFold(proto, ProtocolAutodiscoverV1):
		return c.JSON(http.StatusOK, v2Answer{Protocol: ProtocolAutodiscoverV1, Url: s.POXURL()})
	}
	return c.JSON(http.StatusBadRequest, v2Error{
		ErrorCode: "InvalidProtocol",
		ErrorMessage: "The given protocol value '" + proto + "' is invalid. Supported values are '" +
			ProtocolActiveSync + "," + ProtocolAutodiscoverV1 + "'",
	})
}

// queryFold returns the query parameter name, matching its name ignoring
// case (clients send Email, email and emailaddress in any case).
func queryFold(c echo.Context, name string) string {
	if v := c.QueryParam(name); v != "" {
		return v
	}
	for k, vs := range c.QueryParams() {
		if strings.EqualFold(k, name) && len(vs) > 0 {
			return vs[0]
		}
	}
	return ""
}
