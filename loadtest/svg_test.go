package loadtest

import (
	"bytes"
	"encoding/xml"
	"io"
	"strings"
	"testing"
)

// wellFormed parses an SVG document as XML.
func wellFormed(t *testing.T, name string, b []byte) {
	t.Helper()
	d := xml.NewDecoder(bytes.NewReader(b))
	for {
		_, err := d.Token()
		if err == io.EOF {
			return
		}
		if err != nil {
			t.Fatalf("%s is not well-formed XML: %v\n%.300s", name, err, b)
		}
	}
}

func TestPlot(t *testing.T) {
	p := &plot{title: "a <title> & more", xLabel: "x", yLabel: "y", series: []series{
		{name: "line", color: colorA, pts: [][2]float64{{0, 0}, {1, 10}, {2, 5}}},
		{name: "bars", color: colorB, pts: [][2]float64{{0, 3}, {1, 4}}, kind: asBars, width: 0.5},
		{name: "points", color: colorC, pts: [][2]float64{{0.5, 2}}, kind: asPoints},
	}}
	svg := p.svg()
	wellFormed(t, "plot", svg)
	s := string(svg)
	for _, want := range []string{"<polyline", "<rect", "<circle", "a &lt;title&gt; &amp; more", ">line<", ">bars<", ">points<"} {
		if !strings.Contains(s, want) {
			t.Errorf("plot lacks %q", want)
		}
	}
	if n := strings.Count(s, "<circle"); n != 1 {
		t.Errorf("%d points drawn, want 1", n)
	}
	wellFormed(t, "empty plot", (&plot{title: "nothing"}).svg())
}

func TestNiceTicks(t *testing.T) {
	for _, tc := range []struct {
		lo, hi float64
		want   []float64
	}{
		{0, 10, []float64{0, 2, 4, 6, 8, 10}},
		{0, 33000, []float64{0, 5000, 10000, 15000, 20000, 25000, 30000, 35000}},
		{-0.5, 0.5, []float64{-0.6, -0.4, -0.2, 0, 0.2, 0.4, 0.6}},
		{3, 3, []float64{3, 3.2, 3.4, 3.6, 3.8, 4}}, // an empty range still gets an axis
	} {
		got := niceTicks(tc.lo, tc.hi, maxTickCount)
		if len(got) != len(tc.want) {
			t.Errorf("ticks(%v, %v) = %v, want %v", tc.lo, tc.hi, got, tc.want)
			continue
		}
		for i := range got {
			if d := got[i] - tc.want[i]; d > 1e-9 || d < -1e-9 {
				t.Errorf("ticks(%v, %v) = %v, want %v", tc.lo, tc.hi, got, tc.want)
				break
			}
		}
	}
}

// Every chart of a report renders, also from an empty report.
func TestReportCharts(t *testing.T) {
	r := &Report{Setup: Setup{CrowdScale: 10, TimeScale: 10}, Latency: map[string]Summary{"status": {P50: 1, P99: 3}},
		PerMinute: []MinutePoint{{0, 100, 120}, {1, 110, 120}}, Queue: []QueuePoint{{0, 10, -1}, {60, 5, 6}},
		Accuracy: measureAccuracy([]person{waited(100, 95e9)}, 1, 0.1, 0)}
	for _, rep := range []*Report{r, {Setup: Setup{CrowdScale: 1, TimeScale: 1}}} {
		charts := rep.charts()
		if len(charts) != 6 {
			t.Errorf("%d charts", len(charts))
		}
		for name, svg := range charts {
			wellFormed(t, name, svg)
		}
	}
}
