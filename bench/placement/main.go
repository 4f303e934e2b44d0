// Command placement measures the scheduler (issue 4), in one process and one run:
//
//  1. 10,000 orders due at one placement run, placed against a local merchant endpoint,
//     beside the raw POST rate of the same HTTP client set-up (16 in flight) sending the same
//     kind of order XML to the same endpoint, and beside two ceilings with nothing stored
//     (see ceilingRates);
//  2. a year advanced over 1,000 monthly subscriptions (12,000 placements), in wall time.
//
// Each placement is two durable commits (the attempt before the POST, the decision after),
// XML building, signing, and a journal entry. Read the ratio: these machines are noisy.
//
//	go run ./bench/placement [-orders 10000] [-year-subs 1000]
package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"runtime/pprof"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ogsandbox/ogsandbox/bench/internal/benchkit"

	"github.com/ogsandbox/ogsandbox/emulator/og"
	"github.com/ogsandbox/ogsandbox/emulator/ogcrypto"
	"github.com/ogsandbox/ogsandbox/emulator/sandbox"
	"github.com/ogsandbox/ogsandbox/emulator/scheduler"
)

var start = time.Date(2026, 1, 5, 0, 0, 0, 0, time.UTC)

func main() {
	benchkit.Name = "placement bench"
	orders := flag.Int("orders", 10_000, "orders due at one run")
	yearSubs := flag.Int("year-subs", 1_000, "monthly subscriptions advanced over a year")
	cpuprofile := flag.String("cpuprofile", "", "write a CPU profile of the run placing the due orders to this file")
	flag.Parse()
	endpoint := merchantEndpoint()
	raw := rawRate(endpoint, *orders)

	sb, m := startSandbox(endpoint)
	subscribe(sb, m, *orders, og.Frequency{Every: 1, EveryPeriod: og.PeriodWeek})
	// Up to just before the run (the reminders go out on the 7th), then the run alone.
	run := start.Add(6*24*time.Hour + 12*time.Hour) // Jan 11, 6:00 Chicago
	t0 := time.Now()
	_, err := sb.Advance(context.Background(), run.Add(-time.Minute))
	benchkit.Check(err)
	reminders := time.Since(t0)
	noWrites, sendOnly := ceilingRates(sb, m, endpoint, run)
	if *cpuprofile != "" { // the placement run alone
		f, err := os.Create(*cpuprofile)
		benchkit.Check(err)
		defer f.Close()
		benchkit.Check(pprof.StartCPUProfile(f))
	}
	t0 = time.Now()
	res, err := sb.Advance(context.Background(), run)
	benchkit.Check(err)
	took := time.Since(t0)
	pprof.StopCPUProfile()
	sb.Close()
	rate := float64(res.Placed) / took.Seconds()

	sb2, m2 := startSandbox(endpoint)
	subscribe(sb2, m2, *yearSubs, og.Frequency{Every: 1, EveryPeriod: og.PeriodMonth})
	t1 := time.Now()
	year, err := sb2.Advance(context.Background(), start.AddDate(1, 0, 0))
	benchkit.Check(err)
	yearTook := time.Since(t1)
	sb2.Close()

	fmt.Printf("placement of %d due orders against a local endpoint (16 in flight)\n", *orders)
	fmt.Printf("  raw POSTs of order XML, same client set-up:  %8.0f /s\n", raw)
	fmt.Printf("  orders placed by the scheduler (durable):    %8.0f /s  (%d placed in %s)\n", rate, res.Placed, took.Round(time.Millisecond))
	fmt.Printf("  ratio: %.2f  (aim: >= 0.50)\n", rate/raw)
	fmt.Printf("  ceilings, nothing stored:\n")
	fmt.Printf("    read, price, XML, sign, POST, parse:       %8.0f /s  (ratio %.2f)\n", noWrites, noWrites/raw)
	fmt.Printf("    XML, sign, POST, parse (contexts loaded):   %8.0f /s  (ratio %.2f)\n", sendOnly, sendOnly/raw)
	fmt.Printf("  (the %d order reminders two runs earlier took %s)\n", *orders, reminders.Round(time.Millisecond))
	fmt.Printf("a year over %d monthly subscriptions: %d runs, %d orders placed, in %s  (aim: under 10s)\n",
		*yearSubs, year.Runs, year.Placed, yearTook.Round(time.Millisecond))
}

var answered atomic.Int64

