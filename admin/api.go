package admin

import (
	"bytes"
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/easd/easd/policy"
	"github.com/easd/easd/store"
)

// Prefix is the path of the API.
const Prefix = "/api/v1"

//go:embed openapi.json
var openAPI []byte

// access says who may call a route.
type access int

const (
	public    access = iota // no token (login, the OpenAPI document)
	anyRole                 // admin and helpdesk
	adminOnly               // admin
)

type route struct {
	method, path string
	access       access
	handle       func(s *Service, c echo.Context) error
}

// routes is the API. openapi.json documents every one of them; a test keeps
// the two in sync.
var routes = []route{
	{http.MethodGet, "/openapi.json", public, (*Service).getOpenAPI},
	{http.MethodPost, "/login", public, (*Service).postLogin},
	{http.MethodGet, "/session", anyRole, (*Service).getSession},
	{http.MethodGet, "/stats", anyRole, (*Service).getStats},

	{http.MethodGet, "/users", anyRole, (*Service).listUsers},
	{http.MethodPost, "/users", adminOnly, (*Service).createUser},
	{http.MethodGet, "/users/:address", anyRole, (*Service).getUser},
	{http.MethodPost, "/users/:address/disable", adminOnly, (*Service).disableUser},
	{http.MethodPost, "/users/:address/enable", adminOnly, (*Service).enableUser},
	{http.MethodPatch, "/users/:address/protocols", adminOnly, (*Service).setProtocols},
	{http.MethodPost, "/users/:address/password", adminOnly, (*Service).resetPassword},
	{http.MethodGet, "/users/:address/policy", anyRole, (*Service).getUserPolicy},
	{http.MethodPut, "/users/:address/policy", adminOnly, (*Service).assignPolicy},

	{http.MethodGet, "/devices", anyRole, (*Service).listDevices},
	{http.MethodGet, "/devices/:id", anyRole, (*Service).getDevice},
	{http.MethodPost, "/devices/:id/allow", anyRole, (*Service).allowDevice},
	{http.MethodPost, "/devices/:id/block", anyRole, (*Service).blockDevice},
	{http.MethodPost, "/devices/:id/quarantine", adminOnly, (*Service).quarantineDevice},
	{http.MethodPost, "/devices/:id/reset", adminOnly, (*Service).resetDevice},
	{http.MethodPost, "/devices/:id/wipe", anyRole, (*Service).wipeDevice},
	{http.MethodPost, "/devices/:id/cancel-wipe", anyRole, (*Service).cancelWipe},
	{http.MethodDelete, "/devices/:id", adminOnly, (*Service).removeDevice},
	{http.MethodGet, "/devices/:id/history", anyRole, (*Service).deviceHistory},
	{http.MethodGet, "/devices/:id/traces", anyRole, (*Service).listTraces},
	{http.MethodPut, "/devices/:id/trace", adminOnly, (*Service).setTrace},

	{http.MethodGet, "/rules", adminOnly, (*Service).listRules},
	{http.MethodPost, "/rules", adminOnly, (*Service).addRule},
	{http.MethodDelete, "/rules/:id", adminOnly, (*Service).removeRule},

	{http.MethodGet, "/policies", adminOnly, (*Service).listPolicies},
	{http.MethodPost, "/policies", adminOnly, (*Service).createPolicy},
	{http.MethodGet, "/policies/:id", adminOnly, (*Service).getPolicy},
	{http.MethodPut, "/policies/:id", adminOnly, (*Service).updatePolicy},

	{http.MethodGet, "/outbound", adminOnly, (*Service).listOutbound},
	{http.MethodGet, "/audit", adminOnly, (*Service).listAudit},
}

// queryParams are the query parameters each route accepts ("METHOD /path"
// as in routes); a route not listed accepts none. openapi.json documents
// exactly these (a test compares them).
var queryParams = map[string][]string{
	"GET /users": {"q", "limit", "offset"},
	"GET /devices": {"user", "state", "type", "model", "os", "seen_before", "seen_after", "compliance",
		"wipe", "wipe_pending", "q", "sort", "limit", "offset"},
	"GET /devices/:id/history": {"limit"},
	"GET /devices/:id/traces":  {"limit"},
	"GET /outbound":            {"limit"},
	"GET /audit":               {"actor", "action", "target", "since", "until", "limit", "offset"},
}

