// Command benchtarget is the baseline of scripts/bench.sh: a fasthttp server
// that answers every request, on any path and method, with the same 55-byte
// JSON body: "a fasthttp handler returning a fixed body", the ceiling the
// gateway's status poll is measured against. Like the gateway it names
// itself in a Server header.
//
//	benchtarget [--listen host:port] [--gateway-timeouts]
//
// --gateway-timeouts gives it the read, write and idle timeouts of a
// gateway with the default configuration, which fasthttp turns into three
// connection deadlines set per request: the bench script measures that
// cost with it, and the ratio against the plain server. It runs until
// SIGINT or SIGTERM.
package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/pflag"
	"github.com/valyala/fasthttp"

	"github.com/waitroom/waitroom/config"
)

// body is the fixed answer, the size of a short status poll answer.
var body = []byte(`{"state":"waiting","position":12345,"ahead":1234,"x":1}`)

var contentType = []byte("application/json")

func main() {
	listen := pflag.String("listen", "127.0.0.1:18091", "address to listen on")
	timeouts := pflag.Bool("gateway-timeouts", false, "read, write and idle timeouts as a default gateway's")
	pflag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var srv fasthttp.Server
	if *timeouts {
		p := config.Default().Proxy
		srv.ReadTimeout, srv.WriteTimeout, srv.IdleTimeout = p.ReadTimeout, p.WriteTimeout, p.IdleTimeout
	}
	ln, err := net.Listen("tcp", *listen)
	if err == nil {
		err = serve(ctx, ln, &srv)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "benchtarget:", err)
		os.Exit(1)
	}
}

// serve answers on ln with srv (its timeouts set, or none) until ctx ends.
func serve(ctx context.Context, ln net.Listener, srv *fasthttp.Server) error {
	srv.Handler = func(ctx *fasthttp.RequestCtx) {
		ctx.Response.Header.SetContentTypeBytes(contentType)
		ctx.SetBody(body)
	}
	srv.Name = "benchtarget"
	go func() {
		<-ctx.Done()
		_ = srv.Shutdown()
	}()
	return srv.Serve(ln)
}
