package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"runtime/pprof"
	"strings"
	"time"

	"github.com/ogsandbox/ogsandbox/emulator/config"
	"github.com/ogsandbox/ogsandbox/emulator/og"
	"github.com/ogsandbox/ogsandbox/emulator/ogcrypto"
	"github.com/ogsandbox/ogsandbox/emulator/refmerchant"
	"github.com/ogsandbox/ogsandbox/emulator/sandbox"
)

var applyEnv = config.ApplyEnv

func (m *Main) serve(ctx context.Context, args []string) error {
	cfg, err := config.Load(args, m.Getenv)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fs := flag.NewFlagSet("serve", flag.ContinueOnError)
			config.ServeFlags(fs)
			fs.SetOutput(m.Stdout)
			fs.PrintDefaults()
			return err
		}
		var ce *config.Error
		if errors.As(err, &ce) || strings.HasPrefix(err.Error(), "configuration") {
			return err
		}
		return usageError{err.Error()}
	}
	if cfg.PrintConfig {
		fmt.Fprint(m.Stdout, cfg.Masked())
		return nil
	}
	if path := m.Getenv("OGSANDBOX_CPUPROFILE"); path != "" {
		// A debugging aid for the benchmarks: a CPU profile of the whole run.
		f, err := os.Create(path)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	tuneGC(m.Getenv)
	log := m.logger()
	for _, w := range cfg.Warnings {
		log.Warn(w)
	}
	sb, err := sandbox.Start(ctx, cfg, sandbox.Options{Log: log})
	if err != nil {
		return err
	}
	m.banner(m.Stdout, sb)
	if m.Ready != nil {
		m.Ready(sb.URL())
	}
	<-ctx.Done()
	fmt.Fprintln(m.Stdout, "ogsandbox: shutting down: finishing in-flight requests")
	if err := sb.Close(); err != nil {
		return err
	}
	fmt.Fprintln(m.Stdout, "ogsandbox: stopped; state saved in", stateWhere(sb.Config()))
	return nil
}

func stateWhere(c config.Config) string {
	if c.Ephemeral {
		return "nothing (--ephemeral: the temporary data_dir " + c.DataDir + " was removed)"
	}
	return c.DataDir
}

// banner prints what a newcomer needs to start integrating: the URLs, and for the demo
// merchant its ids and secrets (a configured merchant's secrets are the user's own and are
// masked, X2).
func (m *Main) banner(w io.Writer, sb *sandbox.Sandbox) {
	cfg := sb.Config()
	base := sb.URL()
	fmt.Fprintf(w, "ogsandbox %s ready\n", sandbox.Version)
	fmt.Fprintf(w, "  base URL        %s\n", base)
	fmt.Fprintf(w, "  purchase POST   %s/subscription/create\n", base)
	fmt.Fprintf(w, "  control API     %s/_sandbox/  (health, clock, clock/advance, reset, merchants, journal)\n", base)
	fmt.Fprintf(w, "  SFTP drop site  %s  (host key %s)\n", sb.SFTPAddr(), sb.SFTPFingerprint())
	if f := sb.AutoCertFile(); f != "" {
		fmt.Fprintf(w, "  TLS certificate %s (generated for localhost; trust it in your client)\n", f)
	}
	fmt.Fprintf(w, "  clock           %s%s\n", sb.Clock().Now().Format(time.RFC3339), clockNote(sb))
	if cfg.Ephemeral {
		fmt.Fprintf(w, "  data_dir        %s (--ephemeral: removed at exit)\n", cfg.DataDir)
	} else {
		fmt.Fprintf(w, "  data_dir        %s\n", cfg.DataDir)
	}
	for _, mc := range sb.Merchants() {
		fmt.Fprintln(w)
		if cfg.Demo {
			fmt.Fprintf(w, "demo merchant %q (no merchant configured; see README to configure your own)\n", mc.Name)
		} else {
			fmt.Fprintf(w, "merchant %q\n", mc.Name)
		}
		key, pass, apiKey := og.Hide(mc.HashKey), og.Hide(mc.SFTP.Password), ""
		if len(mc.APIKeys) > 0 {
			apiKey = og.Mask(mc.APIKeys[0])
		}
		if cfg.Demo {
			key, pass = mc.HashKey, mc.SFTP.Password
			if len(mc.APIKeys) > 0 {
				apiKey = mc.APIKeys[0]
			}
		}
		fmt.Fprintf(w, "  merchant_id     %s\n", mc.ID)
		fmt.Fprintf(w, "  public_id       %s\n", mc.PublicID)
		fmt.Fprintf(w, "  hash_key        %s\n", key)
		if apiKey != "" {
			fmt.Fprintf(w, "  x-api-key       %s\n", apiKey)
		}
		host, port, _ := strings.Cut(sb.SFTPAddr(), ":")
		fmt.Fprintf(w, "  sftp login      %s / %s   (sftp -P %s %s@%s; feeds go in incoming/%s.Products.xml)\n", mc.SFTP.Username, pass, port, mc.SFTP.Username, host, mc.ID)
		if mc.Placement.Method == og.PlacementBatch {
			fmt.Fprintf(w, "  placement       batch: order files in outgoing/ at hours %v %s\n", mc.Placement.Hours, mc.Timezone)
		} else {
			fmt.Fprintf(w, "  placement       api %s at hours %v %s\n", placementURL(mc, base), mc.Placement.Hours, mc.Timezone)
		}
		if cfg.Demo {
			ts := sb.Clock().Wall().Unix()
			fmt.Fprintf(w, "  try             ogsandbox sign --key '%s' --user customer-1\n", mc.HashKey)
			fmt.Fprintf(w, "  example header  authorization: %s\n", ogcrypto.HeaderJSON(mc.HashKey, mc.PublicID, "customer-1", ts))
		}
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Ctrl-C stops the sandbox; state survives a restart (unless --ephemeral).")
}

func placementURL(mc *og.Merchant, base string) string {
	if mc.Placement.URL == "" {
		return base + refmerchant.Path + " (the built-in reference merchant: no endpoint configured)"
	}
	return og.RedactURL(mc.Placement.URL)
}

func clockNote(sb *sandbox.Sandbox) string {
	off := sb.Clock().Now().Sub(sb.Clock().Wall())
	if off > -time.Second && off < time.Second {
		return " (real time)"
	}
	return " (sandbox time; advance it with: ogsandbox clock advance 30d)"
}

// tuneGC trades memory for CPU under load: the live heap of a sandbox is small, and collecting
// it a quarter as often is worth about a tenth of the purchase POST's throughput
// (bench/purchase.sh). A memory limit keeps a long run bounded. GOGC and GOMEMLIMIT win.
func tuneGC(getenv func(string) string) {
	if getenv("GOGC") == "" {
		debug.SetGCPercent(400)
	}
	if getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(512 << 20)
	}
}
