package store

import (
	"bytes"
	"encoding/json"
	"sync"
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
