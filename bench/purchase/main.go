// Command purchase load-tests the purchase POST (issue 3): wrk POSTs realistic signed 2 KB
// bodies, each with its own merchant_order_id, at 64 connections for 10 s against the sandbox
// and, in the same run, against a bare net/http handler answering a fixed 201. Each 201 from
// the sandbox is a subscription committed to disk. Read the ratio, not the absolute figures:
// these machines are noisy.
//
//	go run ./bench/purchase [-d 10s] [-c 64]
package main

import (
	"bufio"
	"flag"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/ogsandbox/ogsandbox/bench/internal/benchkit"

	"github.com/ogsandbox/ogsandbox/emulator/config"
	"github.com/ogsandbox/ogsandbox/emulator/ogcrypto"
)

func main() {
	benchkit.Name = "purchase bench"
	duration := flag.Duration("d", 10*time.Second, "load duration per server")
	conns := flag.Int("c", 64, "connections")
	only := flag.String("only", "", "load only this running sandbox (base URL), e.g. to profile it")
	onlyRepeat := flag.Bool("repeat", false, "with -only: repeat one merchant_order_id (409s after the first)")
	flag.Parse()
	if _, err := exec.LookPath("wrk"); err != nil {
		benchkit.Fail(fmt.Errorf("wrk is not installed (Debian: apt-get install wrk)"))
	}
	dir, err := os.MkdirTemp("", "ogsandbox-bench-*")
	benchkit.Check(err)
	defer os.RemoveAll(dir)
	sandboxBin, bareBin, floorBin := filepath.Join(dir, "ogsandbox"), filepath.Join(dir, "bare"), filepath.Join(dir, "floor")
	if *only == "" {
		benchkit.Build(sandboxBin, "./cmd/ogsandbox")
		benchkit.Build(bareBin, "./bench/bare")
		benchkit.Build(floorBin, "./bench/floor")
	}
	script, repeat := filepath.Join(dir, "purchase.lua"), filepath.Join(dir, "repeat.lua")
	benchkit.Check(os.WriteFile(script, []byte(luaScript(false)), 0o644))
	benchkit.Check(os.WriteFile(repeat, []byte(luaScript(true)), 0o644))
	if *only != "" {
		which := script
		if *onlyRepeat {
			which = repeat
		}
		r := runWrk(which, *only+"/subscription/create", *conns, *duration, "ogsandbox")
		fmt.Printf("%s: %.0f req/s, p50 %s, p99 %s, non-2xx %d\n", *only, r.rps, r.p50, r.p99, r.non2xx)
		return
	}

	bareAddr := benchkit.FreeAddr()
	bare := exec.Command(bareBin, "-listen", bareAddr)
	benchkit.Check(bare.Start())
	benchkit.Check(benchkit.WaitReady("http://"+bareAddr+"/", 5*time.Millisecond, 10*time.Second))
	b := runWrk(script, "http://"+bareAddr+"/subscription/create", *conns, *duration, "bare net/http 201")
	stop(bare)

	// The floor: the least a durable create costs on this stack (HTTP through echo, the
	// header's HMAC, every token of the body, the two AES fields, a group-committed append):
	// what is left above it is what the sandbox adds.
	floorAddr := benchkit.FreeAddr()
	floor := exec.Command(floorBin, "-listen", floorAddr, "-dir", dir)
	benchkit.Check(floor.Start())
	benchkit.Check(benchkit.WaitReady("http://"+floorAddr+"/health", 5*time.Millisecond, 10*time.Second))
	fl := runWrk(script, "http://"+floorAddr+"/subscription/create", *conns, *duration, "floor (durable, no rules)")
	stop(floor)
	os.Remove(filepath.Join(dir, "floor.log"))

	addr := benchkit.FreeAddr()
	sb := exec.Command(sandboxBin, "serve", "--ephemeral")
	sb.Env = append(os.Environ(), "OGSANDBOX_LISTEN="+addr, "OGSANDBOX_SFTP_LISTEN="+benchkit.FreeAddr())
	benchkit.Check(sb.Start())
	benchkit.Check(benchkit.WaitReady("http://"+addr+"/_sandbox/health", 5*time.Millisecond, 10*time.Second))
	s := runWrk(script, "http://"+addr+"/subscription/create", *conns, *duration, "ogsandbox (durable)")
	subs := countSubscriptions("http://" + addr)
	// The same checkout again and again: after the first, every request is answered 409 (P6).
	// It does all that a create does (HTTP, body, HMAC, AES, validation, the store's lookup of
	// the merchant_order_id, the journal entry and the attempt record P8's checks read) except
	// write a checkout: about what the rate would be if storing one cost nothing.
	r := runWrk(repeat, "http://"+addr+"/subscription/create", *conns, *duration, "ogsandbox 409 (no checkout)")
	stop(sb)

	fmt.Printf("purchase POST, ~%d-byte signed bodies, %d connections, %s each (wrk -t1)\n", len(bodyPrefix())+len(bodySuffix())+6, *conns, *duration)
	fmt.Printf("%-26s %12s %10s %10s %12s\n", "server", "req/s", "p50", "p99", "non-2xx")
	for _, r := range []result{b, fl, s, r} {
		fmt.Printf("%-26s %12.0f %10s %10s %12d\n", r.name, r.rps, r.p50, r.p99, r.non2xx)
	}
	fmt.Printf("subscriptions committed by the sandbox: %d (requests answered: %d)\n", subs, s.requests)
	fmt.Printf("ratio (sandbox / bare): %.2f  (aim: >= 0.20); sandbox p99 %s (aim: < 25ms)\n", s.rps/b.rps, s.p99)
	fmt.Printf("ceiling, a checkout that costs nothing to store (409 / bare): %.2f\n", r.rps/b.rps)
	fmt.Printf("floor, the least a durable create costs on this stack (floor / bare): %.2f; the sandbox runs at %.2f of the floor\n", fl.rps/b.rps, s.rps/fl.rps)
}