// Register adds the API's routes under Prefix to e.
func (s *Service) Register(e *echo.Echo) {
	g := e.Group(Prefix, s.handleErrors, noStore)
	for _, r := range routes {
		var mw []echo.MiddlewareFunc
		if r.access != public {
			mw = append(mw, s.authenticate(r.access == adminOnly))
		}
		params := queryParams[r.method+" "+r.path]
		g.Add(r.method, r.path, func(c echo.Context) error {
			// After authentication: an anonymous caller learns nothing.
			if err := onlyParams(c, params...); err != nil {
				return err
			}
			return r.handle(s, c)
		}, mw...)
	}
}

// noStore keeps answers that carry tokens and personal data out of caches.
func noStore(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		h := c.Response().Header()
		h.Set("Cache-Control", "no-store")
		h.Set("X-Content-Type-Options", "nosniff")
		return next(c)
	}
}

// maxBody bounds a request body.
const maxBody = 64 << 10

// bind decodes a JSON body into v: unknown members, trailing data, a
// missing or other media type and bodies over maxBody are refused.
func bind(c echo.Context, v any) error {
	mt, _, err := mime.ParseMediaType(c.Request().Header.Get(echo.HeaderContentType))
	if err != nil || mt != echo.MIMEApplicationJSON {
		return &Error{Status: http.StatusUnsupportedMediaType, Code: CodeUnsupportedType, Message: "the body must be application/json"}
	}
	body := http.MaxBytesReader(c.Response(), c.Request().Body, maxBody)
	dec := json.NewDecoder(body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			return &Error{Status: http.StatusRequestEntityTooLarge, Code: CodeInvalid, Message: "the body is too large", Err: err}
		}
		return &Error{Status: http.StatusBadRequest, Code: CodeInvalid, Message: "the body is not the expected JSON object", Err: err}
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return errInvalid("the body has data after the JSON object")
	}
	return nil
}

func queryInt(c echo.Context, name string) (int, error) {
	v := c.QueryParam(name)
	if v == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		return 0, errInvalid(name + " must be an integer")
	}
	return n, nil
}

// queryLimit reads ?limit: 0 when absent, an error when given but not a positive integer
// (the service bounds it by maxPageLimit).
func queryLimit(c echo.Context) (int, error) {
	limit, err := queryInt(c, "limit")
	if err != nil {
		return 0, err
	}
	if c.QueryParam("limit") != "" && limit == 0 {
		return 0, errInvalid(fmt.Sprintf("limit must be 1–%d", maxPageLimit))
	}
	return limit, nil
}

func queryTime(c echo.Context, name string) (time.Time, error) {
	v := c.QueryParam(name)
	if v == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339, v)
	if err != nil {
		return time.Time{}, errInvalid(name + " must be an RFC 3339 time")
	}
	return t, nil
}

func page(c echo.Context) (Page, error) {
	limit, err := queryInt(c, "limit")
	if err != nil {
		return Page{}, err
	}
	offset, err := queryInt(c, "offset")
	if err != nil {
		return Page{}, err
	}
	if c.QueryParam("limit") != "" && limit == 0 {
		return Page{}, errInvalid(fmt.Sprintf("limit must be 1–%d", maxPageLimit))
	}
	return Page{Limit: limit, Offset: offset}, nil
}

// onlyParams refuses a query parameter not in names, and one given twice:
// a misspelt filter must not silently list everything, nor a stray one go
// unnoticed.
func onlyParams(c echo.Context, names ...string) error {
	for k, vs := range c.QueryParams() {
		if !slices.Contains(names, k) {
			if len(names) == 0 {
				return errInvalid(fmt.Sprintf("unknown query parameter %q (this endpoint takes none)", k))
			}
			return errInvalid(fmt.Sprintf("unknown query parameter %q (accepted: %s)", k, strings.Join(names, ", ")))
		}
		if len(vs) > 1 {
			return errInvalid(fmt.Sprintf("query parameter %q is given %d times", k, len(vs)))
		}
	}
	return nil
}

