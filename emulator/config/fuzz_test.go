package config

import (
	"strings"
	"testing"
)

func FuzzParse(f *testing.F) {
	f.Add([]byte("listen: 127.0.0.1:8080\nmerchants:\n  - merchant_id: acme\n    hash_key: \"" + key + "\"\n"))
	f.Add([]byte("merchants:\n  - {merchant_id: a, hash_key: x, placement: {hours: [25]}}\n"))
	f.Add([]byte("tls: auto\nclock_start: 2026-01-05\njournal_max_bytes: 1KiB\n"))
	f.Add([]byte("&a [*a]"))
	f.Add([]byte("merchants:\n  - {merchant_id: a, hash_key: x, placement: {hours: [6.5, \"7\", ~, []]}}\n"))
	f.Add([]byte("merchants:\n  - {merchant_id: a, hash_key: x, placement: {hours: {a: 1}}}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse("f.yaml", data)
		if err != nil {
			if !strings.Contains(err.Error(), "f.yaml") {
				t.Fatalf("refusal does not name the file: %v", err)
			}
			return
		}
		if len(c.Merchants) == 0 {
			t.Fatal("a configuration without merchants")
		}
		for _, m := range c.Merchants {
			if len(m.HashKey) != 32 || m.Location == nil || m.Placement.Method == "" {
				t.Fatalf("accepted merchant %+v", m)
			}
		}
	})
}
