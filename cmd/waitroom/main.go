// Command waitroom runs the waiting-room gateway and its development pieces.
//
//	waitroom serve [--config file.yaml] [flags]   the gateway and operator API
//	waitroom serve --check-config                 validate the configuration and exit
//	waitroom demo-backend [--listen addr]         the demo booking backend
//	    [--jwks url]                              ... verifying admissions with the gateway's keys
//	waitroom dev-idp [--listen addr]              the development identity provider
//	waitroom schedule [--from YYYY-MM-DD]         a 10-day rotation for development
//	waitroom keygen                               fresh ticket keys as YAML
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	m := NewMain()
	err := m.Run(ctx, os.Args[1:])
	if err == nil && !m.OneShot {
		<-ctx.Done()
	}
	if cerr := m.Close(); err == nil {
		err = cerr
	}
	if err != nil && !errors.Is(err, context.Canceled) {
		fmt.Fprintln(os.Stderr, "waitroom:", err)
		os.Exit(1)
	}
}