// pathAddress is the :address of the path, unescaped: echo routes on the
// escaped path, so "alice%40example.com" arrives as it was sent. A bad
// escape is left as it is and then finds no user.
func pathAddress(c echo.Context) string {
	a := c.Param("address")
	if u, err := url.PathUnescape(a); err == nil {
		return u
	}
	return a
}

func pathID(c echo.Context) (int64, error) {
	id, err := strconv.ParseInt(c.Param("id"), 10, 64)
	if err != nil || id <= 0 {
		return 0, &Error{Status: http.StatusNotFound, Code: CodeNotFound, Message: "not found"}
	}
	return id, nil
}

// JSON views. Times are RFC 3339 in UTC; a zero time is omitted.

type protocolsJSON struct {
	EAS  bool `json:"eas"`
	IMAP bool `json:"imap"`
	POP3 bool `json:"pop3"`
	SMTP bool `json:"smtp"`
}

type userJSON struct {
	ID          int64         `json:"id"`
	Address     string        `json:"address"`
	DisplayName string        `json:"display_name"`
	Disabled    bool          `json:"disabled"`
	Protocols   protocolsJSON `json:"protocols"`
	CreatedAt   time.Time     `json:"created_at"`
}

func userView(u store.User) userJSON {
	return userJSON{ID: int64(u.ID), Address: u.Address, DisplayName: u.DisplayName, Disabled: u.Disabled,
		Protocols: protocolsJSON{EAS: u.Protocols.EAS, IMAP: u.Protocols.IMAP, POP3: u.Protocols.POP3, SMTP: u.Protocols.SMTP},
		CreatedAt: u.CreatedAt.UTC()}
}

type listJSON[T any] struct {
	Items []T `json:"items"`
	Total int `json:"total"`
}

func optTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	u := t.UTC()
	return &u
}

type deviceJSON struct {
	ID              int64      `json:"id"`
	UserID          int64      `json:"user_id"`
	Address         string     `json:"address"`
	DeviceID        string     `json:"device_id"`
	DeviceType      string     `json:"device_type"`
	UserAgent       string     `json:"user_agent"`
	ProtocolVersion string     `json:"protocol_version"`
	Model           string     `json:"model"`
	IMEI            string     `json:"imei"`
	FriendlyName    string     `json:"friendly_name"`
	OS              string     `json:"os"`
	OSLanguage      string     `json:"os_language"`
	PhoneNumber     string     `json:"phone_number"`
	MobileOperator  string     `json:"mobile_operator"`
	FirstSeen       *time.Time `json:"first_seen,omitempty"`
	LastSeen        *time.Time `json:"last_seen,omitempty"`
	PolicyCompliant bool       `json:"policy_compliant"`
	PolicyName      string     `json:"policy_name"` // the policy in force for the user
	PolicyKey       uint32     `json:"policy_key"`
	PolicyID        int64      `json:"policy_id"` // the policy the device acknowledged, and its version
	PolicyVersion   int64      `json:"policy_version"`
	AckPolicyName   string     `json:"acknowledged_policy_name"`
	ProvisionStatus int        `json:"provision_status"`
	ProvisionedAt   *time.Time `json:"provisioned_at,omitempty"`
	AccessState     string     `json:"access_state"`
	AccessReason    string     `json:"access_reason"`
	AccessSetBy     string     `json:"access_set_by"`
	AccessSetAt     *time.Time `json:"access_set_at,omitempty"`
	WipeState       string     `json:"wipe_state"`
	WipeAccountOnly bool       `json:"wipe_account_only"`
	WipeRequestedBy string     `json:"wipe_requested_by"`
	WipeRequestedAt *time.Time `json:"wipe_requested_at,omitempty"`
	WipeSentAt      *time.Time `json:"wipe_sent_at,omitempty"`
	WipeAckedAt     *time.Time `json:"wipe_acked_at,omitempty"`
	WipeAckStatus   int        `json:"wipe_ack_status"`
	TraceEnabled    bool       `json:"trace_enabled"`
}

