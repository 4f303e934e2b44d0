// Command ogsandbox is a local emulator of Ordergroove's staging environment: one binary that
// serves the purchase POST, the REST and legacy APIs, the SFTP drop site, the scheduler on a
// virtual clock, the Subscription Manager scripts and the sandbox's own control API.
//
// Run `ogsandbox help` for the commands; ../shared/CONTROL.md fixes their names.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	// After the first signal starts a clean shutdown, a second one ends the process at once.
	go func() { <-ctx.Done(); stop() }()
	m := &Main{Stdout: os.Stdout, Stderr: os.Stderr, Getenv: os.Getenv}
	code := m.Run(ctx, os.Args[1:])
	stop()
	os.Exit(code)
}
