// Command startup measures start-up to a ready health answer and idle memory of ogsandbox,
// beside a bare net/http server started the same way in the same run (issue 2). Machines here
// are noisy: read the ratio, not the absolute figures.
//
//	go run ./bench/startup [-runs 15]
package main

import (
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

func main() {
	runs := flag.Int("runs", 15, "start-ups per server")
	idle := flag.Duration("idle", 2*time.Second, "how long a server idles before its memory is read")
	flag.Parse()
	dir, err := os.MkdirTemp("", "ogsandbox-bench-*")
	check(err)
	defer os.RemoveAll(dir)
	sandbox, bare := filepath.Join(dir, "ogsandbox"), filepath.Join(dir, "bare")
	build(sandbox, "./cmd/ogsandbox")
	build(bare, "./bench/bare")

	type result struct {
		name         string
		median, p90  time.Duration
		rssKB, hwmKB int
	}
	measure := func(name string, start func(addr string) *exec.Cmd, path string) result {
		var times []time.Duration
		var rss, hwm int
		for i := 0; i < *runs; i++ {
			addr := freeAddr()
			cmd := start(addr)
			t0 := time.Now()
			check(cmd.Start())
			waitReady("http://" + addr + path)
			times = append(times, time.Since(t0))
			if i == *runs-1 {
				time.Sleep(*idle)
				rss, hwm = memKB(cmd.Process.Pid)
			}
			cmd.Process.Signal(os.Interrupt)
			cmd.Wait()
		}
		slices.Sort(times)
		return result{name, times[len(times)/2], times[len(times)*9/10], rss, hwm}
	}
	b := measure("bare net/http", func(addr string) *exec.Cmd { return exec.Command(bare, "-listen", addr) }, "/")
	s := measure("ogsandbox serve", func(addr string) *exec.Cmd {
		cmd := exec.Command(sandbox, "serve", "--ephemeral")
		cmd.Env = append(os.Environ(), "OGSANDBOX_LISTEN="+addr, "OGSANDBOX_SFTP_LISTEN="+freeAddr())
		return cmd
	}, "/_sandbox/health")

	fmt.Printf("start-up to first good answer, %d runs each (exec -> 200)\n", *runs)
	fmt.Printf("%-18s %10s %10s %12s %12s\n", "server", "median", "p90", "idle RSS", "peak RSS")
	for _, r := range []result{b, s} {
		fmt.Printf("%-18s %10s %10s %9.1f MB %9.1f MB\n", r.name, r.median.Round(10*time.Microsecond), r.p90.Round(10*time.Microsecond), float64(r.rssKB)/1024, float64(r.hwmKB)/1024)
	}
	fmt.Printf("ratio (ogsandbox / bare), median start-up: %.2fx  (aim: under 3x)\n", float64(s.median)/float64(b.median))
	fmt.Printf("ogsandbox idle RSS: %.1f MB  (aim: under 30 MB)\n", float64(s.rssKB)/1024)
}

func build(out, pkg string) {
	cmd := exec.Command("go", "build", "-o", out, pkg)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	check(cmd.Run())
}

func freeAddr() string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	check(err)
	defer ln.Close()
	return ln.Addr().String()
}

// waitReady polls url as fast as a client reasonably would until it answers 2xx.
func waitReady(url string) {
	client := &http.Client{Timeout: time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if resp, err := client.Get(url); err == nil {
			resp.Body.Close()
			if resp.StatusCode/100 == 2 {
				return
			}
		}
		time.Sleep(200 * time.Microsecond)
	}
	check(fmt.Errorf("%s not ready after 10s", url))
}

// memKB reads a process's resident and peak resident memory from /proc.
func memKB(pid int) (rss, hwm int) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	check(err)
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		n, _ := strconv.Atoi(f[1])
		switch f[0] {
		case "VmRSS:":
			rss = n
		case "VmHWM:":
			hwm = n
		}
	}
	return rss, hwm
}

func check(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "startup bench:", err)
		os.Exit(1)
	}
}
