// Command ingest measures product feed ingestion over SFTP (F1-F7), in one run:
//
//  1. a feed of 100,000 distinct valid products is generated into a temporary directory;
//  2. baseline: a bare encoding/xml streaming parse of the same file (a Decoder, DecodeElement
//     of each <product> into a small struct), in a subprocess of its own so that its peak RSS
//     is its own;
//  3. the sandbox (`ogsandbox serve --ephemeral`, a subprocess): the feed is uploaded over
//     SFTP as incoming/<id>.Products.xml and timed from the start of the upload to the return
//     of Close, which the drop site answers only once the feed is read, validated and stored;
//     the same bytes uploaded as incoming/bulk.bin (stored, not read) give the transfer's
//     share. The feed report must show every product accepted, or the bench fails.
//
// Read the ratios, not the absolute figures: these machines are noisy.
//
//	go run ./bench/ingest [-products 100000] [-runs 3] [-cpuprofile sandbox.prof]
package main

import (
	"bufio"
	"encoding/json"
	"encoding/xml"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/ogsandbox/ogsandbox/bench/internal/benchkit"

	"github.com/pkg/sftp"
	"golang.org/x/crypto/ssh"
)

const (
	merchantID = "0e5de2bedc5e11e3a2e4bc764e106cf4"
	sftpUser   = "petstore"
	sftpPass   = "petstore-sftp"
	// bareEnv, when set to a feed's path, makes this binary the bare parse baseline (step 2).
	bareEnv = "OGSANDBOX_BENCH_BARE_PARSE"
)

