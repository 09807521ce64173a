// Command benchref serves the benchmark's handler with fasthttp, the fast
// reference `make bench` compares the engine against. It is its own module
// so that the main go.mod does not carry fasthttp.
//
// It listens on -addr, prints "listening on ADDR" once ready, and serves
// until SIGTERM or SIGINT.
package main

import (
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"syscall"

	"github.com/valyala/fasthttp"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "listen address")
	flag.Parse()
	ln, err := net.Listen("tcp4", *addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "benchref:", err)
		os.Exit(1)
	}
	body := []byte("Hello World")
	srv := &fasthttp.Server{
		Handler: func(ctx *fasthttp.RequestCtx) {
			// The same response the engine and net/http send: net/http
			// sniffs "text/plain; charset=utf-8" from this body.
			ctx.SetContentType("text/plain; charset=utf-8")
			ctx.SetBody(body)
		},
		Name:        "-",
		Concurrency: 1 << 20, // no artificial cap: 10,000 connections and more
	}
	go func() {
		sig := make(chan os.Signal, 1)
		signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
		<-sig
		srv.Shutdown()
	}()
	fmt.Println("listening on", ln.Addr())
	if err := srv.Serve(ln); err != nil {
		fmt.Fprintln(os.Stderr, "benchref:", err)
		os.Exit(1)
	}
}
