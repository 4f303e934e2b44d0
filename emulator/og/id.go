package og

import (
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"sync/atomic"
	"time"
)

// idSeq numbers the ids this process makes, so that ids made in one millisecond (or, for
// request ids, one second) still sort in creation order: stored under them, a burst of
// checkouts appends to the last pages of a bucket instead of rewriting pages all over it.
var idSeq atomic.Uint32

// Random bytes are drawn once per process, like an ObjectId's: ids stay unique across
// processes, and making one costs no system call.
var processRandom = func() (b [5]byte) {
	rand.Read(b[:])
	return b
}()

// NewPublicID returns a 32-hex-digit public id, as Ordergroove's objects carry
// ("e7b0710e911711ederhs326d09352e44d"). Its first 12 digits are the creation time in
// milliseconds, then a counter of this process and random bits, so that ids sort in creation
// order.
func NewPublicID(t time.Time) string {
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], uint64(t.UnixMilli())<<16)
	binary.BigEndian.PutUint32(b[6:10], idSeq.Add(1))
	rand.Read(b[10:])
	return hex.EncodeToString(b[:])
}

// NewRequestID returns a 24-hex-digit request id, as subs_req_id is (P5), laid out as a
// MongoDB ObjectId: 4 bytes of seconds, 5 random bytes of the process, a 3-byte counter.
func NewRequestID(t time.Time) string {
	var b [12]byte
	binary.BigEndian.PutUint32(b[:4], uint32(t.Unix()))
	copy(b[4:9], processRandom[:])
	n := idSeq.Add(1)
	b[9], b[10], b[11] = byte(n>>16), byte(n>>8), byte(n)
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

// LooksLikeCardNumber reports whether s is shaped like a payment card number (E4): 13 to 19
// digits, spaces or dashes between them allowed, passing the Luhn check.
func LooksLikeCardNumber(s string) bool {
	var digits []byte
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c >= '0' && c <= '9':
			digits = append(digits, c-'0')
		case c == ' ' || c == '-':
		default:
			return false
		}
	}
	if len(digits) < 13 || len(digits) > 19 {
		return false
	}
	sum := 0
	for i := range digits {
		d := int(digits[len(digits)-1-i])
		if i%2 == 1 {
			if d *= 2; d > 9 {
				d -= 9
			}
		}
		sum += d
	}
	return sum%10 == 0
}
