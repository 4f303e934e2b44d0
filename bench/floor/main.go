// Command floor is the purchase bench's floor: the least a durable purchase POST can cost on
// this stack, for comparing the sandbox with what it must do at the very least. It serves
// POST /subscription/create through echo and, per request, only: reads the body, parses the
// A4 authorization header and checks its HMAC (A3), reads every token of the body's JSON,
// decrypts the two AES fields (E1), appends the body to a file committed to disk in group
// commits (one write and one fdatasync for whatever is queued), and answers a 201 the size of
// the sandbox's. No validation, no records, no journal: the sandbox's rules, storage and
// witness are what it adds to this.
//
//	go run ./bench/floor -listen 127.0.0.1:8091 -dir /tmp/floor
package main

import (
	"bytes"
	"encoding/hex"
	"flag"
	"io"
	"log"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-json-experiment/json/jsontext"
	"github.com/labstack/echo/v4"

	"github.com/ogsandbox/ogsandbox/emulator/config"
	"github.com/ogsandbox/ogsandbox/emulator/ogcrypto"
)

func main() {
	addr := flag.String("listen", "127.0.0.1:8091", "address")
	dir := flag.String("dir", os.TempDir(), "directory of the append-only file")
	flag.Parse()
	f, err := os.OpenFile(filepath.Join(*dir, "floor.log"), os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		log.Fatal(err)
	}
	g := newGroup(f)
	m := config.DemoMerchant()
	var n atomic.Uint64
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.GET("/health", func(c echo.Context) error { return c.NoContent(http.StatusOK) })
	e.POST("/subscription/create", func(c echo.Context) error {
		body, err := io.ReadAll(io.LimitReader(c.Request().Body, 1<<20))
		if err != nil {
			return c.NoContent(http.StatusBadRequest)
		}
		h, aerr := ogcrypto.ParseAuthHeader(c.Request().Header.Get("Authorization"))
		if aerr != nil || ogcrypto.Verify(m.HashKey, h.Signed(), time.Now()) != nil {
			return c.NoContent(http.StatusUnauthorized)
		}
		js := bytes.TrimPrefix(body, []byte("create_request="))
		dec := jsontext.NewDecoder(bytes.NewReader(js))
		var holder, expiry string
		for last := ""; ; {
			tok, err := dec.ReadToken()
			if err == io.EOF {
				break
			} else if err != nil {
				return c.NoContent(http.StatusBadRequest)
			}
			if tok.Kind() != '"' {
				continue
			}
			s := tok.String()
			switch last {
			case "cc_holder":
				holder, _ = url.QueryUnescape(s)
			case "cc_exp_date":
				expiry, _ = url.QueryUnescape(s)
			}
			last = s
		}
		if _, _, derr := ogcrypto.Decrypt(m.HashKey, "cc_holder", holder); derr != nil {
			return c.NoContent(http.StatusBadRequest)
		}
		if _, _, derr := ogcrypto.Decrypt(m.HashKey, "cc_exp_date", expiry); derr != nil {
			return c.NoContent(http.StatusBadRequest)
		}
		if err := g.append(body); err != nil {
			return c.NoContent(http.StatusInternalServerError)
		}
		var id [12]byte
		seq := n.Add(1)
		for i := range 8 {
			id[11-i] = byte(seq >> (8 * i))
		}
		ids := hex.EncodeToString(id[:])
		return c.JSON(http.StatusCreated, map[string]any{
			"result": "Subscription request received", "subs_req_id": ids, "customer": h.SigField,
			"shipping_address": ids + "a", "payment": ids + "p",
			"subscriptions": []map[string]string{{"DF-30": ids + "1"}, {"CT-4050": ids + "2"}, {"FT-3M": ids + "3"}},
			"errors":        map[string]any{}, "diagnostics": []any{}, "merchant_order_id": strconv.FormatUint(seq, 10),
		})
	})
	log.Fatal(e.Start(*addr))
}

// group commits appends: whatever is queued when the file is free goes in one write and one
// fdatasync, and each caller returns once its bytes are on disk.
type group struct {
	f       *os.File
	mu      sync.Mutex
	pending []byte
	waiters []chan error
	kick    chan struct{}
}

func newGroup(f *os.File) *group {
	g := &group{f: f, kick: make(chan struct{}, 1)}
	go g.loop()
	return g
}

func (g *group) append(p []byte) error {
	done := make(chan error, 1)
	g.mu.Lock()
	g.pending = append(g.pending, p...)
	g.waiters = append(g.waiters, done)
	g.mu.Unlock()
	select {
	case g.kick <- struct{}{}:
	default:
	}
	return <-done
}

func (g *group) loop() {
	var buf []byte
	for range g.kick {
		g.mu.Lock()
		buf, g.pending = g.pending, buf[:0]
		waiters := g.waiters
		g.waiters = nil
		g.mu.Unlock()
		if len(waiters) == 0 {
			continue
		}
		_, err := g.f.Write(buf)
		if err == nil {
			err = g.f.Sync()
		}
		for _, w := range waiters {
			w <- err
		}
	}
}
