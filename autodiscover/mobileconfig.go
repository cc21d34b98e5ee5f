package autodiscover

import (
	"crypto/sha1"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/beevik/etree"
	"github.com/labstack/echo/v4"

	"github.com/easd/easd/store"
)

// ErrNoActiveSync is returned by Profile for a user who may not use
// ActiveSync (disabled, or EAS switched off): a profile would set up an
// account that cannot sync.
var ErrNoActiveSync = errors.New("autodiscover: user may not use activesync")

// ContentTypeProfile is the media type iOS and macOS install profiles from.
const ContentTypeProfile = contentTypeAspen

// handleProfile answers GET /autodiscover/easd.mobileconfig: the
// authenticated user's own profile (HTTP Basic with the mail password; the
// login must be the full address). Unsigned: no maintained CMS signing
// module is available to easd, so iOS shows the profile as "Not Signed".
func (s *Service) handleProfile(c echo.Context) error {
	u, err := s.authenticate(c, "")
	if err != nil {
		return writeAuthError(c, err)
	}
	b, err := s.Profile(u)
	if errors.Is(err, ErrNoActiveSync) {
		return c.NoContent(http.StatusForbidden)
	} else if err != nil {
		return err
	}
	h := c.Response().Header()
	h.Set("Cache-Control", "private, no-store")
	h.Set("Content-Disposition", `attachment; filename="`+s.opts.Hostname+`.mobileconfig"`)
	return c.Blob(http.StatusOK, ContentTypeProfile, b)
}

// Profile returns an Apple configuration profile (a property list) with one
// com.apple.eas.account payload for u: Host (with ":port" when not 443),
// SSL, EmailAddress and UserName, and no password (the device asks for it).
// PayloadIdentifier and the PayloadUUIDs are derived from the host and the
// address (UUID version 5), so downloading it again replaces the installed
// profile rather than adding a second account. The profile is unsigned.
func (s *Service) Profile(u store.User) ([]byte, error) {
	if u.Address == "" || u.Disabled || !u.Protocols.EAS {
		return nil, fmt.Errorf("profile for %q: %w", u.Address, ErrNoActiveSync)
	}
	host := hostPort(s.opts.Hostname, s.opts.Port)
	name := s.baseURL() + PathProfile + "?user=" + u.Address
	profileUUID := uuidV5(namespaceURL, name)
	easUUID := uuidV5(namespaceURL, name+"#com.apple.eas.account")
	ident := reverseDNS(s.opts.Hostname) + ".easd." + strings.ToLower(profileUUID)

	eas := []kv{
		{"PayloadType", "com.apple.eas.account"},
		{"PayloadVersion", 1},
		{"PayloadIdentifier", ident + ".eas"},
		{"PayloadUUID", easUUID},
		{"PayloadDisplayName", "Exchange ActiveSync"},
		{"PayloadDescription", "Mail, contacts, calendars, reminders and notes of " + u.Address},
		{"PayloadOrganization", s.opts.Organization},
		{"Host", host},
		{"SSL", true},
		{"EmailAddress", u.Address},
		{"UserName", u.Address},
	}
	top := []kv{
		{"PayloadType", "Configuration"},
		{"PayloadVersion", 1},
		{"PayloadIdentifier", ident},
		{"PayloadUUID", profileUUID},
		{"PayloadDisplayName", displayName(u) + " (" + s.opts.Organization + ")"},
		{"PayloadDescription", "Sets up the Exchange ActiveSync account " + u.Address + " on " + host + ". The device asks for the password."},
		{"PayloadOrganization", s.opts.Organization},
		{"PayloadRemovalDisallowed", false},
		{"PayloadContent", [][]kv{eas}},
	}

	doc := etree.NewDocument()
	doc.CreateProcInst("xml", `version="1.0" encoding="UTF-8"`)
	doc.CreateDirective(`DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd"`)
	pl := doc.CreateElement("plist")
	pl.CreateAttr("version", "1.0")
	writeDict(pl, top)
	doc.Indent(1)
	b, err := doc.WriteToBytes()
	if err != nil {
		return nil, fmt.Errorf("profile for %s: %w", u.Address, err)
	}
	return b, nil
}

// kv is a property list dictionary entry; values are string, int, bool or
// [][]kv (an array of dictionaries).
type kv struct {
	key   string
	value any
}

func writeDict(parent *etree.Element, entries []kv) {
	d := parent.CreateElement("dict")
	for _, e := range entries {
		text(d, "key", e.key)
		switch v := e.value.(type) {
		case string:
			text(d, "string", v)
		case int:
			text(d, "integer", strconv.Itoa(v))
		case bool:
			if v {
				d.CreateElement("true")
			} else {
				d.CreateElement("false")
			}
		case [][]kv:
			arr := d.CreateElement("array")
			for _, sub := range v {
				writeDict(arr, sub)
			}
		default:
			panic(fmt.Sprintf("autodiscover: plist value %T", v))
		}
	}
}

// reverseDNS turns mail.example.com into com.example.mail (an IP address
// or a name without dots is used as it is).
func reverseDNS(host string) string {
	if strings.Contains(host, ":") || !strings.ContainsAny(host, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ") {
		return strings.NewReplacer(":", "-").Replace(host)
	}
	labels := strings.Split(strings.ToLower(host), ".")
	for i, j := 0, len(labels)-1; i < j; i, j = i+1, j-1 {
		labels[i], labels[j] = labels[j], labels[i]
	}
	return strings.Join(labels, ".")
}

// namespaceURL is the RFC 9562 (formerly RFC 4122) name space ID for URLs,
// 6ba7b811-9dad-11d1-80b4-00c04fd430c8.
var namespaceURL = [16]byte{0x6b, 0xa7, 0xb8, 0x11, 0x9d, 0xad, 0x11, 0xd1, 0x80, 0xb4, 0x00, 0xc0, 0x4f, 0xd4, 0x30, 0xc8}

// uuidV5 is the RFC 9562 5.5 name-based UUID (SHA-1) of name in ns, in the
// upper-case form Apple's examples use.
func uuidV5(ns [16]byte, name string) string {
	h := sha1.New()
	h.Write(ns[:])
	h.Write([]byte(name))
	var u [16]byte
	copy(u[:], h.Sum(nil))
	u[6] = u[6]&0x0f | 0x50 // version 5
	u[8] = u[8]&0x3f | 0x80 // variant 10
	return fmt.Sprintf("%X-%X-%X-%X-%X", u[0:4], u[4:6], u[6:8], u[8:10], u[10:16])
}
