package autodiscover_test

import (
	"context"
	"log/slog"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/easd/easd/autodiscover"
	"github.com/easd/easd/internal/httpd"
	"github.com/easd/easd/store"
	"github.com/easd/easd/store/storetest"
)

// TestOnSharedListener registers the service on the echo instance of
// internal/httpd, as cmd/easd does, and checks that its routes, its path
// rewriting and the shared routes work together.
func TestOnSharedListener(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, st *store.Store) {
		seed(t, st)
		srv := httpd.New(httpd.Options{Logger: slog.New(slog.DiscardHandler), Health: func(context.Context) error { return nil }})
		autodiscover.New(baseOptions(st)).Register(srv.Echo)
		ts := httptest.NewTLSServer(srv.Echo)
		t.Cleanup(ts.Close)
		client := ts.Client()

		resp := post(t, client, ts.URL+"/Autodiscover/Autodiscover.xml", "alice@example.com", password, body(t, "ios-mail.xml", ""))
		require.Equal(t, 200, resp.StatusCode)
		checkMobileSync("Alice Example", "alice@example.com")(t, parse(t, resp))

		assert.Equal(t, 200, get(t, client, ts.URL+"/healthz").StatusCode)
		assert.Equal(t, 401, post(t, client, ts.URL+"/autodiscover/autodiscover.xml", "", "", body(t, "ios-mail.xml", "")).StatusCode)
		assert.Equal(t, 200, get(t, client, ts.URL+"/AutoDiscover/autodiscover.json?Email=a%40example.com&Protocol=ActiveSync").StatusCode)
	})
}
