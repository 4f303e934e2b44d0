package web

import (
	"context"
	"net"
	"sync/atomic"
	"time"
)

// connInfo is what the listener knows of a request's connection: its number and when it was
// accepted.
type connInfo struct {
	id     uint64
	opened time.Time
}

type connKey struct{}

var connSeq atomic.Uint64

// ConnContext is http.Server's ConnContext: it numbers each accepted connection and stamps it
// with the wall time (wall) it was accepted, so that a handler can tell a request that could
// only have been sent after an earlier answer (on the same connection, or on one opened after
// it) from one that may have been sent with it and merely read later (P8's double submits).
func ConnContext(wall func() time.Time) func(context.Context, net.Conn) context.Context {
	return func(ctx context.Context, _ net.Conn) context.Context {
		return context.WithValue(ctx, connKey{}, connInfo{id: connSeq.Add(1), opened: wall()})
	}
}

// ConnOf returns the number and accept time of the connection ctx's request came on; zero
// values when the server did not stamp it (see ConnContext).
func ConnOf(ctx context.Context) (id uint64, opened time.Time) {
	ci, _ := ctx.Value(connKey{}).(connInfo)
	return ci.id, ci.opened
}