func deviceView(d DeviceWithUser) deviceJSON {
	return deviceJSON{ID: int64(d.ID), UserID: int64(d.User), Address: d.Address, DeviceID: d.DeviceID,
		DeviceType: d.DeviceType, UserAgent: d.UserAgent, ProtocolVersion: d.ProtocolVersion,
		Model: d.Info.Model, IMEI: d.Info.IMEI, FriendlyName: d.Info.FriendlyName, OS: d.Info.OS,
		OSLanguage: d.Info.OSLanguage, PhoneNumber: d.Info.PhoneNumber, MobileOperator: d.Info.MobileOperator,
		FirstSeen: optTime(d.FirstSeen), LastSeen: optTime(d.LastSeen), PolicyCompliant: d.Compliant,
		PolicyName: d.PolicyName, PolicyKey: d.PolicyKey, PolicyID: int64(d.PolicyID), PolicyVersion: d.PolicyVersion,
		AckPolicyName:   d.AckPolicyName,
		ProvisionStatus: d.ProvisionStatus, ProvisionedAt: optTime(d.ProvisionedAt),
		AccessState: d.AccessState, AccessReason: d.AccessReason, AccessSetBy: d.AccessSetBy,
		AccessSetAt: optTime(d.AccessSetAt), WipeState: d.WipeState, WipeAccountOnly: d.WipeAccountOnly,
		WipeRequestedBy: d.WipeRequestedBy, WipeRequestedAt: optTime(d.WipeRequestedAt),
		WipeSentAt: optTime(d.WipeSentAt), WipeAckedAt: optTime(d.WipeAckedAt), WipeAckStatus: d.WipeAckStatus,
		TraceEnabled: d.TraceEnabled}
}

type policyJSON struct {
	ID       int64         `json:"id"`
	Name     string        `json:"name"`
	Version  int64         `json:"version"`
	Settings policy.Policy `json:"settings"`
}

func policyView(p policy.Policy) policyJSON {
	return policyJSON{ID: int64(p.ID), Name: p.Name, Version: p.Version, Settings: p}
}

type recipientJSON struct {
	Address   string    `json:"address"`
	Local     bool      `json:"local"`
	Status    string    `json:"status"`
	Attempts  int       `json:"attempts"`
	LastError string    `json:"last_error"`
	UpdatedAt time.Time `json:"updated_at"`
}

type outboundJSON struct {
	ID           int64           `json:"id"`
	UserID       int64           `json:"user_id"`
	EnvelopeFrom string          `json:"envelope_from"`
	MessageID    string          `json:"message_id"`
	Size         int64           `json:"size"`
	CreatedAt    time.Time       `json:"created_at"`
	Recipients   []recipientJSON `json:"recipients"`
}

type auditJSON struct {
	At         time.Time `json:"at"`
	Actor      string    `json:"actor"`
	Action     string    `json:"action"`
	Target     string    `json:"target"`
	Detail     string    `json:"detail"`
	RemoteAddr string    `json:"remote_addr"`
}

// Handlers: decode, call the service, encode.

func (s *Service) getOpenAPI(c echo.Context) error {
	return c.JSONBlob(http.StatusOK, openAPI)
}

func (s *Service) postLogin(c echo.Context) error {
	var req struct {
		Name     string `json:"name"`
		Password string `json:"password"`
	}
	if err := bind(c, &req); err != nil {
		return err
	}
	tok, err := s.Login(c.Request().Context(), req.Name, req.Password, s.remote(c))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, tok)
}

func (s *Service) getSession(c echo.Context) error {
	p := principal(c)
	return c.JSON(http.StatusOK, map[string]any{"name": p.Name, "role": p.Role, "auth_time": p.AuthTime.UTC(),
		"absolute_expiry": p.AuthTime.Add(AbsoluteTimeout).UTC(), "inactivity_timeout_seconds": int(s.inactivity / time.Second)})
}

func (s *Service) listUsers(c echo.Context) error {
	p, err := page(c)
	if err != nil {
		return err
	}
	users, n, err := s.Users(c.Request().Context(), c.QueryParam("q"), p)
	if err != nil {
		return err
	}
	out := listJSON[userJSON]{Items: make([]userJSON, len(users)), Total: n}
	for i, u := range users {
		out.Items[i] = userView(u)
	}
	return c.JSON(http.StatusOK, out)
}

func (s *Service) createUser(c echo.Context) error {
	var req struct {
		Address     string `json:"address"`
		DisplayName string `json:"display_name"`
		Password    string `json:"password"`
	}
	if err := bind(c, &req); err != nil {
		return err
	}
	u, err := s.CreateUser(c.Request().Context(), principal(c), store.NewUser{Address: req.Address, DisplayName: req.DisplayName, Password: req.Password})
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, userView(u))
}

