package gateway

import (
	"math"
	"testing"
	"time"
)

func TestExpo_Escaping(t *testing.T) {
	var e expo
	e.family("x_total", "counter", "a \\ backslash\nand a newline")
	e.count("x_total", 7, "path", "C:\\dir \"q\"\nnext", "b", "")
	e.value("y", math.Inf(1))
	e.value("y", math.NaN())
	e.value("y", 0.25, "k", "v")
	want := "# HELP x_total a \\\\ backslash\\nand a newline\n" +
		"# TYPE x_total counter\n" +
		"x_total{path=\"C:\\\\dir \\\"q\\\"\\nnext\",b=\"\"} 7\n" +
		"y +Inf\n" +
		"y NaN\n" +
		"y{k=\"v\"} 0.25\n"
	if got := string(e.b); got != want {
		t.Fatalf("got\n%s\nwant\n%s", got, want)
	}
}

func TestHistogram(t *testing.T) {
	h := newHistogram([]float64{0.1, 1})
	for _, d := range []time.Duration{50 * time.Millisecond, 100 * time.Millisecond, 500 * time.Millisecond, 2 * time.Second, -time.Second} {
		h.observe(d)
	}
	var e expo
	e.histogram("h_seconds", h, "m", "a")
	// Bounds are inclusive (le), a negative duration counts as 0.
	want := `h_seconds_bucket{m="a",le="0.1"} 3
h_seconds_bucket{m="a",le="1"} 4
h_seconds_bucket{m="a",le="+Inf"} 5
h_seconds_sum{m="a"} 2.65
h_seconds_count{m="a"} 5
`
	if got := string(e.b); got != want {
		t.Fatalf("got\n%s\nwant\n%s", got, want)
	}
}

func TestQuantile(t *testing.T) {
	bounds := []float64{0.1, 0.2, 0.4}
	tests := []struct {
		name   string
		q      float64
		counts []uint64
		want   float64
	}{
		{"Empty", 0.95, []uint64{0, 0, 0, 0}, 0},
		{"FirstBucketFromZero", 0.5, []uint64{10, 0, 0, 0}, 0.05},
		{"Interpolated", 0.95, []uint64{10, 10, 0, 0}, 0.19},
		{"SkipsEmptyBuckets", 0.95, []uint64{0, 0, 20, 0}, 0.39},
		{"OverflowIsHighestBound", 0.95, []uint64{1, 0, 0, 19}, 0.4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := quantile(tt.q, bounds, tt.counts); math.Abs(got-tt.want) > 1e-9 {
				t.Fatalf("quantile(%v, %v) = %v, want %v", tt.q, tt.counts, got, tt.want)
			}
		})
	}
}

func TestSafeRequestID(t *testing.T) {
	for id, want := range map[string]bool{
		"abc": true, "0f8fad5b-d9cb-469f-a165-70867728950e": true, "Root.1:x_y": true, string(make([]byte, 64)): false,
		"": false, "a b": false, "a\nb": false, `a"b`: false, "a/b": false, "ü": false,
	} {
		if got := safeRequestID([]byte(id)); got != want {
			t.Errorf("safeRequestID(%q) = %v, want %v", id, got, want)
		}
	}
	if id := appendNewRequestID(nil); len(id) != 16 || !safeRequestID(id) {
		t.Errorf("new id %q", id)
	}
}
