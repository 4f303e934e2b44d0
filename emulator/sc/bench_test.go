package sc_test

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/ogsandbox/ogsandbox/emulator/sandbox/sandboxtest"
)

// BenchmarkPurchasePOST measures durable purchase POSTs through a started sandbox and a real
// HTTP client, with 64 concurrent clients and 1,000 customers, as bench/purchase.sh does (it
// compares with a bare handler). Each customer's subscriptions of a date share one upcoming
// order, which grows with every checkout.
func BenchmarkPurchasePOST(b *testing.B) {
	sb := sandboxtest.Start(b)
	const customers = 1000
	headers := make([]string, customers)
	for i := range headers {
		headers[i] = auth(fmt.Sprint("cust-", i))
	}
	var n atomic.Int64
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	b.SetParallelism(32)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := n.Add(1)
			p := purchase(fmt.Sprint("BENCH-", i))
			p["user"].(obj)["user_id"] = fmt.Sprint("cust-", i%customers)
			body := prefixed(p)
			req, _ := http.NewRequest("POST", sb.URL()+"/subscription/create", strings.NewReader(body))
			req.Header.Set("Authorization", headers[i%customers])
			req.Header.Set("Content-Type", "application/json")
			resp, err := client.Do(req)
			if err != nil {
				b.Fatal(err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 201 {
				b.Fatalf("status %d", resp.StatusCode)
			}
		}
	})
}
