package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ogsandbox/ogsandbox/emulator/config"
	"github.com/ogsandbox/ogsandbox/emulator/ogcrypto"
	"github.com/ogsandbox/ogsandbox/emulator/sandbox/sandboxtest"
	"golang.org/x/crypto/ssh"
)

// purchaseBody is a minimal valid cartless purchase POST for the demo merchant.
func purchaseBody(orderID, user string) string {
	m := config.DemoMerchant()
	enc := func(s string) string {
		return strings.NewReplacer("+", "%2B", "/", "%2F", "=", "%3D").Replace(ogcrypto.MustEncrypt(m.HashKey, s))
	}
	return `create_request={"merchant_id":"` + m.ID + `","og_cart_tracking":false,"merchant_order_id":"` + orderID + `",
"user":{"user_id":"` + user + `","first_name":"Ann","last_name":"Lee","email":"ann%40example.com","phone_number":"5550100",
"shipping_address":{"first_name":"Ann","last_name":"Lee","address":"1%20Main%20St","city":"Springfield","state_province_code":"IL","zip_postal_code":"62701","phone":"5550100","country_code":"US"}},
"payment":{"token_id":"tok-1","cc_holder":"` + enc("Ann Lee") + `","cc_exp_date":"` + enc("03/2027") + `","cc_type":"2"},
"products":[{"product":"DF-30","sku":"DF-30-LB","subscription_info":{"quantity":"1","tracking_override":{"offer":"o","every":"4","every_period":"2"}},
"purchase_info":{"quantity":"1","price":"54.99","discounted_price":"54.99","total":"54.99"}}]}`
}

// P5/issue 3: a 201 means the subscription is committed. The process is SIGKILLed right after a
// burst of concurrent checkouts; every one that was answered 201 is there after a restart.
// (A killed process leaves the kernel's page cache behind, so this proves that the answer comes
// after the commit, not that the commit reached the platter: that is bbolt's fsync, which the
// store never turns off.)
func TestBinaryKeepsAcknowledgedSubscriptionsThroughSIGKILL(t *testing.T) {
	dir := t.TempDir()
	p := startBinary(t, dir)
	m := config.DemoMerchant()
	var mu sync.Mutex
	var acked []string
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := 0; ; i++ {
				user := fmt.Sprintf("crash-%d-%d", g, i)
				req, _ := http.NewRequest("POST", p.base+"/subscription/create", strings.NewReader(purchaseBody("ORD-"+user, user)))
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("Authorization", ogcrypto.HeaderJSON(m.HashKey, m.PublicID, user, time.Now().Unix()))
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					return // the process was killed
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 201 {
					t.Errorf("checkout %s: %d", user, resp.StatusCode)
					return
				}
				mu.Lock()
				acked = append(acked, user)
				n := len(acked)
				mu.Unlock()
				if n == 200 {
					p.cmd.Process.Kill() // SIGKILL: no shutdown, no flush
				}
			}
		})
	}
	wg.Wait()
	p.wait(t, 10*time.Second)
	if len(acked) < 200 {
		t.Fatalf("only %d checkouts before the kill", len(acked))
	}
	q := startBinary(t, dir)
	resp, err := http.Get(q.base + "/_sandbox/merchants/" + m.ID + "/subscriptions")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var subs []struct {
		Customer string `json:"customer_id"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&subs); err != nil {
		t.Fatal(err)
	}
	have := map[string]bool{}
	for _, s := range subs {
		have[s.Customer] = true
	}
	for _, u := range acked {
		if !have[u] {
			t.Errorf("checkout of %s was answered 201 but its subscription is gone after SIGKILL", u)
		}
	}
	// X5: the journal, kept in its own files, has every answered checkout too: an entry is
	// written before the answer leaves the handler.
	journaled := map[string]bool{}
	for cursor := ""; ; {
		var page struct {
			Entries []struct {
				Status  int `json:"status"`
				Request struct {
					Body string `json:"body"`
				} `json:"request"`
			} `json:"entries"`
			Next *uint64 `json:"next"`
		}
		jr, err := http.Get(q.base + "/_sandbox/journal?surface=sc&limit=1000" + cursor)
		if err != nil {
			t.Fatal(err)
		}
		err = json.NewDecoder(jr.Body).Decode(&page)
		jr.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range page.Entries {
			if _, after, ok := strings.Cut(e.Request.Body, `"merchant_order_id":"ORD-`); ok && e.Status == 201 {
				journaled[after[:strings.IndexByte(after, '"')]] = true
			}
		}
		if page.Next == nil {
			break
		}
		cursor = fmt.Sprintf("&cursor=%d", *page.Next)
	}
	for _, u := range acked {
		if !journaled[u] {
			t.Errorf("checkout of %s was answered 201 but the journal has no 201 for it after SIGKILL", u)
		}
	}
	t.Logf("%d checkouts acknowledged before SIGKILL, %d subscriptions and %d journaled 201s after restart", len(acked), len(subs), len(journaled))
}

// F1, X5: a product feed whose upload was acknowledged (the SFTP close answered) keeps its
// report through a SIGKILL sent at once: the F1 check reads it. (It was committed behind the
// close, and lost.)
func TestBinaryKeepsAnAcknowledgedFeedReportThroughSIGKILL(t *testing.T) {
	dir := t.TempDir()
	m := config.DemoMerchant()
	for round := range 3 {
		p := startBinary(t, dir)
		var h struct {
			Surfaces map[string]string `json:"surfaces"`
		}
		resp, err := http.Get(p.base + "/_sandbox/health")
		if err != nil {
			t.Fatal(err)
		}
		json.NewDecoder(resp.Body).Decode(&h)
		resp.Body.Close()
		c, conn, err := sandboxtest.DialSFTP(h.Surfaces["sftp"], m.SFTP.Username, ssh.Password(m.SFTP.Password))
		if err != nil {
			t.Fatal(err)
		}
		name := fmt.Sprintf("incoming/%s.Products.xml", m.ID)
		f, err := c.Create(name)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(f, `<products><product><name><![CDATA[Widget %d]]></name><product_id>W-%d</product_id><sku>W-%d</sku><price>2.00</price><in_stock>1</in_stock></product></products>`, round, round, round)
		if err := f.Close(); err != nil {
			t.Fatalf("the upload was not acknowledged: %v", err)
		}
		p.cmd.Process.Kill() // SIGKILL at once: no shutdown, no flush
		c.Close()
		conn.Close()
		p.wait(t, 10*time.Second)

		q := startBinary(t, dir)
		resp, err = http.Get(q.base + "/_sandbox/merchants/" + m.ID + "/feeds")
		if err != nil {
			t.Fatal(err)
		}
		var feeds []struct {
			Via      string `json:"via"`
			Accepted int    `json:"accepted"`
		}
		json.NewDecoder(resp.Body).Decode(&feeds)
		resp.Body.Close()
		n := 0
		for _, fr := range feeds {
			if fr.Via == "sftp" && fr.Accepted == 1 {
				n++
			}
		}
		if n != round+1 {
			t.Fatalf("round %d: %d SFTP feed reports after SIGKILL and restart, want %d", round, n, round+1)
		}
		q.cmd.Process.Kill()
		q.wait(t, 10*time.Second)
	}
}
