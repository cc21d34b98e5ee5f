package admin

import (
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/easd/easd/devices"
	"github.com/easd/easd/policy"
	"github.com/easd/easd/store"
)

// Stable error codes of the API (the "code" member of an error body).
const (
	CodeInvalid         = "invalid_request"   // a malformed or out-of-range input
	CodeUnauthenticated = "unauthenticated"   // no token
	CodeInvalidToken    = "invalid_token"     // a token that does not verify
	CodeSessionExpired  = "session_expired"   // inactivity or absolute timeout
	CodeBadCredentials  = "bad_credentials"   // login with a wrong name or password
	CodeTooManyAttempts = "too_many_attempts" // login throttled; see Retry-After
	CodeForbidden       = "forbidden"         // the role may not do this
	CodeNotFound        = "not_found"
	CodeExists          = "already_exists"
	CodeConflict        = "conflict"
	CodeDeviceWiped     = "device_wiped" // a wiped device stays blocked until removed
	CodeWipeState       = "wipe_state"   // not possible in the device's wipe state
	CodeUnsupportedType = "unsupported_media_type"
	CodeInternal        = "internal_error"
)

// Error is an API error: an HTTP status and the JSON body
// {"code": ..., "message": ...}. Err, the cause, is logged, never sent.
type Error struct {
	Status     int           `json:"-"`
	Code       string        `json:"code"`
	Message    string        `json:"message"`
	RetryAfter time.Duration `json:"-"`
	Err        error         `json:"-"`
}

func (e *Error) Error() string {
	if e.Err != nil {
		return "admin: " + e.Code + ": " + e.Err.Error()
	}
	return "admin: " + e.Code + ": " + e.Message
}

func (e *Error) Unwrap() error { return e.Err }

func errInvalid(msg string) *Error {
	return &Error{Status: http.StatusBadRequest, Code: CodeInvalid, Message: msg}
}

func errForbidden() *Error {
	return &Error{Status: http.StatusForbidden, Code: CodeForbidden, Message: "your role may not do this"}
}

// apiError maps an error of the service or of a backend to the error the
// client gets. Backend messages are not shown: they may name internals.
func apiError(err error) *Error {
	if e, ok := errors.AsType[*Error](err); ok {
		return e
	}
	if msgs := fieldErrors(err); len(msgs) > 0 {
		// Validation messages written for people: "MinDevicePasswordLength: ...".
		return &Error{Status: http.StatusBadRequest, Code: CodeInvalid, Message: strings.Join(msgs, "; "), Err: err}
	}
	e := &Error{Status: http.StatusInternalServerError, Code: CodeInternal, Message: "internal server error", Err: err}
	switch {
	case errors.Is(err, store.ErrNotFound):
		e.Status, e.Code, e.Message = http.StatusNotFound, CodeNotFound, "not found"
	case errors.Is(err, store.ErrExists):
		e.Status, e.Code, e.Message = http.StatusConflict, CodeExists, "already exists"
	case errors.Is(err, devices.ErrWiped):
		e.Status, e.Code, e.Message = http.StatusConflict, CodeDeviceWiped, "the device was wiped: remove the partnership instead"
	case errors.Is(err, devices.ErrWipeState):
		e.Status, e.Code, e.Message = http.StatusConflict, CodeWipeState, "not possible in the device's wipe state"
	case errors.Is(err, store.ErrConflict):
		e.Status, e.Code, e.Message = http.StatusConflict, CodeConflict, "conflicts with the current state"
	case errors.Is(err, store.ErrInvalidAddress):
		e.Status, e.Code, e.Message = http.StatusBadRequest, CodeInvalid, "not a valid email address"
	case errors.Is(err, store.ErrEmptyPassword):
		e.Status, e.Code, e.Message = http.StatusBadRequest, CodeInvalid, "the password must not be empty"
	case errors.Is(err, store.ErrInvalidArgument), errors.Is(err, policy.ErrInvalid):
		e.Status, e.Code, e.Message = http.StatusBadRequest, CodeInvalid, "invalid value"
	}
	return e
}

// fieldErrors returns "Field: message" of every *policy.FieldError in err's
// tree (policy.Validate joins one per invalid field).
func fieldErrors(err error) []string {
	if fe, ok := err.(*policy.FieldError); ok {
		return []string{fe.Field + ": " + fe.Msg}
	}
	var out []string
	switch u := err.(type) {
	case interface{ Unwrap() []error }:
		for _, e := range u.Unwrap() {
			out = append(out, fieldErrors(e)...)
		}
	case interface{ Unwrap() error }:
		if e := u.Unwrap(); e != nil {
			out = fieldErrors(e)
		}
	}
	return out
}

// handleErrors is the error handler of the API group: it writes every error
// a handler returns as JSON and logs the cause of server errors. echo's
// own errors (no route, method not allowed) keep their status.
func (s *Service) handleErrors(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		err := next(c)
		if err == nil {
			return nil
		}
		var e *Error
		if he, ok := errors.AsType[*echo.HTTPError](err); ok {
			e = &Error{Status: he.Code, Code: CodeInvalid, Message: http.StatusText(he.Code), Err: err}
			switch he.Code {
			case http.StatusNotFound:
				e.Code = CodeNotFound
			case http.StatusMethodNotAllowed:
				e.Code = "method_not_allowed"
			}
		} else {
			e = apiError(err)
		}
		log := s.log.With("method", c.Request().Method, "path", c.Path(), "code", e.Code)
		if e.Status >= 500 {
			log.Error("admin api", "err", err)
		} else {
			log.Debug("admin api refused", "err", err)
		}
		if c.Response().Committed {
			return nil
		}
		if e.RetryAfter > 0 {
			c.Response().Header().Set("Retry-After", strconv.Itoa(int((e.RetryAfter+time.Second-1)/time.Second)))
		}
		if e.Status == http.StatusUnauthorized {
			c.Response().Header().Set("WWW-Authenticate", `Bearer realm="easd"`)
		}
		if err := c.JSON(e.Status, e); err != nil {
			log.Debug("write error response", "err", err)
		}
		return nil
	}
}
