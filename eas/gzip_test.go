package eas

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestAcceptsGzip(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		vals []string
		want bool
	}{
		{"none", nil, false},
		{"gzip", []string{"gzip"}, true},
		{"list", []string{"gzip, deflate, br"}, true},
		{"case", []string{"GZip"}, true},
		{"q zero", []string{"gzip;q=0"}, false},
		{"q spaced", []string{"br, gzip; q=0.5"}, true},
		{"q zero point zero", []string{"gzip;q=0.0"}, false},
		{"other", []string{"deflate, br"}, false},
		{"second header", []string{"br", "gzip"}, true},
		{"bad q", []string{"gzip;q=x"}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			assert.Equal(t, tc.want, acceptsGzip(http.Header{"Accept-Encoding": tc.vals}))
		})
	}
}
