package og

import (
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"time"
)

// NewPublicID returns a 32-hex-digit public id, as Ordergroove's objects carry
// ("e7b0710e911711ederhs326d09352e44d"). Its first 12 digits are the creation time in
// milliseconds, so that ids sort in creation order; the rest is random.
func NewPublicID(t time.Time) string {
	var b [16]byte
	ms := uint64(t.UnixMilli())
	binary.BigEndian.PutUint64(b[:8], ms<<16)
	rand.Read(b[6:])
	return hex.EncodeToString(b[:])
}

// NewRequestID returns a 24-hex-digit request id, as subs_req_id is (P5): 4 bytes of seconds
// and 8 random bytes, the shape of a MongoDB ObjectId.
func NewRequestID(t time.Time) string {
	var b [12]byte
	binary.BigEndian.PutUint32(b[:4], uint32(t.Unix()))
	rand.Read(b[4:])
	return hex.EncodeToString(b[:])
}

// IsHex reports whether s is n lowercase hex digits.
func IsHex(s string, n int) bool {
	if len(s) != n {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

// IsDigits reports whether s is one or more ASCII digits.
func IsDigits(s string) bool { return s != "" && allDigits(s) }
