// Command bare is the baseline of the benchmarks: a bare net/http server answering every
// request with a fixed 201, started the way the sandbox is (BASELINES.md).
package main

import (
	"flag"
	"io"
	"log"
	"net/http"
)

func main() {
	addr := flag.String("listen", "127.0.0.1:8090", "address")
	flag.Parse()
	body := []byte(`{"result": "Subscription request received", "subs_req_id": "59f215d4b3ade33e68c8ae9b"}`)
	log.Fatal(http.ListenAndServe(*addr, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		w.Write(body)
	})))
}
