// Command startup measures start-up to a ready health answer and idle memory of ogsandbox,
// beside a bare net/http server started the same way in the same run (issue 2). Machines here
// are noisy: read the ratio, not the absolute figures.
//
//	go run ./bench/startup [-runs 15]
package main

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"time"

	"github.com/ogsandbox/ogsandbox/bench/internal/benchkit"
)

func main() {
	benchkit.Name = "startup bench"
	runs := flag.Int("runs", 15, "start-ups per server")
	idle := flag.Duration("idle", 2*time.Second, "how long a server idles before its memory is read")
	flag.Parse()
	dir, err := os.MkdirTemp("", "ogsandbox-bench-*")
	benchkit.Check(err)
	defer os.RemoveAll(dir)
	sandbox, bare := filepath.Join(dir, "ogsandbox"), filepath.Join(dir, "bare")
	benchkit.Build(sandbox, "./cmd/ogsandbox")
	benchkit.Build(bare, "./bench/bare")

	type result struct {
		name         string
		median, p90  time.Duration
		rssKB, hwmKB int
	}
	measure := func(name string, start func(addr string) *exec.Cmd, path string) result {
		var times []time.Duration
		var rss, hwm int
		for i := 0; i < *runs; i++ {
			addr := benchkit.FreeAddr()
			cmd := start(addr)
			t0 := time.Now()
			benchkit.Check(cmd.Start())
			benchkit.Check(benchkit.WaitReady("http://"+addr+path, 200*time.Microsecond, 10*time.Second))
			times = append(times, time.Since(t0))
			if i == *runs-1 {
				time.Sleep(*idle)
				rss, hwm = benchkit.MemKB(cmd.Process.Pid)
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
		cmd.Env = append(os.Environ(), "OGSANDBOX_LISTEN="+addr, "OGSANDBOX_SFTP_LISTEN="+benchkit.FreeAddr())
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
