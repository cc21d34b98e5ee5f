package admin

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/labstack/echo/v4"

	"github.com/easd/easd/store"
)

// Session limits.
const (
	DefaultInactivityTimeout = 6 * time.Hour
	MinInactivityTimeout     = 5 * time.Minute
	MaxInactivityTimeout     = 8 * time.Hour
	// AbsoluteTimeout ends every session this long after login, however
	// active it is.
	AbsoluteTimeout = 8 * time.Hour
)

// Response headers that carry the refreshed token.
const (
	HeaderRefreshedToken   = "X-Refreshed-Token"
	HeaderRefreshedExpires = "X-Refreshed-Token-Expires"
)

const tokenIssuer = "easd-admin"

// claims is what a token says.
type claims struct {
	Role     string `json:"role"`
	AuthTime int64  `json:"auth_time"` // login, Unix seconds
	jwt.RegisteredClaims
}

// Principal is the authenticated account of a request.
type Principal struct {
	Name     string
	Role     string
	AuthTime time.Time
	Remote   netip.Addr
}

// Token is a signed session token and when it expires.
type Token struct {
	Token     string    `json:"token"`
	ExpiresAt time.Time `json:"expires_at"`
	Role      string    `json:"role"`
}

// issue signs a token for name that expires at the earlier of now plus the
// inactivity timeout and authTime plus AbsoluteTimeout.
func (s *Service) issue(name, role string, authTime time.Time) (Token, error) {
	now := s.now()
	exp := now.Add(s.inactivity)
	if abs := authTime.Add(AbsoluteTimeout); abs.Before(exp) {
		exp = abs
	}
	// NumericDate has second precision: round down so a token never
	// outlives its limits.
	exp = exp.Truncate(time.Second)
	c := claims{Role: role, AuthTime: authTime.Unix(), RegisteredClaims: jwt.RegisteredClaims{
		Issuer:    tokenIssuer,
		Subject:   name,
		IssuedAt:  jwt.NewNumericDate(now),
		ExpiresAt: jwt.NewNumericDate(exp),
	}}
	tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, c).SignedString(s.keys[0])
	if err != nil {
		return Token{}, fmt.Errorf("sign token: %w", err)
	}
	return Token{Token: tok, ExpiresAt: exp.UTC(), Role: role}, nil
}

// verify checks a token's signature (current or previous key) and its
// limits, and returns its claims.
func (s *Service) verify(tok string) (*claims, error) {
	keys := make([]jwt.VerificationKey, len(s.keys))
	for i, k := range s.keys {
		keys[i] = k
	}
	var c claims
	_, err := jwt.ParseWithClaims(tok, &c, func(*jwt.Token) (any, error) {
		return jwt.VerificationKeySet{Keys: keys}, nil
	}, jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}), jwt.WithTimeFunc(s.now),
		jwt.WithExpirationRequired(), jwt.WithIssuer(tokenIssuer), jwt.WithIssuedAt())
	if errors.Is(err, jwt.ErrTokenExpired) {
		return nil, &Error{Status: http.StatusUnauthorized, Code: CodeSessionExpired, Message: "the session expired: log in again", Err: err}
	} else if err != nil {
		return nil, &Error{Status: http.StatusUnauthorized, Code: CodeInvalidToken, Message: "invalid token", Err: err}
	}
	// The absolute limit, checked on its own too: exp already respects it
	// for tokens we issued, this holds even if the timeout is lowered.
	if !s.now().Before(time.Unix(c.AuthTime, 0).Add(AbsoluteTimeout)) {
		return nil, &Error{Status: http.StatusUnauthorized, Code: CodeSessionExpired, Message: "the session expired: log in again"}
	}
	return &c, nil
}

// Login checks an account's password and starts a session. The guard
// throttles failures per account and per address.
func (s *Service) Login(ctx context.Context, name, password string, remote netip.Addr) (Token, error) {
	if name == "" || password == "" {
		return Token{}, errInvalid("name and password are required")
	}
	if len(name) > 256 || len(password) > 1024 {
		return Token{}, errInvalid("name or password too long")
	}
	if d := s.guard.Allow(name, remote); d > 0 {
		return Token{}, &Error{Status: http.StatusTooManyRequests, Code: CodeTooManyAttempts,
			Message: "too many failed logins: try again later", RetryAfter: d}
	}
	a, err := s.st.AuthenticateAdmin(ctx, name, password)
	if errors.Is(err, store.ErrBadCredentials) {
		s.guard.Failed(name, remote)
		s.audit(ctx, Principal{Name: name, Remote: remote}, "admin.login-failed", name, "")
		return Token{}, &Error{Status: http.StatusUnauthorized, Code: CodeBadCredentials, Message: "wrong name or password", Err: err}
	} else if err != nil {
		return Token{}, err
	}
	tok, err := s.issue(a.Name, a.Role, s.now())
	if err != nil {
		return Token{}, err
	}
	s.audit(ctx, Principal{Name: a.Name, Role: a.Role, Remote: remote}, "admin.login", a.Name, "role "+a.Role)
	return tok, nil
}

// authenticate is the middleware of the routes that need a token. It
// checks the token, loads the account as stored now, refuses a role that
// may not use the route (403 and an audit row), and sets the refreshed
// token on the response.
func (s *Service) authenticate(adminOnly bool) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			ctx := c.Request().Context()
			h := c.Request().Header.Get(echo.HeaderAuthorization)
			scheme, tok, ok := strings.Cut(h, " ")
			if !ok || !strings.EqualFold(scheme, "Bearer") || tok == "" {
				return &Error{Status: http.StatusUnauthorized, Code: CodeUnauthenticated, Message: "a bearer token is required"}
			}
			cl, err := s.verify(strings.TrimSpace(tok))
			if err != nil {
				return err
			}
			a, err := s.st.AdminByName(ctx, cl.Subject)
			if errors.Is(err, store.ErrNotFound) {
				return &Error{Status: http.StatusUnauthorized, Code: CodeInvalidToken, Message: "the account no longer exists", Err: err}
			} else if err != nil {
				return err
			}
			p := Principal{Name: a.Name, Role: a.Role, AuthTime: time.Unix(cl.AuthTime, 0), Remote: s.remote(c)}
			if adminOnly && p.Role != store.RoleAdmin {
				s.audit(ctx, p, "api.forbidden", c.Request().Method+" "+c.Path(), "role "+p.Role)
				return errForbidden()
			}
			nt, err := s.issue(p.Name, p.Role, p.AuthTime)
			if err != nil {
				return err
			}
			c.Response().Header().Set(HeaderRefreshedToken, nt.Token)
			c.Response().Header().Set(HeaderRefreshedExpires, nt.ExpiresAt.Format(time.RFC3339))
			c.Set(principalKey, p)
			return next(c)
		}
	}
}

const principalKey = "admin.principal"

func principal(c echo.Context) Principal {
	p, _ := c.Get(principalKey).(Principal)
	return p
}

// remote is the client's address: the echo IPExtractor's answer when the
// operator configured one (a trusted proxy), the TCP peer otherwise. echo's
// default RealIP believes X-Forwarded-For from anyone, which would let an
// attacker pick his throttle key and forge the audit log's address.
func (s *Service) remote(c echo.Context) netip.Addr {
	var host string
	if c.Echo().IPExtractor != nil {
		host = c.RealIP()
	} else {
		h, _, err := net.SplitHostPort(c.Request().RemoteAddr)
		if err != nil {
			h = c.Request().RemoteAddr
		}
		host = h
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Addr{}
	}
	return a.Unmap()
}
