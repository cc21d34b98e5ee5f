package admin

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/labstack/echo/v4"
	"github.com/stretchr/testify/require"

	"github.com/easd/easd/devices"
	"github.com/easd/easd/store"
	"github.com/easd/easd/store/storetest"
)

// BenchmarkVerifyAndRefresh is the token work of every authenticated
// request: verify one token, sign its successor.
func BenchmarkVerifyAndRefresh(b *testing.B) {
	st := storetest.Open(b, storetest.SQLiteURL(b))
	s, err := New(Options{Store: st, Devices: devices.New(st, devices.Options{}), SigningKey: testKey})
	require.NoError(b, err)
	tok, err := s.issue("root", store.RoleAdmin, s.now())
	require.NoError(b, err)
	b.ReportAllocs()
	b.SetBytes(int64(len(tok.Token)))
	for b.Loop() {
		c, err := s.verify(tok.Token)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := s.issue(c.Subject, c.Role, s.now()); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSession is a whole authenticated request through echo (no
// network): token, account lookup in SQLite, refresh, JSON answer.
func BenchmarkSession(b *testing.B) {
	st := storetest.Open(b, storetest.SQLiteURL(b))
	require.NoError(b, st.Migrate(b.Context()))
	_, err := st.CreateAdmin(b.Context(), "root", store.RoleAdmin, "pw")
	require.NoError(b, err)
	s, err := New(Options{Store: st, Devices: devices.New(st, devices.Options{}), SigningKey: testKey})
	require.NoError(b, err)
	e := echo.New()
	s.Register(e)
	tok, err := s.issue("root", store.RoleAdmin, s.now())
	require.NoError(b, err)
	b.ReportAllocs()
	for b.Loop() {
		req := httptest.NewRequest(http.MethodGet, Prefix+"/session", nil)
		req.Header.Set("Authorization", "Bearer "+tok.Token)
		rec := httptest.NewRecorder()
		e.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			b.Fatalf("status %d: %s", rec.Code, rec.Body)
		}
	}
}

// BenchmarkCountRequest is what every EAS request pays for GET /stats.
func BenchmarkCountRequest(b *testing.B) {
	c := NewRequestCounter()
	b.ReportAllocs()
	for b.Loop() {
		CountRequest(c, "Ping")
	}
}