type result struct {
	name             string
	rps              float64
	p50, p99         string
	non2xx, requests int
}

var (
	reRPS      = regexp.MustCompile(`Requests/sec:\s+([0-9.]+)`)
	reLat      = regexp.MustCompile(`(?m)^\s+(50|99)%\s+(\S+)`)
	reNon2xx   = regexp.MustCompile(`Non-2xx or 3xx responses: (\d+)`)
	reRequests = regexp.MustCompile(`(\d+) requests in`)
)

func runWrk(script, target string, conns int, d time.Duration, name string) result {
	out, err := exec.Command("wrk", "-t1", "-c"+strconv.Itoa(conns), "-d"+d.String(), "--latency", "-s", script, target).CombinedOutput()
	if err != nil {
		benchkit.Fail(fmt.Errorf("wrk: %v\n%s", err, out))
	}
	r := result{name: name}
	if m := reRPS.FindSubmatch(out); m != nil {
		r.rps, _ = strconv.ParseFloat(string(m[1]), 64)
	}
	for _, m := range reLat.FindAllSubmatch(out, -1) {
		if string(m[1]) == "50" {
			r.p50 = string(m[2])
		} else {
			r.p99 = string(m[2])
		}
	}
	if m := reNon2xx.FindSubmatch(out); m != nil {
		r.non2xx, _ = strconv.Atoi(string(m[1]))
	}
	if m := reRequests.FindSubmatch(out); m != nil {
		r.requests, _ = strconv.Atoi(string(m[1]))
	}
	return r
}

// The body: a realistic SFCC-style checkout (per-field URL-encoded, three products) by one of
// 1,000 customers, each with its own signed header (a signature covers the user id and the
// timestamp only, so it stays valid for the run, A3); every request has its own
// merchant_order_id.
const customers = 1000

// enc URL-encodes a string value as C2 asks and a correct client does (encodeURIComponent,
// rawurlencode): a space is %20. Form encoding's '+' stays a plus at staging, and is warned about.
func enc(s string) string { return strings.ReplaceAll(url.QueryEscape(s), "+", "%20") }