func (s *Service) getUser(c echo.Context) error {
	u, err := s.User(c.Request().Context(), pathAddress(c))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, userView(u))
}

func (s *Service) setDisabled(c echo.Context, disabled bool) error {
	u, err := s.SetUserDisabled(c.Request().Context(), principal(c), pathAddress(c), disabled)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, userView(u))
}

func (s *Service) disableUser(c echo.Context) error { return s.setDisabled(c, true) }
func (s *Service) enableUser(c echo.Context) error  { return s.setDisabled(c, false) }

func (s *Service) setProtocols(c echo.Context) error {
	var req struct {
		EAS  *bool `json:"eas"`
		IMAP *bool `json:"imap"`
		POP3 *bool `json:"pop3"`
		SMTP *bool `json:"smtp"`
	}
	if err := bind(c, &req); err != nil {
		return err
	}
	u, err := s.SetUserProtocols(c.Request().Context(), principal(c), pathAddress(c),
		store.ProtocolsUpdate{EAS: req.EAS, IMAP: req.IMAP, POP3: req.POP3, SMTP: req.SMTP})
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, userView(u))
}

func (s *Service) resetPassword(c echo.Context) error {
	var req struct {
		Password string `json:"password"`
	}
	if err := bind(c, &req); err != nil {
		return err
	}
	if err := s.ResetUserPassword(c.Request().Context(), principal(c), pathAddress(c), req.Password); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

func (s *Service) getUserPolicy(c echo.Context) error {
	p, err := s.UserPolicy(c.Request().Context(), pathAddress(c))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, policyView(p))
}

func (s *Service) assignPolicy(c echo.Context) error {
	var req struct {
		PolicyID int64 `json:"policy_id"`
	}
	if err := bind(c, &req); err != nil {
		return err
	}
	p, err := s.AssignPolicy(c.Request().Context(), principal(c), pathAddress(c), store.PolicyID(req.PolicyID))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, policyView(p))
}

func (s *Service) listDevices(c echo.Context) error {
	p, err := page(c)
	if err != nil {
		return err
	}
	f := DeviceFilter{User: c.QueryParam("user"), AccessState: c.QueryParam("state"), DeviceType: c.QueryParam("type"),
		Model: c.QueryParam("model"), OS: c.QueryParam("os"), Compliance: c.QueryParam("compliance"),
		Wipe: c.QueryParam("wipe"), Search: c.QueryParam("q"), Sort: c.QueryParam("sort")}
	if f.SeenBefore, err = queryTime(c, "seen_before"); err != nil {
		return err
	}
	if f.SeenAfter, err = queryTime(c, "seen_after"); err != nil {
		return err
	}
	switch c.QueryParam("wipe_pending") {
	case "", "false":
	case "true":
		if f.Wipe != "" && f.Wipe != WipeFilterPending {
			return errInvalid("wipe_pending=true contradicts wipe=" + f.Wipe)
		}
		f.Wipe = WipeFilterPending
	default:
		return errInvalid("wipe_pending must be true or false")
	}
	devs, n, err := s.Devices(c.Request().Context(), f, p)
	if err != nil {
		return err
	}
	out := listJSON[deviceJSON]{Items: make([]deviceJSON, len(devs)), Total: n}
	for i, d := range devs {
		out.Items[i] = deviceView(d)
	}
	return c.JSON(http.StatusOK, out)
}

func (s *Service) getDevice(c echo.Context) error {
	id, err := pathID(c)
	if err != nil {
		return err
	}
	d, err := s.DeviceDetail(c.Request().Context(), store.PartnershipID(id))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, deviceDetailJSON{deviceJSON: deviceView(d.DeviceWithUser),
		LikelySuccessors: likelyViews(d.Successors), LikelyPredecessor: likelyViews(d.Predecessors)})
}

func (s *Service) setAccess(c echo.Context, state string) error {
	id, err := pathID(c)
	if err != nil {
		return err
	}
	d, err := s.SetDeviceAccess(c.Request().Context(), principal(c), store.PartnershipID(id), state)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, deviceView(d))
}

