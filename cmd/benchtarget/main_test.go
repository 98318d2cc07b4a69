package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

func TestServe(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- serve(ctx, ln, &fasthttp.Server{ReadTimeout: time.Second, WriteTimeout: time.Second, IdleTimeout: time.Second})
	}()

	for _, tc := range []struct{ method, path string }{
		{"GET", "/"},
		{"GET", "/waitroom/api/status"},
		{"POST", "/anything?x=1"},
	} {
		t.Run(tc.method+" "+tc.path, func(t *testing.T) {
			req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
			defer fasthttp.ReleaseRequest(req)
			defer fasthttp.ReleaseResponse(resp)
			req.Header.SetMethod(tc.method)
			req.SetRequestURI("http://" + ln.Addr().String() + tc.path)
			if err := fasthttp.Do(req, resp); err != nil {
				t.Fatal(err)
			}
			if got, want := resp.StatusCode(), fasthttp.StatusOK; got != want {
				t.Errorf("status %d, want %d", got, want)
			}
			if got, want := len(resp.Body()), 55; got != want {
				t.Errorf("body is %d bytes, want %d", got, want)
			}
			if !bytes.Equal(resp.Body(), body) || !json.Valid(resp.Body()) {
				t.Errorf("body %q, want the fixed JSON %q", resp.Body(), body)
			}
		})
	}

	cancel()
	if err := <-done; err != nil {
		t.Errorf("serve after cancel: %v", err)
	}
}
