package config

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"
)

// wait bounds every wait for the watcher; generous because the machine may
// be busy, and only reached when a test fails.
const wait = 3 * time.Second

// recorder is a slog.Handler that passes every record to a channel.
type recorder chan slog.Record

func (r recorder) Enabled(context.Context, slog.Level) bool { return true }
func (r recorder) Handle(_ context.Context, rec slog.Record) error {
	r <- rec.Clone()
	return nil
}
func (r recorder) WithAttrs([]slog.Attr) slog.Handler { return r }
func (r recorder) WithGroup(string) slog.Handler      { return r }

// watched is a running Watcher over a temporary file.
type watched struct {
	path  string
	lives chan [2]Live
	logs  recorder
}

func configYAML(rate int64, extra string) string {
	return fmt.Sprintf("admin_token: %s\nrate_per_hour: %d\n%s", testToken, rate, extra)
}

// mustWatch writes content to a temporary file and watches it with args as
// further flags; the watcher is closed when the test ends.
func mustWatch(t *testing.T, content string, args ...string) *watched {
	t.Helper()
	w := &watched{
		path:  writeFile(t, t.TempDir(), "waitroom.yaml", content),
		lives: make(chan [2]Live, 10),
		logs:  make(recorder, 100),
	}
	fs := parsedFlags(t, append([]string{"--config", w.path}, args...)...)
	watcher, err := Watch(fs, slog.New(w.logs), func(before, after Live) { w.lives <- [2]Live{before, after} })
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := watcher.Close(); err != nil {
			t.Error(err)
		}
	})
	return w
}

