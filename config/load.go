package config

import (
	"errors"
	"fmt"
	"os"
	"reflect"
	"strings"
	"time"
	"unicode"

	"github.com/go-viper/mapstructure/v2"
	"github.com/spf13/pflag"
	"github.com/spf13/viper"
)

// envPrefix starts the name of every environment variable Load reads: a key
// in upper case with "." replaced by "_", as in WAITROOM_PROXY_MAX_CONNS.
// Lists are comma-separated: WAITROOM_PATHS_BYPASS="/a/,/b/".
const envPrefix = "WAITROOM"

// configFlag names the flag that holds the YAML file's path.
const configFlag = "config"

var envKeys = strings.NewReplacer(".", "_")

// flagName is the flag that overrides key: "log.level" is --log-level.
func flagName(key string) string {
	return strings.NewReplacer(".", "-", "_", "-").Replace(key)
}

// RegisterFlags defines --config and the flags for the settings an operator
// commonly overrides on the command line. Secrets have no flags, since
// command lines are visible to every local user through ps.
func RegisterFlags(fs *pflag.FlagSet) {
	d := Default()
	usage := func(key, text string) string {
		return fmt.Sprintf("%s (key %s, env %s_%s)", text, key, envPrefix, strings.ToUpper(envKeys.Replace(key)))
	}
	fs.String(configFlag, "", "YAML configuration `file`; watched for changes to rate_per_hour and paused")
	fs.String(flagName("listen"), d.Listen, usage("listen", "public `host:port`"))
	fs.String(flagName("admin_listen"), d.AdminListen, usage("admin_listen", "operator API `host:port`"))
	fs.String(flagName("backend"), d.Backend, usage("backend", "protected site's `URL`"))
	fs.String(flagName("room"), d.Room, usage("room", "queue `name`"))
	fs.Int64(flagName("rate_per_hour"), d.RatePerHour, usage("rate_per_hour", "people admitted per hour"))
	fs.Bool(flagName("paused"), d.Paused, usage("paused", "admit nobody"))
	fs.Duration(flagName("session_duration"), d.SessionDuration, usage("session_duration", "lifetime of an admission token"))
	fs.String(flagName("log.level"), d.Log.Level, usage("log.level", "debug, info, warn or error"))
	fs.String(flagName("log.format"), d.Log.Format, usage("log.format", "json or text"))
}

// Load builds the configuration from, in rising precedence: Default, the
// YAML file named by --config, WAITROOM_* environment variables, and the
// flags of fs that were set explicitly. A flag named after a key with "."
// and "_" replaced by "-" overrides that key (see RegisterFlags). fs must
// already be parsed; nil means no file and no flags.
//
// Durations are Go durations ("90s", "10m"); a bare number is rejected since
// its unit would be a guess. If AdminTokenFile is set, Load reads the token
// from it.
//
// A missing or malformed file is an error naming the file. Everything else
// (unknown keys, values of the wrong type, and every Validate problem) is
// reported together in one *ValidationError, each problem with its key.
func Load(fs *pflag.FlagSet) (Config, error) {
	v := viper.New()
	// Every key gets a default, because viper only consults the environment
	// for keys it already knows.
	defaults := leaves(Default())
	for key, val := range defaults {
		v.SetDefault(key, val)
	}
	v.SetEnvPrefix(envPrefix)
	v.SetEnvKeyReplacer(envKeys)
	v.AutomaticEnv()
	if fs != nil {
		for key := range defaults {
			if f := fs.Lookup(flagName(key)); f != nil {
				if err := v.BindPFlag(key, f); err != nil {
					return Config{}, fmt.Errorf("config: bind flag --%s: %w", f.Name, err)
				}
			}
		}
		if path := configPath(fs); path != "" {
			v.SetConfigFile(path)
			v.SetConfigType("yaml") // whatever the file's extension
			if err := v.ReadInConfig(); err != nil {
				return Config{}, fmt.Errorf("config file %s: %w", path, err)
			}
		}
	}

	var c Config
	var ps problems
	hook := mapstructure.ComposeDecodeHookFunc(durationHook, listHook, timeTextHook)
	if err := v.UnmarshalExact(&c, viper.DecodeHook(hook)); err != nil {
		ps = decodeProblems(err)
	}
	if c.AdminTokenFile != "" && c.AdminToken == "" {
		b, err := os.ReadFile(c.AdminTokenFile)
		if err != nil {
			ps.add("admin_token_file", "cannot read: %v", err)
		} else {
			c.AdminToken = strings.TrimRightFunc(string(b), unicode.IsSpace)
			c.tokenFromFile = true
		}
	}

	// A value that failed to decode is left zero; Validate would report that
	// zero as a second, misleading problem for the same key.
	reported := ps
	var vs problems
	vs.addErr(c.Validate())
	for _, p := range vs {
		if !coveredBy(p.Key, reported) {
			ps = append(ps, p)
		}
	}
	if err := ps.err(); err != nil {
		return Config{}, err
	}
	return c, nil
}

