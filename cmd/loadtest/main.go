// Command loadtest plays a crowd scenario against waitroom gateways and
// reports whether they held: see docs/LOADTEST.md.
//
//	loadtest -scenario scenarios/smoke.yaml [-out dir] [flags]
//
// It exits 0 when every checked property passed, 1 when one failed or the
// run was incomplete, and 2 when the run could not be made.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/pprof"
	"syscall"
	"time"

	"github.com/waitroom/waitroom/loadtest"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("loadtest", flag.ContinueOnError)
	fs.SetOutput(stderr)
	scenario := fs.String("scenario", "", "scenario file (YAML), required")
	out := fs.String("out", "", "report directory (default var/loadtest/<scenario name>)")
	waitroom := fs.String("waitroom", defaultWaitroom(), "waitroom binary for a spawned fleet")
	var o loadtest.Options
	fs.IntVar(&o.Workers, "workers", 512, "requests in flight at most")
	fs.DurationVar(&o.Timeout, "timeout", 30*time.Minute, "hard bound on the run, real time")
	fs.Int64Var(&o.MaxPeople, "max-people", 5_000_000, "refuse scenarios simulating more people")
	fs.BoolVar(&o.AllowRemote, "allow-remote", false, "allow target gateways on other hosts than this one")
	fs.DurationVar(&o.RequestTimeout, "request-timeout", 10*time.Second, "bound on one request")
	fs.DurationVar(&o.ProgressEvery, "progress", 5*time.Second, "interval of progress lines")
	quiet := fs.Bool("quiet", false, "no progress lines")
	cpuProfile := fs.String("cpuprofile", "", "write the loadtest's own CPU profile to this file")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *scenario == "" || fs.NArg() > 0 {
		fmt.Fprintln(stderr, "usage: loadtest -scenario file.yaml [-out dir] [flags]")
		fs.PrintDefaults()
		return 2
	}
	b, err := os.ReadFile(*scenario)
	if err != nil {
		fmt.Fprintln(stderr, "loadtest:", err)
		return 2
	}
	sc, err := loadtest.ParseScenario(b)
	if err != nil {
		fmt.Fprintf(stderr, "loadtest: %s:\n%v\n", *scenario, err)
		return 2
	}
	o.Waitroom = *waitroom
	o.Out = *out
	if o.Out == "" {
		o.Out = filepath.Join("var", "loadtest", sc.Name)
	}
	if !*quiet {
		o.Progress = stderr
	}
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			fmt.Fprintln(stderr, "loadtest:", err)
			return 2
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			fmt.Fprintln(stderr, "loadtest:", err)
			return 2
		}
		defer pprof.StopCPUProfile()
	}
	rep, err := loadtest.Run(ctx, sc, o)
	if err != nil {
		if errors.Is(err, context.Canceled) {
			err = errors.New("interrupted")
		}
		fmt.Fprintln(stderr, "loadtest:", err)
		return 2
	}
	if err := rep.Write(o.Out); err != nil {
		fmt.Fprintln(stderr, "loadtest: write the report:", err)
		return 2
	}
	fmt.Fprint(stdout, rep.Summary())
	fmt.Fprintf(stdout, "report: %s\n", filepath.Join(o.Out, "report.md"))
	if !rep.Passed {
		return 1
	}
	return 0
}

// defaultWaitroom is the waitroom binary beside this one (make build puts
// both in bin/), else bin/waitroom.
func defaultWaitroom() string {
	if exe, err := os.Executable(); err == nil {
		p := filepath.Join(filepath.Dir(exe), "waitroom")
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	return filepath.Join("bin", "waitroom")
}