func (s *Service) allowDevice(c echo.Context) error { return s.setAccess(c, store.AccessAllowed) }
func (s *Service) blockDevice(c echo.Context) error { return s.setAccess(c, store.AccessBlocked) }
func (s *Service) quarantineDevice(c echo.Context) error {
	return s.setAccess(c, store.AccessQuarantined)
}

func (s *Service) resetDevice(c echo.Context) error {
	id, err := pathID(c)
	if err != nil {
		return err
	}
	d, err := s.ResetDeviceAccess(c.Request().Context(), principal(c), store.PartnershipID(id))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, deviceView(d))
}

func (s *Service) wipeDevice(c echo.Context) error {
	id, err := pathID(c)
	if err != nil {
		return err
	}
	var req struct {
		AccountOnly bool `json:"account_only"`
	}
	if c.Request().ContentLength != 0 {
		if err := bind(c, &req); err != nil {
			return err
		}
	}
	d, err := s.RequestWipe(c.Request().Context(), principal(c), store.PartnershipID(id), req.AccountOnly)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, deviceView(d))
}

func (s *Service) cancelWipe(c echo.Context) error {
	id, err := pathID(c)
	if err != nil {
		return err
	}
	d, err := s.CancelWipe(c.Request().Context(), principal(c), store.PartnershipID(id))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, deviceView(d))
}

func (s *Service) removeDevice(c echo.Context) error {
	id, err := pathID(c)
	if err != nil {
		return err
	}
	if err := s.RemoveDevice(c.Request().Context(), principal(c), store.PartnershipID(id)); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

func (s *Service) listPolicies(c echo.Context) error {
	ps, err := s.Policies(c.Request().Context())
	if err != nil {
		return err
	}
	out := listJSON[policyJSON]{Items: make([]policyJSON, len(ps)), Total: len(ps)}
	for i, p := range ps {
		out.Items[i] = policyView(p)
	}
	return c.JSON(http.StatusOK, out)
}

func (s *Service) getPolicy(c echo.Context) error {
	id, err := pathID(c)
	if err != nil {
		return err
	}
	p, err := s.Policy(c.Request().Context(), store.PolicyID(id))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, policyView(p))
}

// policyRequest is the body of POST and PUT /policies: a name and the
// EASProvisionDoc settings (omitted settings take policy.Default's values).
type policyRequest struct {
	Name     string          `json:"name"`
	Settings json.RawMessage `json:"settings"`
}

func (r policyRequest) policy() (policy.Policy, error) {
	p := policy.Default()
	if len(r.Settings) > 0 {
		dec := json.NewDecoder(bytes.NewReader(r.Settings))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&p); err != nil {
			return policy.Policy{}, &Error{Status: http.StatusBadRequest, Code: CodeInvalid, Message: "settings must be an object of EASProvisionDoc settings", Err: err}
		}
	}
	p.Name = r.Name
	return p, nil
}

func (s *Service) createPolicy(c echo.Context) error {
	var req policyRequest
	if err := bind(c, &req); err != nil {
		return err
	}
	p, err := req.policy()
	if err != nil {
		return err
	}
	np, err := s.CreatePolicy(c.Request().Context(), principal(c), p)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, policyView(np))
}

func (s *Service) updatePolicy(c echo.Context) error {
	id, err := pathID(c)
	if err != nil {
		return err
	}
	var req policyRequest
	if err := bind(c, &req); err != nil {
		return err
	}
	cur, err := s.Policy(c.Request().Context(), store.PolicyID(id))
	if err != nil {
		return err
	}
	if req.Name != "" && req.Name != cur.Name {
		return errInvalid("a policy cannot be renamed")
	}
	p, err := req.policy()
	if err != nil {
		return err
	}
	p.ID, p.Name = cur.ID, cur.Name
	np, err := s.UpdatePolicy(c.Request().Context(), principal(c), p)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, policyView(np))
}

