package og

import (
	"encoding/json"
	"fmt"
)

// NonASCII returns the byte offset of the first character C1 refuses — outside printable
// ASCII, tab and line breaks aside — or -1 when s is all ASCII.
func NonASCII(s string) int {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c > 0x7e || c < 0x20 && c != '\t' && c != '\n' && c != '\r' {
			return i
		}
	}
	return -1
}

// JSONKind names the kind of a decoded JSON value for a message: "an object", "a number"...
func JSONKind(v any) string {
	switch v.(type) {
	case map[string]any:
		return "an object"
	case []any:
		return "an array"
	case bool:
		return "a boolean"
	case json.Number, float64:
		return "a number"
	case string:
		return "a string"
	case nil:
		return "null"
	}
	return fmt.Sprintf("%T", v)
}