func main() {
	benchkit.Name = "ingest bench"
	if path := os.Getenv(bareEnv); path != "" {
		bareParse(path)
		return
	}
	products := flag.Int("products", 100_000, "products in the feed")
	cpuprofile := flag.String("cpuprofile", "", "have the last run's sandbox write a CPU profile of its whole life to this file (OGSANDBOX_CPUPROFILE)")
	runs := flag.Int("runs", 3, "runs of each, alternating (medians are reported)")
	keep := flag.Bool("keep", false, "keep the temporary directory (the feed, the sandbox's log)")
	flag.Parse()
	if *runs < 1 {
		benchkit.Fail(fmt.Errorf("-runs must be at least 1"))
	}

	dir, err := os.MkdirTemp("", "ogsandbox-bench-*")
	benchkit.Check(err)
	if *keep {
		fmt.Fprintln(os.Stderr, "ingest bench: keeping", dir)
	} else {
		defer os.RemoveAll(dir)
	}
	sandboxBin := filepath.Join(dir, "ogsandbox")
	benchkit.Build(sandboxBin, "./cmd/ogsandbox")

	feedPath := filepath.Join(dir, merchantID+".Products.xml")
	size := writeFeed(feedPath, *products)

	if *cpuprofile != "" {
		*cpuprofile, err = filepath.Abs(*cpuprofile)
		benchkit.Check(err)
	}
	// Alternately, so that noise hits both alike: the baseline in a process of its own, then
	// a fresh sandbox.
	var bares []bare
	var sbs []sandboxResult
	for i := 0; i < *runs; i++ {
		bares = append(bares, runBare(feedPath, *products))
		profile := ""
		if i == *runs-1 {
			profile = *cpuprofile
		}
		sbs = append(sbs, runSandbox(sandboxBin, dir, feedPath, *products, profile))
	}
	b := bare{parse: median(bares, func(b bare) time.Duration { return b.parse }), hwmKB: maxOf(bares, func(b bare) int { return b.hwmKB })}
	s := sandboxResult{
		feed:   median(sbs, func(s sandboxResult) time.Duration { return s.feed }),
		bulk:   median(sbs, func(s sandboxResult) time.Duration { return s.bulk }),
		ingest: median(sbs, func(s sandboxResult) time.Duration { return s.feed - s.bulk }),
		idleKB: maxOf(sbs, func(s sandboxResult) int { return s.idleKB }),
		hwmKB:  maxOf(sbs, func(s sandboxResult) int { return s.hwmKB }),
		anonKB: sbs[len(sbs)-1].anonKB,
		fileKB: sbs[len(sbs)-1].fileKB,
		report: sbs[len(sbs)-1].report,
	}

	mb := func(kb int) float64 { return float64(kb) / 1024 }
	secs := func(d time.Duration) string { return fmt.Sprintf("%.2f s", d.Seconds()) }
	bareRate := float64(*products) / b.parse.Seconds()
	fullRate := float64(*products) / s.feed.Seconds()
	ingestRate := float64(*products) / s.ingest.Seconds()
	fmt.Printf("product feed: %d products, %.1f MB; %d runs, alternating; medians (peak RSS: the highest)\n", *products, float64(size)/1e6, *runs)
	fmt.Printf("%-46s %9s %11s %10s\n", "work", "time", "products/s", "peak RSS")
	fmt.Printf("%-46s %9s %11.0f %7.1f MB\n", "bare encoding/xml streaming parse (own process)", secs(b.parse), bareRate, mb(b.hwmKB))
	fmt.Printf("%-46s %9s %11.0f %7.1f MB\n", "sandbox: SFTP upload + ingest, to Close", secs(s.feed), fullRate, mb(s.hwmKB))
	fmt.Printf("%-46s %9s %11s\n", "sandbox: same bytes as bulk.bin (transfer only)", secs(s.bulk), "-")
	fmt.Printf("%-46s %9s %11.0f\n", "sandbox: ingest only (estimate: difference)", secs(s.ingest), ingestRate)
	fmt.Printf("transfer: %.0f MiB/s, %.0f%% of upload + ingest\n", float64(size)/(1<<20)/s.bulk.Seconds(), 100*s.bulk.Seconds()/s.feed.Seconds())
	fmt.Printf("sandbox RSS: %.1f MB idle before the uploads, %.1f MB peak after the ingest; resident after it (last run): %.1f MB anonymous (Go heap...), %.1f MB file-backed (bbolt's mmap, the binary)\n", mb(s.idleKB), mb(s.hwmKB), mb(s.anonKB), mb(s.fileKB))
	fmt.Printf("feed report (last run): %d entries, %d accepted, %d refused, complete %v, %d findings\n", s.report.Entries, s.report.Accepted, s.report.Refused, s.report.Complete, len(s.report.Findings))
	fmt.Printf("ratio (upload+ingest / bare parse), products/s: %.2f  (aim: >= 0.50)\n", fullRate/bareRate)
	fmt.Printf("ratio (ingest-only estimate / bare parse), products/s: %.2f\n", ingestRate/bareRate)
	fmt.Printf("sandbox peak RSS: %.1f MB  (aim: < 100 MB)\n", mb(s.hwmKB))
	for i := range sbs {
		fmt.Printf("  run %d: bare %s, upload+ingest %s, bulk.bin %s\n", i+1, secs(bares[i].parse), secs(sbs[i].feed), secs(sbs[i].bulk))
	}
}

func median[T any](xs []T, f func(T) time.Duration) time.Duration {
	ds := make([]time.Duration, len(xs))
	for i, x := range xs {
		ds[i] = f(x)
	}
	slices.Sort(ds)
	return ds[len(ds)/2]
}

func maxOf[T any](xs []T, f func(T) int) int {
	m := 0
	for _, x := range xs {
		m = max(m, f(x))
	}
	return m
}

// writeFeed writes n distinct valid products and returns the file's size.
func writeFeed(path string, n int) int64 {
	f, err := os.Create(path)
	benchkit.Check(err)
	w := bufio.NewWriterSize(f, 1<<20)
	benchkit.Check(feedXML(w, n))
	benchkit.Check(w.Flush())
	benchkit.Check(f.Close())
	st, err := os.Stat(path)
	benchkit.Check(err)
	return st.Size()
}

// feedXML writes a product feed of n distinct valid products.
func feedXML(w io.Writer, n int) error {
	bw := bufio.NewWriter(w)
	bw.WriteString("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<products>\n")
	for i := 1; i <= n; i++ {
		fmt.Fprintf(bw, `  <product>
    <name><![CDATA[Product %[1]d]]></name>
    <product_id>P%06[1]d</product_id>
    <sku>SKU%06[1]d</sku>
    <price>%[2]d.%02[3]d</price>
    <details_url>https://shop.example/p/%[1]d</details_url>
    <image_url>https://shop.example/i/%[1]d.jpg</image_url>
    <autoship_eligible>1</autoship_eligible>
    <in_stock>1</in_stock>
    <categories><category><![CDATA[CAT-%[4]d]]></category></categories>
    <extra_data><field key="variant_name"><![CDATA[Variant %[1]d]]></field></extra_data>
  </product>
`, i, 1+i%500, i%100, i%50)
	}
	bw.WriteString("</products>\n")
	return bw.Flush()
}

