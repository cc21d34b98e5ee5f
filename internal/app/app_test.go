package app_test

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/easd/easd/internal/app"
	"github.com/easd/easd/internal/app/apptest"
	"github.com/easd/easd/store"
	"github.com/easd/easd/store/storetest"
)

// The wired server answers every front-end on one listener.
func TestWired(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, st *store.Store) {
		srv := apptest.Start(t, st, app.Config{})
		for _, c := range []struct {
			method, path, want string
			status             int
		}{
			{http.MethodGet, "/healthz", "ok", http.StatusOK},
			{http.MethodOptions, "/Microsoft-Server-ActiveSync", "", http.StatusUnauthorized},
			{http.MethodGet, "/api/v1/session", "", http.StatusUnauthorized},
			{http.MethodPost, "/api/v1/login", "invalid", http.StatusBadRequest},
		} {
			req, err := http.NewRequest(c.method, srv.URL+c.path, strings.NewReader("{}"))
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Content-Type", "application/json")
			resp, err := srv.Client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != c.status || !strings.Contains(string(body), c.want) {
				t.Errorf("%s %s: %d %q, want %d containing %q", c.method, c.path, resp.StatusCode, body, c.status, c.want)
			}
		}
	})
}

// A dashboard inactivity timeout outside 5 min–8 h is refused.
func TestAdminIdleRange(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, st *store.Store) {
		_, err := app.New(app.Config{Store: st, SecretKey: apptest.SecretKey, AdminKey: apptest.AdminKey, AdminIdle: time.Minute})
		if err == nil {
			t.Fatal("1 minute inactivity timeout accepted")
		}
	})
}
