package store

import (
	"bytes"
	"encoding/json"
	"sync"

	jsonv2 "github.com/go-json-experiment/json"
	jsonv1 "github.com/go-json-experiment/json/v1"
)

var encoders = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// marshal encodes a stored value as JSON without escaping <, > and &: values hold order XML
// and URL-encoded bodies, which \u003c-style escapes would make a third larger and slower to
// write and read back.
func marshal(v any) ([]byte, error) {
	b := encoders.Get().(*bytes.Buffer)
	defer encoders.Put(b)
	b.Reset()
	enc := json.NewEncoder(b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.Clone(bytes.TrimSuffix(b.Bytes(), []byte{'\n'})), nil
}

// v1 makes the v2 decoder read exactly what encoding/json reads (names matched without
// regard to case, invalid UTF-8 and duplicate names let through, null into a slice is nil):
// every stored value was written by encoding/json.
var v1 = jsonv1.DefaultOptionsV1()

// unmarshal decodes a stored value. It is encoding/json's Unmarshal, three times faster: the
// purchase POST decodes a customer, its products and its upcoming orders on every checkout
// (issue 3's throughput is bound by it; encoding is not faster in v2, so marshal stays).
func unmarshal(raw []byte, v any) error { return jsonv2.Unmarshal(raw, v, v1) }
