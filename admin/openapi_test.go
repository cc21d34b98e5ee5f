package admin

import (
	"encoding/json"
	"net/http"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/labstack/echo/v4"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/easd/easd/devices"
	"github.com/easd/easd/store"
	"github.com/easd/easd/store/storetest"
)

type openAPIDoc struct {
	OpenAPI string                                 `json:"openapi"`
	Paths   map[string]map[string]openAPIOperation `json:"paths"`
}

type openAPIOperation struct {
	Roles      []string `json:"x-easd-roles"`
	Parameters []struct {
		Name, In string
	} `json:"parameters"`
	Responses map[string]any   `json:"responses"`
	Security  []map[string]any `json:"security"`
}

var httpMethods = []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete}

// TestOpenAPIInSync walks the routes echo has under Prefix and the
// document's paths and methods, and wants the same set both ways, with the
// roles and path parameters the routes have.
func TestOpenAPIInSync(t *testing.T) {
	st := storetest.Open(t, storetest.SQLiteURL(t))
	s, err := New(Options{Store: st, Devices: devices.New(st, devices.Options{}), SigningKey: testKey})
	require.NoError(t, err)
	e := echo.New()
	s.Register(e)

	var doc openAPIDoc
	require.NoError(t, json.Unmarshal(openAPI, &doc))
	assert.True(t, strings.HasPrefix(doc.OpenAPI, "3."), "OpenAPI 3")

	param := regexp.MustCompile(`:([a-z_]+)`)
	served := map[string]bool{}
	for _, r := range e.Routes() {
		if !strings.HasPrefix(r.Path, Prefix+"/") || !slices.Contains(httpMethods, r.Method) {
			continue // echo's own not-found routes of the group
		}
		served[r.Method+" "+param.ReplaceAllString(strings.TrimPrefix(r.Path, Prefix), "{$1}")] = true
	}
	documented := map[string]bool{}
	for path, ops := range doc.Paths {
		for m := range ops {
			documented[strings.ToUpper(m)+" "+path] = true
		}
	}
	for k := range served {
		assert.True(t, documented[k], "route %s is not in openapi.json", k)
	}
	for k := range documented {
		assert.True(t, served[k], "openapi.json documents %s, which is not served", k)
	}
	require.NotEmpty(t, served)

	for _, r := range routes {
		path := param.ReplaceAllString(r.path, "{$1}")
		op, ok := doc.Paths[path][strings.ToLower(r.method)]
		if !assert.True(t, ok, "%s %s", r.method, path) {
			continue
		}
		want := map[access][]string{public: nil, anyRole: {"admin", "helpdesk"}, adminOnly: {"admin"}}[r.access]
		assert.Equal(t, want, op.Roles, "x-easd-roles of %s %s", r.method, path)
		if r.access == public {
			assert.Equal(t, []map[string]any{}, op.Security, "%s %s needs no token", r.method, path)
		} else {
			assert.Contains(t, op.Responses, "401", "%s %s", r.method, path)
		}
		if r.access == adminOnly {
			assert.Contains(t, op.Responses, "403", "%s %s", r.method, path)
		}
		var query []string
		for _, p := range op.Parameters {
			if p.In == "query" {
				query = append(query, p.Name)
			}
		}
		assert.ElementsMatch(t, queryParams[r.method+" "+r.path], query, "%s %s documents the query parameters it accepts", r.method, path)
		for _, m := range param.FindAllStringSubmatch(r.path, -1) {
			assert.True(t, slices.ContainsFunc(op.Parameters, func(p struct{ Name, In string }) bool {
				return p.Name == m[1] && p.In == "path"
			}), "%s %s documents path parameter %s", r.method, path, m[1])
		}
	}
}

func TestOpenAPIServed(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, st *store.Store) {
		en := newEnv(t, st, nil)
		r := en.do(http.MethodGet, "/openapi.json", "", nil)
		require.Equal(t, http.StatusOK, r.status)
		assert.Equal(t, "application/json", strings.Split(r.header.Get("Content-Type"), ";")[0])
		assert.JSONEq(t, string(openAPI), string(r.body))
		assert.Equal(t, "no-store", r.header.Get("Cache-Control"))
	})
}

// TestOpenAPISchemas: the Device schema names every member of the device
// JSON and nothing else, and the device list's sort parameter offers
// exactly the orders the store has.
func TestOpenAPISchemas(t *testing.T) {
	var doc struct {
		Paths      map[string]map[string]json.RawMessage `json:"paths"`
		Components struct {
			Schemas map[string]struct {
				Properties map[string]json.RawMessage `json:"properties"`
			} `json:"schemas"`
		} `json:"components"`
	}
	require.NoError(t, json.Unmarshal(openAPI, &doc))

	var members []string
	typ := reflect.TypeFor[deviceJSON]()
	for i := range typ.NumField() {
		name, _, _ := strings.Cut(typ.Field(i).Tag.Get("json"), ",")
		members = append(members, name)
	}
	var documented []string
	for name := range doc.Components.Schemas["Device"].Properties {
		documented = append(documented, name)
	}
	assert.ElementsMatch(t, members, documented, "the Device schema and deviceJSON")

	type param struct {
		Name   string `json:"name"`
		Schema struct {
			Enum []string `json:"enum"`
		} `json:"schema"`
	}
	var list struct {
		Parameters []param `json:"parameters"`
	}
	require.NoError(t, json.Unmarshal(doc.Paths["/devices"]["get"], &list))
	var sorts []string
	for k := range store.DeviceSorts {
		if k != "" {
			sorts = append(sorts, k)
		}
	}
	i := slices.IndexFunc(list.Parameters, func(p param) bool { return p.Name == "sort" })
	require.GreaterOrEqual(t, i, 0, "GET /devices documents sort")
	assert.ElementsMatch(t, sorts, list.Parameters[i].Schema.Enum)
}