func configPath(fs *pflag.FlagSet) string {
	if fs == nil {
		return ""
	}
	path, err := fs.GetString(configFlag)
	if err != nil {
		return "" // fs has no --config flag
	}
	return path
}

// coveredBy reports whether key is, or lies under, a key in ps.
func coveredBy(key string, ps problems) bool {
	for _, p := range ps {
		if p.Key != "" && (key == p.Key || strings.HasPrefix(key, p.Key+".") || strings.HasPrefix(key, p.Key+"[")) {
			return true
		}
	}
	return false
}

// leaves maps every key of c to its value. Nested sections become dotted
// keys; lists, including lists of keys, are single values.
func leaves(c Config) map[string]any {
	m := make(map[string]any)
	var walk func(prefix string, v reflect.Value)
	walk = func(prefix string, v reflect.Value) {
		t := v.Type()
		for i := range t.NumField() {
			f := t.Field(i)
			if !f.IsExported() {
				continue
			}
			key := prefix + f.Tag.Get("mapstructure")
			if f.Type.Kind() == reflect.Struct {
				walk(key+".", v.Field(i))
				continue
			}
			m[key] = v.Field(i).Interface()
		}
	}
	walk("", reflect.ValueOf(c))
	return m
}

var (
	durationType = reflect.TypeFor[time.Duration]()
	stringsType  = reflect.TypeFor[[]string]()
)

// durationHook parses Go durations and rejects bare numbers, which
// mapstructure would otherwise take as nanoseconds.
func durationHook(from, to reflect.Type, data any) (any, error) {
	if to != durationType || from == durationType {
		return data, nil
	}
	switch from.Kind() {
	case reflect.String:
		s := reflect.ValueOf(data).String()
		d, err := time.ParseDuration(s)
		if err != nil {
			return nil, fmt.Errorf(`must be a duration such as "90s" or "10m", got %q`, s)
		}
		return d, nil
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64,
		reflect.Float32, reflect.Float64:
		return nil, errors.New(`must be a duration with a unit such as "90s" or "10m"; a bare number is ambiguous`)
	}
	return data, nil
}

// timeTextHook turns a YAML timestamp (an unquoted sign_from) back into
// text for the string field, which Validate parses with its own messages.
func timeTextHook(_, to reflect.Type, data any) (any, error) {
	if t, ok := data.(time.Time); ok && to.Kind() == reflect.String {
		return t.Format(time.RFC3339Nano), nil
	}
	return data, nil
}

// listHook splits a comma-separated string, as environment variables give
// lists, trimming spaces and dropping empty items.
func listHook(from, to reflect.Type, data any) (any, error) {
	if from.Kind() != reflect.String || to != stringsType {
		return data, nil
	}
	var out []string
	for item := range strings.SplitSeq(reflect.ValueOf(data).String(), ",") {
		if item = strings.TrimSpace(item); item != "" {
			out = append(out, item)
		}
	}
	return out, nil
}

// decodeProblems turns mapstructure's tree of joined errors into one Problem
// per key, and an unknown-keys error into one Problem per unknown key.
func decodeProblems(err error) problems {
	if de, ok := err.(*mapstructure.DecodeError); ok {
		return fromDecodeError(de)
	}
	var joined interface{ Unwrap() []error }
	if errors.As(err, &joined) {
		var ps problems
		for _, e := range joined.Unwrap() {
			ps = append(ps, decodeProblems(e)...)
		}
		return ps
	}
	return problems{{Message: err.Error()}}
}

func fromDecodeError(de *mapstructure.DecodeError) problems {
	inner := de.Unwrap()
	// mapstructure reports unknown keys only in this message's text.
	if list, ok := strings.CutPrefix(inner.Error(), "has invalid keys: "); ok {
		var ps problems
		for _, k := range strings.Split(list, ", ") {
			if de.Name() != "" {
				k = de.Name() + "." + k
			}
			ps = append(ps, Problem{Key: k, Message: "unknown key"})
		}
		return ps
	}
	var (
		unconvertible *mapstructure.UnconvertibleTypeError
		parse         *mapstructure.ParseError
	)
	msg := inner.Error()
	switch {
	case errors.As(inner, &unconvertible):
		msg = fmt.Sprintf("must be %s, got %s", describe(unconvertible.Expected.Type()), describe(reflect.TypeOf(unconvertible.Value)))
	case errors.As(inner, &parse):
		// The value itself is left out: it may be a secret.
		msg = "must be " + describe(parse.Expected.Type())
	}
	return problems{{Key: de.Name(), Message: msg}}
}

// describe names a type the way the YAML file spells it.
func describe(t reflect.Type) string {
	if t == nil {
		return "nothing"
	}
	if t == durationType {
		return `a duration such as "10m"`
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return "an integer"
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "a non-negative integer"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Slice, reflect.Array:
		return "a list"
	case reflect.Map, reflect.Struct:
		return "a mapping"
	}
	return t.String()
}
