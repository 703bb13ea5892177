// Command barehttp is the yardstick for the HTTP benchmark: a bare net/http
// handler that returns fixed bytes from memory. scripts/bench-http.sh runs it
// beside the hub and compares requests/s.
package main

import (
	"flag"
	"log"
	"net/http"
	"os"
)

func main() {
	addr := flag.String("listen", "127.0.0.1:18081", "address")
	body := flag.String("body-file", "", "file whose bytes every response returns")
	flag.Parse()
	b, err := os.ReadFile(*body)
	if err != nil {
		log.Fatal(err)
	}
	log.Fatal(http.ListenAndServe(*addr, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		_, _ = w.Write(b)
	})))
}