// merchantEndpoint serves a minimal merchant answering SUCCESS.
func merchantEndpoint() string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	benchkit.Check(err)
	go http.Serve(ln, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		n := answered.Add(1)
		w.Header().Set("Content-Type", "application/xml")
		fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?><order><code>SUCCESS</code><orderId>%d</orderId></order>`, n)
	}))
	return "http://" + ln.Addr().String() + "/og/orders"
}

// ceilingRates do for each order due at run what a placement does except storing anything:
// load its context, price it, build its XML with etree (O3), sign (O2), POST with the
// scheduler's client set-up and parse the answer (O4). The first is the rate the scheduler
// would reach if recording the attempt, the decision, the next order and the journal entry
// cost nothing; the second loads and prices every context beforehand, leaving only what the
// issue fixes for each order: the XML, the signature, the POST and the answer.
func ceilingRates(sb *sandbox.Sandbox, m *og.Merchant, endpoint string, run time.Time) (noWrites, sendOnly float64) {
	db := sb.Store()
	due, err := db.DueOrders(m.ID, run)
	benchkit.Check(err)
	load := func(i int) *og.OrderContext {
		oc, err := db.OrderContext(context.Background(), m, due[i].OGID)
		benchkit.Check(err)
		if _, why := og.PriceOrder(oc); why != "" {
			benchkit.Fail(fmt.Errorf("order %d: %s", due[i].OGID, why))
		}
		return oc
	}
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: scheduler.Concurrency, MaxConnsPerHost: scheduler.Concurrency}}
	send := func(oc *og.OrderContext) {
		xml, err := scheduler.OrderXML(oc)
		benchkit.Check(err)
		req, _ := http.NewRequest("POST", endpoint, bytes.NewReader(xml))
		req.Header.Set("Content-Type", "application/xml")
		req.Header.Set("Authorization", ogcrypto.HeaderJSON(m.HashKey, m.PublicID, oc.Customer.MerchantUserID, time.Now().Unix()))
		resp, err := client.Do(req)
		benchkit.Check(err)
		body, err := io.ReadAll(resp.Body)
		benchkit.Check(err)
		resp.Body.Close()
		_, err = scheduler.ParseResponse(body)
		benchkit.Check(err)
	}
	each := func(fn func(i int)) float64 {
		var next atomic.Int64
		var wg sync.WaitGroup
		t0 := time.Now()
		for range scheduler.Concurrency {
			wg.Go(func() {
				for i := next.Add(1) - 1; i < int64(len(due)); i = next.Add(1) - 1 {
					fn(int(i))
				}
			})
		}
		wg.Wait()
		return float64(len(due)) / time.Since(t0).Seconds()
	}
	noWrites = each(func(i int) { send(load(i)) })
	ocs := make([]*og.OrderContext, len(due))
	for i := range due {
		ocs[i] = load(i)
	}
	sendOnly = each(func(i int) { send(ocs[i]) })
	return noWrites, sendOnly
}

// rawRate POSTs n copies of a typical order XML with the scheduler's client set-up.
func rawRate(endpoint string, n int) float64 {
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: scheduler.Concurrency, MaxConnsPerHost: scheduler.Concurrency}}
	body := []byte(sampleXML)
	var next atomic.Int64
	var wg sync.WaitGroup
	t0 := time.Now()
	for range scheduler.Concurrency {
		wg.Go(func() {
			for next.Add(1) <= int64(n) {
				req, _ := http.NewRequest("POST", endpoint, bytes.NewReader(body))
				req.Header.Set("Content-Type", "application/xml")
				resp, err := client.Do(req)
				benchkit.Check(err)
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		})
	}
	wg.Wait()
	return float64(n) / time.Since(t0).Seconds()
}

func startSandbox(endpoint string) (*sandbox.Sandbox, *og.Merchant) {
	dir, err := os.MkdirTemp("", "ogsandbox-bench-*")
	benchkit.Check(err)
	cfg := sandbox.TestConfig(dir)
	cfg.Ephemeral = true
	cfg.ClockStart = start
	cfg.JournalMaxBytes = 256 << 20
	cfg.Merchants[0].Placement.URL = endpoint
	sb, err := sandbox.Start(context.Background(), cfg, sandbox.Options{})
	benchkit.Check(err)
	return sb, sb.Merchants()[0]
}

// subscribe creates n subscriptions, one customer each, through real purchase POSTs.
func subscribe(sb *sandbox.Sandbox, m *og.Merchant, n int, f og.Frequency) {
	enc := func(s string) string { return url.QueryEscape(ogcrypto.MustEncrypt(m.HashKey, s)) }
	holder, expiry := enc("Test Customer"), enc("12/2030")
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 32}}
	var next atomic.Int64
	var wg sync.WaitGroup
	for range 32 {
		wg.Go(func() {
			for {
				i := next.Add(1)
				if i > int64(n) {
					return
				}
				user := fmt.Sprintf("bench-%06d", i)
				body := fmt.Sprintf(`create_request={"merchant_id":"%s","og_cart_tracking":false,"merchant_order_id":"B-%d",
"user":{"user_id":"%s","first_name":"Test","last_name":"Customer","email":"%s%%40example.com","phone_number":"5550100",
"shipping_address":{"first_name":"Test","last_name":"Customer","address":"1%%20Main%%20St","city":"Springfield","state_province_code":"IL","zip_postal_code":"62701","phone":"5550100","country_code":"US"}},
"payment":{"token_id":"tok-%d","cc_holder":"%s","cc_exp_date":"%s","cc_type":"1"},
"products":[{"product":"DF-30","sku":"DF-30-LB","subscription_info":{"quantity":"1","tracking_override":{"offer":"o","every":"%d","every_period":"%d"}},
"purchase_info":{"quantity":"1","price":"54.99","discounted_price":"54.99","total":"54.99"}}]}`,
					m.ID, i, user, user, i, holder, expiry, f.Every, f.EveryPeriod)
				req, _ := http.NewRequest("POST", sb.URL()+"/subscription/create", bytes.NewReader([]byte(body)))
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("Authorization", ogcrypto.HeaderJSON(m.HashKey, m.PublicID, user, time.Now().Unix()))
				resp, err := client.Do(req)
				benchkit.Check(err)
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 201 {
					benchkit.Check(fmt.Errorf("purchase POST %d: %d", i, resp.StatusCode))
				}
			}
		})
	}
	wg.Wait()
}

// sampleXML is a typical one-item order XML, for the raw rate.
const sampleXML = `<?xml version="1.0" encoding="UTF-8"?>
<order><head><orderOgId>1</orderOgId><orderPublicId>0a52e64caa1911ecbea15e94dbd6dbd0</orderPublicId><orderOgDate><![CDATA[2026-01-11]]></orderOgDate>
<orderSourcePartnerId>0e5de2bedc5e11e3a2e4bc764e106cf4</orderSourcePartnerId><orderSourcePartnerName><![CDATA[Pet Store]]></orderSourcePartnerName>
<orderItemsCount>1</orderItemsCount><orderSubtotalValue>54.99</orderSubtotalValue><orderSubtotalDiscount>0.00</orderSubtotalDiscount>
<orderSalesTax>0.00</orderSalesTax><orderDiscount>0.00</orderDiscount><orderShipping>0.00</orderShipping><orderTotalValue>54.99</orderTotalValue>
<orderCurrency>USD</orderCurrency><orderPaymentPublicId>3c9efe848c0511ebaf4c2ec47f35ff80</orderPaymentPublicId><orderPaymentDataLocation>OG</orderPaymentDataLocation>
<orderPaymentMethod>CC</orderPaymentMethod><orderCcType><![CDATA[Visa]]></orderCcType><orderCcOwner/><orderCcNumber/>
<orderCcExpire><![CDATA[nq+UQCFXsSJQx/dOvA+zwQzDFDlnWL9lCXQ/q5nFNdk=]]></orderCcExpire><orderTokenId><![CDATA[tok-1]]></orderTokenId><orderPaymentLabel/></head>
<customer><customerOgId>1</customerOgId><customerPartnerId><![CDATA[bench-000001]]></customerPartnerId><customerName><![CDATA[Test Customer]]></customerName>
<customerFirstName><![CDATA[Test]]></customerFirstName><customerLastName><![CDATA[Customer]]></customerLastName><customerEmail><![CDATA[bench@example.com]]></customerEmail>
<customerLocale><![CDATA[en-us]]></customerLocale><customerShippingFirstName><![CDATA[Test]]></customerShippingFirstName><customerShippingLastName><![CDATA[Customer]]></customerShippingLastName>
<customerShippingAddress><![CDATA[1 Main St]]></customerShippingAddress><customerShippingAddress1><![CDATA[1 Main St]]></customerShippingAddress1><customerShippingAddress2/>
<customerShippingCity><![CDATA[Springfield]]></customerShippingCity><customerShippingState><![CDATA[IL]]></customerShippingState><customerShippingZip><![CDATA[62701]]></customerShippingZip>
<customerShippingPhone><![CDATA[5550100]]></customerShippingPhone><customerShippingFax/><customerShippingCompany/><customerShippingCountry><![CDATA[US]]></customerShippingCountry>
</customer><items><item><publicId>53045416aae111ecb1798e2cf0ff778f</publicId><offerPublicId>o</offerPublicId><offerProfilePublicId/><qty>1</qty>
<sku><![CDATA[DF-30-LB]]></sku><name><![CDATA[Grain-Free Dog Food 30 lb]]></name><product_id><![CDATA[DF-30]]></product_id><discount>0.00</discount>
<finalPrice>54.99</finalPrice><price>54.99</price></item></items></order>`
