package config

import (
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"reflect"
	"slices"
	"time"

	"github.com/fsnotify/fsnotify"
	"github.com/spf13/pflag"
)

// Live holds the settings that take effect without a restart.
type Live struct {
	RatePerHour int64
	Paused      bool
}

func (c Config) live() Live { return Live{RatePerHour: c.RatePerHour, Paused: c.Paused} }

// debounce lets a burst of events from one save (truncate, write, rename)
// settle into one reload, so a half-written file is never read.
const debounce = 100 * time.Millisecond

// Watcher reloads the configuration when its file changes. Create it with
// Watch and stop it with Close.
type Watcher struct {
	fsw     *fsnotify.Watcher
	stopped chan struct{}

	// Owned by the run goroutine.
	fs       *pflag.FlagSet
	log      *slog.Logger
	onLive   func(before, after Live)
	path     string // absolute
	resolved string // path with symlinks resolved
	current  Config // the last configuration that loaded successfully
}

// Watch loads the configuration as Load does, then reloads it whenever the
// file named by --config changes; without --config it returns an error.
//
// A reload that fails keeps the previous configuration and logs every
// problem at warn level. A reload that succeeds is compared with the
// previous successful one: if the Live settings differ it logs "config
// reloaded" at info level and calls onLive (nil means no callback) from the
// watcher's goroutine; other changed keys are logged, by name only, as
// needing a restart. Flags and environment variables still win over the
// file, which is why fs must not be parsed again while watching. onLive
// must not call Close.
//
// log nil means slog.Default().
func Watch(fs *pflag.FlagSet, log *slog.Logger, onLive func(before, after Live)) (*Watcher, error) {
	path := configPath(fs)
	if path == "" {
		return nil, errors.New("config: watch needs a configuration file (--config)")
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("config: watch %s: %w", path, err)
	}
	if log == nil {
		log = slog.Default()
	}
	fsw, err := fsnotify.NewWatcher()
	if err != nil {
		return nil, fmt.Errorf("config: watch %s: %w", path, err)
	}
	// The directory is watched rather than the file: editors and Kubernetes
	// replace a file by renaming another over it, which ends a watch on the
	// file itself.
	if err := fsw.Add(filepath.Dir(abs)); err != nil {
		fsw.Close()
		return nil, fmt.Errorf("config: watch %s: %w", path, err)
	}
	// Loaded after the watch started, so a change in between is not missed.
	current, err := Load(fs)
	if err != nil {
		fsw.Close()
		return nil, err
	}
	resolved, _ := filepath.EvalSymlinks(abs) // Load just read it, so it resolves
	w := &Watcher{
		fsw:      fsw,
		stopped:  make(chan struct{}),
		fs:       fs,
		log:      log,
		onLive:   onLive,
		path:     abs,
		resolved: resolved,
		current:  current,
	}
	go w.run()
	return w, nil
}

// Close stops watching and waits until a reload in progress has finished.
// Calling it again is a no-op.
func (w *Watcher) Close() error {
	err := w.fsw.Close()
	<-w.stopped
	return err
}

func (w *Watcher) run() {
	defer close(w.stopped)
	timer := time.NewTimer(debounce)
	timer.Stop()
	defer timer.Stop()
	for {
		select {
		case ev, ok := <-w.fsw.Events:
			if !ok {
				return
			}
			if w.concerns(ev) {
				timer.Reset(debounce)
			}
		case err, ok := <-w.fsw.Errors:
			if !ok {
				return
			}
			w.log.Warn("config watch error", "file", w.path, "err", err)
		case <-timer.C:
			w.reload()
		}
	}
}

// concerns reports whether ev may have changed the configuration file.
func (w *Watcher) concerns(ev fsnotify.Event) bool {
	if !ev.Has(fsnotify.Write) && !ev.Has(fsnotify.Create) {
		return false
	}
	if filepath.Clean(ev.Name) == w.path {
		return true
	}
	// Kubernetes updates a mounted ConfigMap by re-pointing a symlink
	// elsewhere in the directory; the file's own name sees no event.
	resolved, err := filepath.EvalSymlinks(w.path)
	if err != nil || resolved == w.resolved {
		return false
	}
	w.resolved = resolved
	return true
}

func (w *Watcher) reload() {
	next, err := Load(w.fs)
	if err != nil {
		var ve *ValidationError
		if !errors.As(err, &ve) {
			w.log.Warn("config reload failed; keeping the previous configuration", "err", err)
			return
		}
		for _, p := range ve.Problems {
			w.log.Warn("config reload rejected; keeping the previous configuration", "key", p.Key, "problem", p.Message)
		}
		return
	}
	before, after := w.current.live(), next.live()
	restart := slices.DeleteFunc(changedKeys(w.current, next), func(k string) bool {
		return k == "rate_per_hour" || k == "paused"
	})
	w.current = next
	if len(restart) > 0 {
		// Names only: values may be secrets.
		w.log.Warn("config changed; needs a restart to take effect", "keys", restart)
	}
	if before == after {
		w.log.Debug("config file changed; no live setting changed", "file", w.path)
		return
	}
	w.log.Info("config reloaded",
		"rate_per_hour_before", before.RatePerHour, "rate_per_hour", after.RatePerHour,
		"paused_before", before.Paused, "paused", after.Paused)
	if w.onLive != nil {
		w.onLive(before, after)
	}
}

// changedKeys lists, sorted, the keys whose values differ between a and b.
// An empty list equals an absent one.
func changedKeys(a, b Config) []string {
	la, lb := leaves(a), leaves(b)
	var keys []string
	for k, va := range la {
		vb := lb[k]
		if reflect.DeepEqual(va, vb) {
			continue
		}
		if ra, rb := reflect.ValueOf(va), reflect.ValueOf(vb); ra.Kind() == reflect.Slice && ra.Len() == 0 && rb.Len() == 0 {
			continue
		}
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
