// Package sandboxtest starts a sandbox for a Go test: every listener on 127.0.0.1:0, state in
// the test's temporary directory, closed when the test ends. Merchants embed it in their own
// test suites:
//
//	sb := sandboxtest.Start(t)
//	resp, err := http.Post(sb.URL()+"/subscription/create", "application/json", body)
package sandboxtest

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/ogsandbox/ogsandbox/emulator/config"
	"github.com/ogsandbox/ogsandbox/emulator/sandbox"
)

// Start starts a sandbox with the demo merchant; each mutate may change the configuration
// first (its DataDir is the test's temporary directory).
func Start(tb testing.TB, mutate ...func(*config.Config)) *sandbox.Sandbox {
	tb.Helper()
	return StartIn(tb, tb.TempDir(), mutate...)
}

// StartIn starts a sandbox on dir, for tests that restart one on the same state.
func StartIn(tb testing.TB, dir string, mutate ...func(*config.Config)) *sandbox.Sandbox {
	tb.Helper()
	cfg := sandbox.TestConfig(dir)
	for _, m := range mutate {
		m(&cfg)
	}
	sb, err := sandbox.Start(tb.Context(), cfg, sandbox.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { sb.Close() })
	return sb
}

// Response is an answer read whole.
type Response struct {
	Status int
	Header http.Header
	Body   []byte
}

// JSON decodes the body into v, failing the test if it is not JSON.
func (r Response) JSON(tb testing.TB, v any) {
	tb.Helper()
	if err := json.Unmarshal(r.Body, v); err != nil {
		tb.Fatalf("body is not JSON (%v): %s", err, r.Body)
	}
}

// Do sends a request with a real HTTP client and reads the whole answer. body may be nil, a
// string, []byte, or a value sent as JSON; header holds "Name", "value" pairs.
func Do(tb testing.TB, method, url string, body any, header ...string) Response {
	tb.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		js, err := json.Marshal(b)
		if err != nil {
			tb.Fatal(err)
		}
		rd = bytes.NewReader(js)
	}
	req, err := http.NewRequestWithContext(tb.Context(), method, url, rd)
	if err != nil {
		tb.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		tb.Fatal(err)
	}
	return Response{Status: resp.StatusCode, Header: resp.Header, Body: b}
}