// write replaces the file in place, as `echo >` does.
func (w *watched) write(t *testing.T, content string) {
	t.Helper()
	if err := os.WriteFile(w.path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

// renameOver writes a temporary file and renames it over the file, as most
// editors do.
func (w *watched) renameOver(t *testing.T, content string) {
	t.Helper()
	tmp := writeFile(t, filepath.Dir(w.path), ".waitroom.yaml.swp", content)
	if err := os.Rename(tmp, w.path); err != nil {
		t.Fatal(err)
	}
}

func (w *watched) wantLive(t *testing.T, before, after Live) {
	t.Helper()
	select {
	case got := <-w.lives:
		if got != [2]Live{before, after} {
			t.Fatalf("onLive(%+v, %+v), want (%+v, %+v)", got[0], got[1], before, after)
		}
	case <-time.After(wait):
		t.Fatalf("onLive not called within %s", wait)
	}
}

// noLive fails if onLive has been called. Call it after a log record that
// the same reload writes, so the reload has finished.
func (w *watched) noLive(t *testing.T) {
	t.Helper()
	select {
	case got := <-w.lives:
		t.Fatalf("onLive(%+v, %+v) called, want no call", got[0], got[1])
	default:
	}
}

// waitLog returns the first record with message msg, failing the test
// after a while.
func (w *watched) waitLog(t *testing.T, msg string) slog.Record {
	t.Helper()
	timeout := time.After(wait)
	for {
		select {
		case rec := <-w.logs:
			if rec.Message == msg {
				return rec
			}
		case <-timeout:
			t.Fatalf("no log %q within %s", msg, wait)
		}
	}
}

func attr(rec slog.Record, key string) slog.Value {
	var v slog.Value
	rec.Attrs(func(a slog.Attr) bool {
		if a.Key == key {
			v = a.Value
			return false
		}
		return true
	})
	return v
}

func TestWatch(t *testing.T) {
	t.Run("OKInPlaceWrite", func(t *testing.T) {
		w := mustWatch(t, configYAML(1000, ""))
		w.write(t, configYAML(5000, ""))
		w.wantLive(t, Live{RatePerHour: 1000}, Live{RatePerHour: 5000})
		rec := w.waitLog(t, "config reloaded")
		if got := attr(rec, "rate_per_hour").Int64(); rec.Level != slog.LevelInfo || got != 5000 {
			t.Errorf("log %q at %v with rate_per_hour %d, want info and 5000", rec.Message, rec.Level, got)
		}
	})

	t.Run("OKRenameOver", func(t *testing.T) {
		w := mustWatch(t, configYAML(1000, ""))
		w.renameOver(t, configYAML(1000, "paused: true\n"))
		w.wantLive(t, Live{RatePerHour: 1000}, Live{RatePerHour: 1000, Paused: true})
		w.renameOver(t, configYAML(3000, "paused: true\n"))
		w.wantLive(t, Live{RatePerHour: 1000, Paused: true}, Live{RatePerHour: 3000, Paused: true})
	})

	t.Run("OKKubernetesSymlinkSwap", func(t *testing.T) {
		// A mounted ConfigMap: waitroom.yaml -> ..data/waitroom.yaml, and
		// ..data -> a versioned directory that an update replaces.
		dir := t.TempDir()
		for _, v := range []string{"v1", "v2"} {
			if err := os.Mkdir(filepath.Join(dir, v), 0o700); err != nil {
				t.Fatal(err)
			}
		}
		writeFile(t, filepath.Join(dir, "v1"), "waitroom.yaml", configYAML(1000, ""))
		link := func(target, name string) {
			if err := os.Symlink(target, filepath.Join(dir, name)); err != nil {
				t.Fatal(err)
			}
		}
		link("v1", "..data")
		link(filepath.Join("..data", "waitroom.yaml"), "waitroom.yaml")
		lives := make(chan [2]Live, 10)
		fs := parsedFlags(t, "--config", filepath.Join(dir, "waitroom.yaml"))
		watcher, err := Watch(fs, slog.New(slog.DiscardHandler), func(before, after Live) { lives <- [2]Live{before, after} })
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { watcher.Close() })
		w := &watched{lives: lives}

		writeFile(t, filepath.Join(dir, "v2"), "waitroom.yaml", configYAML(9000, ""))
		link("v2", "..data_tmp")
		if err := os.Rename(filepath.Join(dir, "..data_tmp"), filepath.Join(dir, "..data")); err != nil {
			t.Fatal(err)
		}
		w.wantLive(t, Live{RatePerHour: 1000}, Live{RatePerHour: 9000})
	})

	t.Run("ErrInvalidRewriteKeepsPrevious", func(t *testing.T) {
		w := mustWatch(t, configYAML(1000, ""))
		w.write(t, configYAML(0, "proxy:\n  max_conns: 0\n"))
		var keys []string
		for range 2 {
			rec := w.waitLog(t, "config reload rejected; keeping the previous configuration")
			if rec.Level != slog.LevelWarn {
				t.Errorf("rejection logged at %v, want warn", rec.Level)
			}
			keys = append(keys, attr(rec, "key").String())
		}
		if want := []string{"rate_per_hour", "proxy.max_conns"}; !slices.Equal(keys, want) {
			t.Errorf("rejected keys = %q, want %q", keys, want)
		}
		w.noLive(t)

		// The next valid file is compared with the last valid one.
		w.write(t, configYAML(7000, ""))
		w.wantLive(t, Live{RatePerHour: 1000}, Live{RatePerHour: 7000})
	})

	t.Run("ErrUnreadableRewriteKeepsPrevious", func(t *testing.T) {
		w := mustWatch(t, configYAML(1000, ""))
		w.write(t, "rate_per_hour: [\n")
		w.waitLog(t, "config reload failed; keeping the previous configuration")
		w.noLive(t)
	})

	t.Run("OKFlagsStillWin", func(t *testing.T) {
		w := mustWatch(t, configYAML(1000, ""), "--rate-per-hour", "42")
		w.write(t, configYAML(5000, "paused: true\n"))
		w.wantLive(t, Live{RatePerHour: 42}, Live{RatePerHour: 42, Paused: true})
	})

	t.Run("OKRestartKeysNamedNotShown", func(t *testing.T) {
		const newToken = "a-brand-new-admin-token"
		w := mustWatch(t, configYAML(1000, ""))
		content := strings.Replace(configYAML(1000, "room: other\n"), testToken, newToken, 1)
		w.write(t, content)
		rec := w.waitLog(t, "config changed; needs a restart to take effect")
		got := attr(rec, "keys").String()
		if !strings.Contains(got, "admin_token") || !strings.Contains(got, "room") {
			t.Errorf("restart keys = %s, want admin_token and room", got)
		}
		if strings.Contains(got, newToken) || strings.Contains(got, "other") {
			t.Errorf("restart log shows values: %s", got)
		}
		w.noLive(t)
	})

	t.Run("ErrNoConfigFile", func(t *testing.T) {
		if _, err := Watch(parsedFlags(t), nil, nil); err == nil {
			t.Fatal("Watch() without --config = nil error")
		}
	})

	t.Run("ErrInvalidInitialFile", func(t *testing.T) {
		path := writeFile(t, t.TempDir(), "waitroom.yaml", configYAML(0, ""))
		_, err := Watch(parsedFlags(t, "--config", path), nil, nil)
		if got, want := problemKeys(t, err), []string{"rate_per_hour"}; !slices.Equal(got, want) {
			t.Fatalf("Watch() problem keys = %q, want %q", got, want)
		}
	})
}

func TestWatcher_Close(t *testing.T) {
	base := runtime.NumGoroutine()
	path := writeFile(t, t.TempDir(), "waitroom.yaml", configYAML(1000, ""))
	watcher, err := Watch(parsedFlags(t, "--config", path), slog.New(slog.DiscardHandler), nil)
	if err != nil {
		t.Fatal(err)
	}
	// A pending reload must not outlive Close either.
	if err := os.WriteFile(path, []byte(configYAML(2000, "")), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := watcher.Close(); err != nil {
		t.Fatal(err)
	}
	if err := watcher.Close(); err != nil {
		t.Fatalf("second Close() = %v", err)
	}
	deadline := time.Now().Add(wait)
	for runtime.NumGoroutine() > base {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<16)
			t.Fatalf("%d goroutines after Close, %d before:\n%s", runtime.NumGoroutine(), base, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(10 * time.Millisecond)
	}
}
