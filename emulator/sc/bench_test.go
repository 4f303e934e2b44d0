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
// HTTP client, with 64 concurrent clients (bench/purchase.sh compares with a bare handler).
func BenchmarkPurchasePOST(b *testing.B) {
	sb := sandboxtest.Start(b)
	header := auth("cust-1")
	var n atomic.Int64
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	b.SetParallelism(32)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			body := prefixed(purchase(fmt.Sprint("BENCH-", n.Add(1))))
			req, _ := http.NewRequest("POST", sb.URL()+"/subscription/create", strings.NewReader(body))
			req.Header.Set("Authorization", header)
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
