package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strings"
)

// Main is the program: the same object runs in the binary and, on 127.0.0.1:0 ports and a
// temporary data_dir, in the end-to-end tests.
type Main struct {
	Stdout, Stderr io.Writer
	Getenv         func(string) string
	// Ready, when set, receives the running sandbox's base URL once `serve` is ready.
	Ready func(baseURL string)
}

// exit codes
const (
	exitOK    = 0
	exitFail  = 1
	exitUsage = 2
)

type command struct {
	name, args, summary string
	run                 func(m *Main, ctx context.Context, args []string) error
}

func commands() []command {
	return []command{
		{"serve", "[--config FILE] [--ephemeral]", "start every surface (a demo merchant when no merchant is configured)", (*Main).serve},
		{"sign", "--key K --user U [--ts N] [--public-id P]", "print the HMAC signature (A1), the authorization header (A4) and an og_auth cookie (A5)", (*Main).sign},
		{"encrypt", "--key K [--url-encode] TEXT", "encrypt a field per E1 (AES-256-ECB, '{' padding, base64; URL-encoded for a request field)", (*Main).encrypt},
		{"decrypt", "--key K CIPHERTEXT", "decrypt a field per E1 (URL-encoded or not)", (*Main).decrypt},
		{"clock", "advance DURATION [--url BASE] | now [--url BASE]", "move a running sandbox's clock forward (30d, 12h, 90m), or read it", (*Main).clock},
		{"feed", "check [--kind products|categories] [--json] FILE", "validate a product (or categories) feed offline: every finding with its line and rule id; exit 1 on errors", (*Main).feedCmd},
		{"merchant", "[--listen ADDR] [--config FILE]", "serve the reference merchant: an order endpoint answering order XML like a store (SUCCESS, or an error code chosen by the payment token)", (*Main).merchant},
		{"health", "[--url BASE] [--wait DURATION] [--cacert FILE]", "exit 0 once a running sandbox is ready (for scripts and container health checks)", (*Main).health},
		{"version", "", "print the version", (*Main).version},
	}
}

// usageError is a mistake on the command line: exit status 2.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

// Run runs the command line args (without the program name) and returns the exit status.
func (m *Main) Run(ctx context.Context, args []string) int {
	if m.Getenv == nil {
		m.Getenv = func(string) string { return "" }
	}
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		m.usage(m.Stdout)
		if len(args) == 0 {
			return exitUsage
		}
		return exitOK
	}
	for _, c := range commands() {
		if c.name != args[0] {
			continue
		}
		err := c.run(m, ctx, args[1:])
		var ue usageError
		switch {
		case err == nil:
			return exitOK
		case errors.Is(err, flag.ErrHelp):
			return exitOK
		case errors.As(err, &ue):
			fmt.Fprintf(m.Stderr, "ogsandbox %s: %v\nusage: ogsandbox %s %s\n", c.name, err, c.name, c.args)
			return exitUsage
		default:
			fmt.Fprintf(m.Stderr, "ogsandbox %s: %v\n", c.name, err)
			return exitFail
		}
	}
	fmt.Fprintf(m.Stderr, "ogsandbox: unknown command %q\n\n", args[0])
	m.usage(m.Stderr)
	return exitUsage
}

func (m *Main) usage(w io.Writer) {
	fmt.Fprintln(w, "ogsandbox: a local emulator of Ordergroove's staging environment")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "commands:")
	for _, c := range commands() {
		fmt.Fprintf(w, "  ogsandbox %s %s\n      %s\n", c.name, c.args, c.summary)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Every flag also reads OGSANDBOX_<FLAG> from the environment (OGSANDBOX_CONFIG, OGSANDBOX_LISTEN, ...).")
}

// flags returns a flag set whose errors come back as usage errors.
func (m *Main) flags(name string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	return fs
}

// parse parses args on fs, then reads every unset flag from OGSANDBOX_<FLAG>. Flags may
// follow positional arguments (`clock advance 30d --url ...`).
func (m *Main) parse(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		// "-1d" is a (negative) duration, not a flag: let the command say why it is refused.
		if len(args) > 0 && len(args[0]) > 1 && args[0][0] == '-' && args[0][1] >= '0' && args[0][1] <= '9' {
			pos = append(pos, args[0])
			args = args[1:]
			continue
		}
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				fs.SetOutput(m.Stdout)
				fs.PrintDefaults()
				return nil, err
			}
			return nil, usageError{err.Error()}
		}
		args = fs.Args()
		if len(args) == 0 {
			break
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
	if err := applyEnv(fs, m.Getenv); err != nil {
		return nil, usageError{err.Error()}
	}
	return pos, nil
}

func (m *Main) logger() *slog.Logger {
	level := slog.LevelInfo
	if strings.EqualFold(m.Getenv("OGSANDBOX_LOG_LEVEL"), "debug") {
		level = slog.LevelDebug
	}
	return slog.New(slog.NewTextHandler(m.Stderr, &slog.HandlerOptions{Level: level}))
}
