package og

import (
	"encoding/json"
	"errors"
	"fmt"
	"github.com/go-json-experiment/json/jsontext"
	"io"
	"strings"
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

// JSONSyntax says what is wrong with JSON a client sent and where: the offset and the member
// it is in. It quotes none of the text: around an error may be a card's expiry or a signature,
// and the journal keeps the message.
func JSONSyntax(err error) string {
	var se *jsontext.SyntacticError
	if !errors.As(err, &se) {
		return err.Error()
	}
	why := "unexpected end of the text"
	if !errors.Is(se.Err, io.ErrUnexpectedEOF) {
		why = strings.TrimPrefix(se.Err.Error(), "jsontext: ")
	}
	why += fmt.Sprintf(" at offset %d", se.ByteOffset)
	if se.JSONPointer != "" {
		why += fmt.Sprintf(" (in %s)", Clip(string(se.JSONPointer))) // 10,000 levels deep, it is 20 KB
	}
	return why
}