func bodyPrefix() string {
	m := config.DemoMerchant()
	return `create_request={"merchant_id":"` + m.ID + `","og_cart_tracking":false,"merchant_order_id":"BENCH-`
}

func bodySuffix() string {
	m := config.DemoMerchant()
	aes := func(s string) string { return enc(ogcrypto.MustEncrypt(m.HashKey, s)) }
	product := func(id, sku, price string, every, period int) string {
		return `{"product":"` + id + `","sku":"` + sku + `","subscription_info":{"quantity":"1","extra_data":{"source":"` + enc("checkout page") + `"},"tracking_override":{"offer":"` + enc("3b0f6a1e5efc12e49d61bc764e106cf6") + `","every":"` + strconv.Itoa(every) + `","every_period":"` + strconv.Itoa(period) + `"}},"purchase_info":{"quantity":"1","price":"` + price + `","discounted_price":"` + price + `","total":"` + price + `"}}`
	}
	address := `{"first_name":"Nicholas","last_name":"Bundy","company_name":"` + enc("Bundy & Sons Pet Supplies") + `","address":"` + enc("75 Broad Street") + `","address2":"` + enc("Floor 23, Suite 2301") + `","city":"` + enc("New York") + `","state_province_code":"NY","zip_postal_code":"10004","phone":"` + enc("+1 (212) 555-0100") + `","fax":"","country_code":"US"}`
	return `","user":{"user_id":"` + `]==] .. user .. [==[` + `","first_name":"Nicholas","last_name":"Bundy","email":"` + enc("nicholas.bundy+orders@example.com") + `","phone_number":"` + enc("+1 (212) 555-0100") + `","extra_data":{"loyalty_tier":"gold","marketing_opt_in":"yes"},"shipping_address":` + address + `,"billing_address":` + address + `},` +
		`"payment":{"token_id":"` + enc("tok_1NcZ2y2eZvKYlo2C9Qe5Xb3L") + `","cc_holder":"` + aes("Nicholas Bundy") + `","cc_exp_date":"` + aes("03/2027") + `","cc_type":"1","label":"` + enc("Visa ending 4242") + `"},` +
		`"products":[` + product("DF-30", "DF-30-LB", "54.99", 4, 2) + `,` + product("CT-4050", "50020401", "4.99", 2, 2) + `,` + product("FT-3M", "FT-3M", "39.99", 3, 3) + `]}`
}

// luaScript writes the wrk script; with repeat, every request carries merchant_order_id BENCH-0.
func luaScript(repeat bool) string {
	order := "tostring(counter)"
	if repeat {
		order = `"0"`
	}
	m := config.DemoMerchant()
	var headers strings.Builder
	for i := 0; i < customers; i++ {
		user := fmt.Sprintf("bench-customer-%04d", i)
		fmt.Fprintf(&headers, "  [==[%s]==],\n", ogcrypto.HeaderJSON(m.HashKey, m.PublicID, user, time.Now().Unix()))
	}
	return `-- generated by bench/purchase: every request has its own merchant_order_id,
-- and the customers take turns
local counter = 0
local headers = {
` + headers.String() + `}
wrk.method = "POST"
request = function()
  counter = counter + 1
  local i = counter % ` + strconv.Itoa(customers) + `
  local user = string.format("bench-customer-%04d", i)
  local body = [==[` + bodyPrefix() + `]==] .. ` + order + ` .. [==[` + bodySuffix() + `]==]
  return wrk.format(nil, nil, {["Content-Type"] = "application/json", ["Authorization"] = headers[i + 1]}, body)
end
`
}

func countSubscriptions(base string) int {
	resp, err := http.Get(base + "/_sandbox/merchants/" + config.DemoMerchant().ID + "/subscriptions")
	benchkit.Check(err)
	defer resp.Body.Close()
	n := 0
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<30)
	sc.Split(bufio.ScanWords)
	for sc.Scan() {
		n += strings.Count(sc.Text(), `"id":`)
	}
	return n
}

func stop(cmd *exec.Cmd) {
	cmd.Process.Signal(os.Interrupt)
	cmd.Wait()
}
