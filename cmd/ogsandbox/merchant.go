package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/ogsandbox/ogsandbox/emulator/clock"
	"github.com/ogsandbox/ogsandbox/emulator/config"
	"github.com/ogsandbox/ogsandbox/emulator/og"
	"github.com/ogsandbox/ogsandbox/emulator/refmerchant"
)

// merchant serves the reference merchant on its own port, for the merchants of a
// configuration (or the demo merchant): point a merchant's placement.url at it.
func (m *Main) merchant(ctx context.Context, args []string) error {
	fs := m.flags("merchant")
	listen := fs.String("listen", "127.0.0.1:9000", "address to serve on")
	cfgFile := fs.String("config", "", "configuration whose merchants' keys verify the orders (default: the demo merchant)")
	pos, err := m.parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usageError{"merchant takes flags only"}
	}
	cfg := config.Default()
	if *cfgFile != "" {
		data, err := os.ReadFile(*cfgFile)
		if err != nil {
			return err
		}
		if cfg, err = config.Parse(*cfgFile, data); err != nil {
			return err
		}
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return fmt.Errorf("listen %s: %w", *listen, err)
	}
	rm := &refmerchant.Merchant{Merchants: og.NewMerchants(cfg.Merchants), Wall: clock.WallNow, Log: m.logger()}
	mux := http.NewServeMux()
	mux.Handle("/", rm)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	fmt.Fprintf(m.Stdout, "reference merchant on http://%s/ (any path): set a merchant's placement.url to it\n", ln.Addr())
	fmt.Fprintln(m.Stdout, "it answers SUCCESS, or by the order's payment token: decline-NNN, temp-999-N, garbage, down, slow-DURATION; SKUs starting OOS- get 999")
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(sctx)
	}()
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
