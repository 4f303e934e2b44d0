// Package golden compares what a test got on the wire with testdata/<name>.golden, and
// rewrites the files when the tests run with -update.
package golden

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden with what the tests got")

// times matches RFC 3339 timestamps, which change from run to run.
var times = regexp.MustCompile(`\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})`)

// Scrub replaces timestamps with <TIME> and then each key of repl (a literal) with its value.
func Scrub(b []byte, repl map[string]string) []byte {
	b = times.ReplaceAll(b, []byte("<TIME>"))
	for old, neu := range repl {
		b = bytes.ReplaceAll(b, []byte(old), []byte(neu))
	}
	return b
}

var hexIDs = regexp.MustCompile(`\b([0-9a-f]{32}|[0-9a-f]{24})\b`)

// ScrubIDs replaces generated hex ids (32 and 24 digits) with <ID1>, <ID2>... numbered in order of
// first appearance, so that a golden file still shows which ids are the same. keep lists ids
// (merchant ids) to leave as they are.
func ScrubIDs(b []byte, keep ...string) []byte {
	seen := map[string]string{}
	return hexIDs.ReplaceAllFunc(b, func(id []byte) []byte {
		for _, k := range keep {
			if string(id) == k {
				return id
			}
		}
		if r, ok := seen[string(id)]; ok {
			return []byte(r)
		}
		r := "<ID" + strconv.Itoa(len(seen)+1) + ">"
		seen[string(id)] = r
		return []byte(r)
	})
}

// Assert compares got with testdata/<name>.golden.
func Assert(tb testing.TB, name string, got []byte) {
	tb.Helper()
	path := filepath.Join("testdata", name+".golden")
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			tb.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			tb.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		tb.Fatalf("golden file %s: %v (run the test with -update to create it)", path, err)
	}
	if !bytes.Equal(got, want) {
		tb.Errorf("%s differs from what the test got (run with -update to accept):\n--- got\n%s\n--- want\n%s", path, got, want)
	}
}

// JSONIDs is JSON with generated ids scrubbed too (ScrubIDs), keeping the ids in keep.
func JSONIDs(tb testing.TB, name string, body []byte, keep ...string) {
	tb.Helper()
	JSON(tb, name, ScrubIDs(body, keep...), nil)
}

// JSON pretty-prints a JSON body, scrubs it and compares it with testdata/<name>.golden.
func JSON(tb testing.TB, name string, body []byte, repl map[string]string) {
	tb.Helper()
	var v any
	if err := json.Unmarshal(body, &v); err != nil {
		tb.Fatalf("%s: body is not JSON: %v\n%s", name, err, body)
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
	Assert(tb, name, Scrub(b.Bytes(), repl))
}
