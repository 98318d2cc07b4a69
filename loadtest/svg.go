package loadtest

import (
	"bytes"
	"fmt"
	"html"
	"math"
	"strconv"
)

// series is one set of points of a chart, drawn as a line, points or bars.
type series struct {
	name   string
	color  string
	pts    [][2]float64
	kind   seriesKind
	dashed bool
	// width of each bar in x units (bars only).
	width float64
}

type seriesKind int

const (
	asLine seriesKind = iota
	asPoints
	asBars
)

// plot is a simple x/y chart rendered to SVG by hand.
type plot struct {
	title, xLabel, yLabel string
	series                []series
	// categories, if set, label x = 0, 1, 2, ... instead of numeric ticks.
	categories []string
}

const (
	svgW, svgH                 = 860, 420
	padL, padR, padT, padB     = 80, 20, 44, 56
	plotW, plotH               = svgW - padL - padR, svgH - padT - padB
	colorA, colorB, colorC     = "#1f77b4", "#d62728", "#2ca02c"
	colorGrid, colorAxis       = "#e5e5e5", "#444"
	fontAttrs                  = `font-family="sans-serif" font-size="12"`
	maxTickCount               = 8
	pointRadius                = 1.6
	legendRowHeight, legendPad = 16, 8
	charWidth                  = 7 // of the 12px sans-serif font, roughly
)

// svg renders the plot.
func (p *plot) svg() []byte {
	xmin, xmax, ymin, ymax := math.Inf(1), math.Inf(-1), 0.0, math.Inf(-1)
	for _, s := range p.series {
		for _, pt := range s.pts {
			lo, hi := pt[0], pt[0]
			if s.kind == asBars {
				lo, hi = pt[0]-s.width/2, pt[0]+s.width/2
			}
			xmin, xmax = math.Min(xmin, lo), math.Max(xmax, hi)
			ymin, ymax = math.Min(ymin, pt[1]), math.Max(ymax, pt[1])
		}
	}
	if math.IsInf(xmin, 1) { // no data
		xmin, xmax, ymax = 0, 1, 1
	}
	if p.categories != nil {
		xmin, xmax = -0.5, float64(len(p.categories))-0.5
	}
	if xmax <= xmin {
		xmax = xmin + 1
	}
	yticks := niceTicks(ymin, ymax, maxTickCount)
	ymin, ymax = yticks[0], yticks[len(yticks)-1]
	if ymax <= ymin {
		ymax = ymin + 1
	}
	sx := func(x float64) float64 { return padL + (x-xmin)/(xmax-xmin)*plotW }
	sy := func(y float64) float64 { return padT + plotH - (y-ymin)/(ymax-ymin)*plotH }

	var b bytes.Buffer
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" %s>`+"\n", svgW, svgH, svgW, svgH, fontAttrs)
	fmt.Fprintf(&b, `<rect width="%d" height="%d" fill="white"/>`+"\n", svgW, svgH)
	fmt.Fprintf(&b, `<text x="%d" y="24" font-size="15" font-weight="bold">%s</text>`+"\n", padL, html.EscapeString(p.title))
	for _, y := range yticks {
		fmt.Fprintf(&b, `<line x1="%d" x2="%d" y1="%.1f" y2="%.1f" stroke="%s"/>`, padL, padL+plotW, sy(y), sy(y), colorGrid)
		fmt.Fprintf(&b, `<text x="%d" y="%.1f" text-anchor="end" dominant-baseline="middle">%s</text>`+"\n", padL-6, sy(y), compact(y))
	}
	if p.categories != nil {
		for i, c := range p.categories {
			fmt.Fprintf(&b, `<text x="%.1f" y="%d" text-anchor="middle">%s</text>`+"\n", sx(float64(i)), padT+plotH+18, html.EscapeString(c))
		}
	} else {
		for _, x := range niceTicks(xmin, xmax, maxTickCount) {
			if x < xmin || x > xmax {
				continue
			}
			fmt.Fprintf(&b, `<line x1="%.1f" x2="%.1f" y1="%d" y2="%d" stroke="%s"/>`, sx(x), sx(x), padT+plotH, padT+plotH+5, colorAxis)
			fmt.Fprintf(&b, `<text x="%.1f" y="%d" text-anchor="middle">%s</text>`+"\n", sx(x), padT+plotH+18, compact(x))
		}
	}
	fmt.Fprintf(&b, `<line x1="%d" x2="%d" y1="%d" y2="%d" stroke="%s"/>`, padL, padL+plotW, padT+plotH, padT+plotH, colorAxis)
	fmt.Fprintf(&b, `<line x1="%d" x2="%d" y1="%d" y2="%d" stroke="%s"/>`+"\n", padL, padL, padT, padT+plotH, colorAxis)
	fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="middle">%s</text>`+"\n", padL+plotW/2, svgH-12, html.EscapeString(p.xLabel))
	fmt.Fprintf(&b, `<text transform="translate(16 %d) rotate(-90)" text-anchor="middle">%s</text>`+"\n", padT+plotH/2, html.EscapeString(p.yLabel))

	for _, s := range p.series {
		switch s.kind {
		case asBars:
			for _, pt := range s.pts {
				x0, x1 := sx(pt[0]-s.width/2), sx(pt[0]+s.width/2)
				y0, y1 := sy(math.Max(pt[1], ymin)), sy(math.Max(ymin, 0))
				fmt.Fprintf(&b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s" fill-opacity="0.75"/>`, x0, y0, math.Max(x1-x0, 0.5), math.Max(y1-y0, 0), s.color)
			}
		case asPoints:
			for _, pt := range s.pts {
				fmt.Fprintf(&b, `<circle cx="%.1f" cy="%.1f" r="%g" fill="%s" fill-opacity="0.5"/>`, sx(pt[0]), sy(pt[1]), pointRadius, s.color)
			}
		default:
			if len(s.pts) == 0 {
				continue
			}
			b.WriteString(`<polyline fill="none" stroke-width="1.8" points="`)
			for _, pt := range s.pts {
				fmt.Fprintf(&b, "%.1f,%.1f ", sx(pt[0]), sy(math.Min(math.Max(pt[1], ymin), ymax)))
			}
			fmt.Fprintf(&b, `" stroke="%s"`, s.color)
			if s.dashed {
				b.WriteString(` stroke-dasharray="6 4"`)
			}
			b.WriteString("/>")
		}
		b.WriteString("\n")
	}
	// Legend, top right inside the plot, as wide as its longest name.
	longest := 0
	for _, s := range p.series {
		longest = max(longest, len([]rune(s.name)))
	}
	i := 0
	for _, s := range p.series {
		if s.name == "" {
			continue
		}
		y := padT + legendPad + i*legendRowHeight
		i++
		x := padL + plotW - 28 - longest*charWidth
		fmt.Fprintf(&b, `<rect x="%d" y="%d" width="14" height="4" fill="%s"/><text x="%d" y="%d" dominant-baseline="middle">%s</text>`+"\n",
			x, y-2, s.color, x+20, y, html.EscapeString(s.name))
	}
	b.WriteString("</svg>\n")
	return b.Bytes()
}