// product is what the bare baseline decodes of each entry.
type product struct {
	Name             string   `xml:"name"`
	ProductID        string   `xml:"product_id"`
	SKU              string   `xml:"sku"`
	Price            string   `xml:"price"`
	DetailsURL       string   `xml:"details_url"`
	ImageURL         string   `xml:"image_url"`
	AutoshipEligible string   `xml:"autoship_eligible"`
	InStock          string   `xml:"in_stock"`
	Categories       []string `xml:"categories>category"`
	Extra            []struct {
		Key   string `xml:"key,attr"`
		Value string `xml:",chardata"`
	} `xml:"extra_data>field"`
}

type bareResult struct {
	Products int           `json:"products"`
	Parse    time.Duration `json:"parse_ns"`
	HWMKB    int           `json:"hwm_kb"`
}

// bareParse is the baseline's subprocess: it streams the feed, then prints what it did and
// its own peak RSS as JSON.
func bareParse(path string) {
	t0 := time.Now()
	f, err := os.Open(path)
	benchkit.Check(err)
	n, err := bareDecode(f)
	benchkit.Check(err)
	f.Close()
	parse := time.Since(t0)
	_, hwm := benchkit.MemKB(os.Getpid())
	benchkit.Check(json.NewEncoder(os.Stdout).Encode(bareResult{n, parse, hwm}))
}

// bareDecode is the baseline: a streaming encoding/xml parse, each <product> decoded into a
// small struct. It returns the number of products.
func bareDecode(r io.Reader) (int, error) {
	d := xml.NewDecoder(bufio.NewReaderSize(r, 64<<10))
	n := 0
	for {
		tok, err := d.Token()
		if err == io.EOF {
			return n, nil
		}
		if err != nil {
			return n, err
		}
		if se, ok := tok.(xml.StartElement); ok && se.Name.Local == "product" {
			var p product
			if err := d.DecodeElement(&p, &se); err != nil {
				return n, err
			}
			if p.ProductID == "" || p.Price == "" {
				return n, fmt.Errorf("product %d decoded empty", n+1)
			}
			n++
		}
	}
}

type bare struct {
	parse time.Duration
	hwmKB int
}

// runBare re-executes this binary as the baseline.
func runBare(feedPath string, want int) bare {
	self, err := os.Executable()
	benchkit.Check(err)
	cmd := exec.Command(self)
	cmd.Env = append(os.Environ(), bareEnv+"="+feedPath)
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	benchkit.Check(err)
	var r bareResult
	benchkit.Check(json.Unmarshal(out, &r))
	if r.Products != want {
		benchkit.Check(fmt.Errorf("bare parse read %d products, want %d", r.Products, want))
	}
	return bare{r.Parse, r.HWMKB}
}

type sandboxResult struct {
	feed, bulk, ingest time.Duration
	idleKB, hwmKB      int
	anonKB, fileKB     int // resident after the ingest: the heap and others, mapped files (bbolt)
	report             feedReport
}

type feedReport struct {
	File     string `json:"file"`
	Entries  int    `json:"entries"`
	Accepted int    `json:"accepted"`
	Refused  int    `json:"refused"`
	Complete bool   `json:"complete"`
	Findings []struct {
		Rule     string `json:"rule"`
		Severity string `json:"severity"`
		Message  string `json:"message"`
		Line     int    `json:"line"`
	} `json:"findings"`
}