func (s *Service) listOutbound(c echo.Context) error {
	limit, err := queryLimit(c)
	if err != nil {
		return err
	}
	msgs, err := s.Outbound(c.Request().Context(), limit)
	if err != nil {
		return err
	}
	out := listJSON[outboundJSON]{Items: make([]outboundJSON, len(msgs)), Total: len(msgs)}
	for i, m := range msgs {
		o := outboundJSON{ID: m.ID, UserID: int64(m.User), EnvelopeFrom: m.EnvelopeFrom, MessageID: m.MessageID,
			Size: m.Size, CreatedAt: m.CreatedAt.UTC(), Recipients: make([]recipientJSON, len(m.Recipients))}
		for j, r := range m.Recipients {
			o.Recipients[j] = recipientJSON{Address: r.Address, Local: r.Local, Status: r.Status, Attempts: r.Attempts,
				LastError: r.LastError, UpdatedAt: r.UpdatedAt.UTC()}
		}
		out.Items[i] = o
	}
	return c.JSON(http.StatusOK, out)
}

func auditView(r store.AuditEntry) auditJSON {
	return auditJSON{At: r.At.UTC(), Actor: r.Actor, Action: r.Action, Target: r.Target, Detail: r.Detail, RemoteAddr: r.RemoteAddr}
}

func (s *Service) deviceHistory(c echo.Context) error {
	return deviceRows(c, s.DeviceHistory, auditView)
}

// deviceRows answers a GET of one device's rows (its history, its traces): the device from
// the path, at most ?limit rows from list (all when absent), each shown through view.
func deviceRows[T, J any](c echo.Context, list func(context.Context, store.PartnershipID, int) ([]T, error), view func(T) J) error {
	id, err := pathID(c)
	if err != nil {
		return err
	}
	limit, err := queryLimit(c)
	if err != nil {
		return err
	}
	rows, err := list(c.Request().Context(), store.PartnershipID(id), limit)
	if err != nil {
		return err
	}
	out := listJSON[J]{Items: make([]J, len(rows)), Total: len(rows)}
	for i, r := range rows {
		out.Items[i] = view(r)
	}
	return c.JSON(http.StatusOK, out)
}

type ruleJSON struct {
	ID        int64     `json:"id"`
	Field     string    `json:"field"`
	Match     string    `json:"match"`
	Pattern   string    `json:"pattern"`
	Action    string    `json:"action"`
	CreatedBy string    `json:"created_by"`
	CreatedAt time.Time `json:"created_at"`
}

func ruleView(r store.DeviceRule) ruleJSON {
	return ruleJSON{ID: int64(r.ID), Field: r.Field, Match: r.Match, Pattern: r.Pattern, Action: r.Action,
		CreatedBy: r.CreatedBy, CreatedAt: r.CreatedAt.UTC()}
}

func (s *Service) listRules(c echo.Context) error {
	rules, err := s.Rules(c.Request().Context())
	if err != nil {
		return err
	}
	out := listJSON[ruleJSON]{Items: make([]ruleJSON, len(rules)), Total: len(rules)}
	for i, r := range rules {
		out.Items[i] = ruleView(r)
	}
	return c.JSON(http.StatusOK, out)
}

func (s *Service) addRule(c echo.Context) error {
	var req struct {
		Field   string `json:"field"`
		Match   string `json:"match"`
		Pattern string `json:"pattern"`
		Action  string `json:"action"`
	}
	if err := bind(c, &req); err != nil {
		return err
	}
	r, err := s.AddRule(c.Request().Context(), principal(c), store.DeviceRule{Field: req.Field, Match: req.Match, Pattern: req.Pattern, Action: req.Action})
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, ruleView(r))
}

func (s *Service) removeRule(c echo.Context) error {
	id, err := pathID(c)
	if err != nil {
		return err
	}
	if err := s.RemoveRule(c.Request().Context(), principal(c), store.RuleID(id)); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

func (s *Service) listAudit(c echo.Context) error {
	p, err := page(c)
	if err != nil {
		return err
	}
	f := store.AuditFilter{Actor: c.QueryParam("actor"), Action: c.QueryParam("action"), Target: c.QueryParam("target")}
	if f.Since, err = queryTime(c, "since"); err != nil {
		return err
	}
	if f.Until, err = queryTime(c, "until"); err != nil {
		return err
	}
	rows, n, err := s.Audit(c.Request().Context(), f, p)
	if err != nil {
		return err
	}
	out := listJSON[auditJSON]{Items: make([]auditJSON, len(rows)), Total: n}
	for i, r := range rows {
		out.Items[i] = auditView(r)
	}
	return c.JSON(http.StatusOK, out)
}