// niceTicks returns evenly spaced round values covering [lo, hi], at most
// about n of them.
func niceTicks(lo, hi float64, n int) []float64 {
	if hi <= lo {
		hi = lo + 1
	}
	raw := (hi - lo) / float64(n)
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	step := mag
	for _, m := range []float64{1, 2, 2.5, 5, 10} {
		if m*mag >= raw {
			step = m * mag
			break
		}
	}
	var ticks []float64
	// Multiples of step, computed each from its index so no error accumulates.
	for i := math.Floor(lo / step); i*step <= hi+step*1e-9; i++ {
		ticks = append(ticks, i*step)
	}
	if ticks[len(ticks)-1] < hi {
		ticks = append(ticks, ticks[len(ticks)-1]+step)
	}
	return ticks
}

// compact formats a tick value: 1.5k, 2M, 0.25.
func compact(v float64) string {
	a := math.Abs(v)
	switch {
	case a >= 1e6:
		return strconv.FormatFloat(v/1e6, 'f', -1, 64) + "M"
	case a >= 1e3:
		return strconv.FormatFloat(v/1e3, 'f', -1, 64) + "k"
	}
	return strconv.FormatFloat(math.Round(v*1000)/1000, 'f', -1, 64)
}

// charts renders the report's charts, by file name.
func (r *Report) charts() map[string][]byte {
	out := map[string][]byte{}
	k := r.Setup.CrowdScale

	var adm, conf [][2]float64
	for _, m := range r.PerMinute {
		adm = append(adm, [2]float64{float64(m.Minute) + 0.5, m.Admitted})
		conf = append(conf, [2]float64{float64(m.Minute), m.Configured}, [2]float64{float64(m.Minute + 1), m.Configured})
	}
	out["admitted-per-minute.svg"] = (&plot{title: "Admitted per minute (full scale) against the configured rate",
		xLabel: "minutes after the opening (simulated)", yLabel: "people per minute",
		series: []series{{name: "admitted", color: colorA, pts: adm, kind: asBars, width: 0.8}, {name: "configured rate", color: colorB, pts: conf}}}).svg()

	if len(r.ReleasedPerSecond) > 0 {
		var rel, rate [][2]float64
		perSecond := float64(r.Setup.SimRatePerHour) / 3600
		for _, p := range r.ReleasedPerSecond {
			rel = append(rel, [2]float64{p.SimSeconds / 60, p.PerSecond})
		}
		rate = append(rate, [2]float64{0, perSecond}, [2]float64{rel[len(rel)-1][0], perSecond})
		out["released-per-second.svg"] = (&plot{title: "Released per second (simulated people) around the store faults",
			xLabel: "minutes after the opening (simulated)", yLabel: "people per second",
			series: []series{{name: "released (operator API)", color: colorA, pts: rel}, {name: "configured rate", color: colorB, pts: rate, dashed: true}}}).svg()
	}

	var crowd, gw [][2]float64
	for _, q := range r.Queue {
		crowd = append(crowd, [2]float64{q.SimSeconds / 60, q.Waiting})
		if q.GatewayWaiting >= 0 {
			gw = append(gw, [2]float64{q.SimSeconds / 60, q.GatewayWaiting})
		}
	}
	out["queue.svg"] = (&plot{title: "Queue length (full scale)", xLabel: "minutes after the opening (simulated)", yLabel: "people",
		series: []series{{name: "waiting (placed, not admitted, not gone)", color: colorA, pts: crowd},
			{name: "issued - admitted (operator API)", color: colorB, pts: gw, dashed: true}}}).svg()

	var sample [][2]float64
	hi := 0.0
	for _, s := range r.Accuracy.Sample {
		sample = append(sample, [2]float64{s[0] / 60, s[1] / 60})
		hi = math.Max(hi, math.Max(s[0], s[1])/60)
	}
	tol := r.Accuracy.Tolerance
	out["accuracy.svg"] = (&plot{title: "Predicted wait at joining against actual wait", xLabel: "predicted (minutes)", yLabel: "actual (minutes)",
		series: []series{{name: "people (sample)", color: colorA, pts: sample, kind: asPoints},
			{name: "actual = predicted", color: colorAxis, pts: [][2]float64{{0, 0}, {hi, hi}}},
			{name: fmt.Sprintf("±%.0f%%", 100*tol), color: colorB, pts: [][2]float64{{0, 0}, {hi, hi * (1 + tol)}}, dashed: true},
			{name: "", color: colorB, pts: [][2]float64{{0, 0}, {hi, hi * (1 - tol)}}, dashed: true}}}).svg()

	var bins [][2]float64
	for _, bn := range r.Accuracy.Histogram {
		// The two overflow bins are drawn one bin width beyond the ends.
		from, to := math.Max(bn.From, -binLimit-binWidth), math.Min(bn.To, binLimit+binWidth)
		bins = append(bins, [2]float64{100 * (from + to) / 2, float64(bn.Count)})
	}
	out["accuracy-error.svg"] = (&plot{title: fmt.Sprintf("Prediction error (predicted - actual) / actual; outer bars: beyond ±%.0f%%", 100*binLimit),
		xLabel: "error (%)", yLabel: "people", series: []series{{name: "people", color: colorA, pts: bins, kind: asBars, width: 100 * binWidth * 0.9}}}).svg()

	var measured, implied [][2]float64
	for _, pt := range r.RequestRate.Series {
		measured = append(measured, [2]float64{pt.SimSeconds / 60, pt.PerSecond})
		implied = append(implied, [2]float64{pt.SimSeconds / 60, pt.Implied})
	}
	title := "Request rate on the gateways"
	if k != r.Setup.TimeScale {
		title += fmt.Sprintf(" (implied full scale = measured x %g / %g)", k, r.Setup.TimeScale)
	}
	rs := []series{{name: "implied full scale", color: colorB, pts: implied}}
	if k != r.Setup.TimeScale {
		rs = append(rs, series{name: "measured (real)", color: colorA, pts: measured})
	}
	out["request-rate.svg"] = (&plot{title: title, xLabel: "minutes after the opening (simulated)", yLabel: "requests per second", series: rs}).svg()

	var cats []string
	var p50, p99 [][2]float64
	for _, name := range endpointNames {
		l, ok := r.Latency[name]
		if !ok {
			continue
		}
		x := float64(len(cats))
		cats = append(cats, name)
		p50 = append(p50, [2]float64{x - 0.2, l.P50})
		p99 = append(p99, [2]float64{x + 0.2, l.P99})
	}
	out["latency.svg"] = (&plot{title: "Latency per endpoint (real time)", yLabel: "milliseconds", categories: cats,
		series: []series{{name: "p50", color: colorA, pts: p50, kind: asBars, width: 0.38}, {name: "p99", color: colorC, pts: p99, kind: asBars, width: 0.38}}}).svg()
	return out
}
