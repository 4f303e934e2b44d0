// Package benchkit holds what the benchmark programs of bench/ share: building the binaries
// they measure, free loopback addresses, waiting for a server to answer, reading a process's
// memory from /proc, and failing with a word on which bench failed.
package benchkit

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"
)

// Name prefixes failure messages ("ingest bench").
var Name = "bench"

// Fail reports err and ends the program; a bench that must clean up first (stop the servers
// it started) replaces it.
var Fail = func(err error) {
	fmt.Fprintf(os.Stderr, "%s: %v\n", Name, err)
	os.Exit(1)
}

// Check fails on a non-nil err.
func Check(err error) {
	if err != nil {
		Fail(err)
	}
}

// Build compiles pkg into out.
func Build(out, pkg string) {
	cmd := exec.Command("go", "build", "-o", out, pkg)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	Check(cmd.Run())
}

// FreeAddr returns a loopback address nothing listens on (host:port).
func FreeAddr() string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	Check(err)
	defer ln.Close()
	return ln.Addr().String()
}

// FreePort returns a loopback port nothing listens on.
func FreePort() int {
	_, port, _ := strings.Cut(FreeAddr(), ":")
	n, _ := strconv.Atoi(port)
	return n
}

// WaitReady polls url every poll until it answers 2xx, for at most within.
func WaitReady(url string, poll, within time.Duration) error {
	client := &http.Client{Timeout: time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	for deadline := time.Now().Add(within); time.Now().Before(deadline); time.Sleep(poll) {
		if resp, err := client.Get(url); err == nil {
			resp.Body.Close()
			if resp.StatusCode/100 == 2 {
				return nil
			}
		}
	}
	return fmt.Errorf("%s not ready after %s", url, within)
}

// ProcStatus reads the kB figures of /proc/<pid>/status (VmRSS, VmHWM, RssAnon, RssFile...).
func ProcStatus(pid int) map[string]int {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	Check(err)
	m := map[string]int{}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) == 3 && f[2] == "kB" {
			n, _ := strconv.Atoi(f[1])
			m[strings.TrimSuffix(f[0], ":")] = n
		}
	}
	return m
}

// MemKB returns a process's resident and peak resident memory, in kB.
func MemKB(pid int) (rss, hwm int) {
	m := ProcStatus(pid)
	return m["VmRSS"], m["VmHWM"]
}