func runSandbox(bin, dir, feedPath string, want int, cpuprofile string) sandboxResult {
	addr, sftpAddr := benchkit.FreeAddr(), benchkit.FreeAddr()
	logPath := filepath.Join(dir, "sandbox.log")
	logf, err := os.Create(logPath)
	benchkit.Check(err)
	defer logf.Close()
	cmd := exec.Command(bin, "serve", "--ephemeral", "--listen", addr, "--sftp-listen", sftpAddr)
	cmd.Env = os.Environ()
	if cpuprofile != "" {
		cmd.Env = append(cmd.Env, "OGSANDBOX_CPUPROFILE="+cpuprofile)
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	benchkit.Check(cmd.Start())
	stopped := false
	stop := func() {
		if !stopped {
			stopped = true
			cmd.Process.Signal(os.Interrupt)
			cmd.Wait()
		}
	}
	defer stop()
	failWith := func(err error) {
		stop()
		if b, rerr := os.ReadFile(logPath); rerr == nil {
			fmt.Fprintf(os.Stderr, "--- sandbox log ---\n%s--- end of sandbox log ---\n", tail(string(b), 4000))
		}
		benchkit.Fail(err)
	}
	if err := benchkit.WaitReady("http://"+addr+"/_sandbox/health", 5*time.Millisecond, 15*time.Second); err != nil {
		failWith(err)
	}
	base := "http://" + addr

	conn, err := ssh.Dial("tcp", sftpAddr, &ssh.ClientConfig{
		User:            sftpUser,
		Auth:            []ssh.AuthMethod{ssh.Password(sftpPass)},
		HostKeyCallback: ssh.InsecureIgnoreHostKey(), // a throwaway sandbox on loopback
		Timeout:         10 * time.Second,
	})
	if err != nil {
		failWith(fmt.Errorf("sftp login: %w", err))
	}
	defer conn.Close()
	client, err := sftp.NewClient(conn, sftp.UseConcurrentWrites(true))
	if err != nil {
		failWith(fmt.Errorf("sftp session: %w", err))
	}
	defer client.Close()

	var r sandboxResult
	r.idleKB, _ = benchkit.MemKB(cmd.Process.Pid)
	// The transfer alone first (a name the drop site stores and does not read), then the feed.
	if r.bulk, err = upload(client, feedPath, "incoming/bulk.bin"); err != nil {
		failWith(fmt.Errorf("upload of bulk.bin: %w", err))
	}
	if r.feed, err = upload(client, feedPath, "incoming/"+merchantID+".Products.xml"); err != nil {
		failWith(fmt.Errorf("upload of the feed: %w", err))
	}
	st := benchkit.ProcStatus(cmd.Process.Pid)
	r.hwmKB, r.anonKB, r.fileKB = st["VmHWM"], st["RssAnon"], st["RssFile"]

	var reports []feedReport
	if err := getJSON(base+"/_sandbox/merchants/"+merchantID+"/feeds", &reports); err != nil {
		failWith(err)
	}
	if len(reports) == 0 {
		failWith(fmt.Errorf("GET feeds: no report"))
	}
	r.report = reports[len(reports)-1]
	errs := 0
	for _, f := range r.report.Findings {
		if f.Severity != "warning" {
			errs++
		}
	}
	if !strings.HasSuffix(r.report.File, merchantID+".Products.xml") || r.report.Accepted != want || r.report.Refused != 0 || !r.report.Complete || errs != 0 {
		b, _ := json.MarshalIndent(r.report, "", "  ")
		failWith(fmt.Errorf("the feed was not ingested whole: want %d accepted, no refusals, no errors; the last report is:\n%s", want, tail(string(b), 4000)))
	}
	return r
}

// upload sends a local file to the drop site and returns the time from opening the remote
// file to the return of its Close.
func upload(c *sftp.Client, local, remote string) (time.Duration, error) {
	src, err := os.Open(local)
	if err != nil {
		return 0, err
	}
	defer src.Close()
	t0 := time.Now()
	dst, err := c.Create(remote)
	if err != nil {
		return 0, err
	}
	if _, err := dst.ReadFrom(src); err != nil {
		dst.Close()
		return 0, err
	}
	if err := dst.Close(); err != nil {
		return 0, err
	}
	return time.Since(t0), nil
}

func getJSON(url string, v any) error {
	resp, err := http.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		return fmt.Errorf("GET %s: %s: %s", url, resp.Status, b)
	}
	return json.NewDecoder(resp.Body).Decode(v)
}

func tail(s string, n int) string {
	if len(s) > n {
		return "..." + s[len(s)-n:]
	}
	return s
}
