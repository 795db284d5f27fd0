package bench

import (
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
	"gonum.org/v1/plot/vg/vgsvg"
)

const (
	plotWidth     = 10 * vg.Inch
	latencyHeight = 4 * vg.Inch
	barHeight     = 2.5 * vg.Inch
	barColumns    = 3
	captionHeight = 0.5 * vg.Inch
)

// Plot draws rep to the file at path, as SVG or PNG by its extension (.svg
// or .png): at the top, the latency of each server by percentile in the
// scenario named latency (if empty or not in rep, the first scenario with
// latencies); below, a bar chart per scenario of each server's messages per
// second (at a fixed rate, CPU µs per message; for idle scenarios, KiB per
// connection). A server that used less than BusyThreshold percent of its
// core is starred, with the caveat under the charts. Plot returns the
// scenario whose latencies it drew, "" if none.
func (rep *Report) Plot(path, latency string) (string, error) {
	var c interface {
		vg.CanvasSizer
		io.WriterTo
	}
	height := latencyHeight + vg.Length((len(rep.scenarios())+barColumns-1)/barColumns)*barHeight
	if rep.belowBusy() {
		height += captionHeight
	}
	switch ext := strings.ToLower(filepath.Ext(path)); ext {
	case ".svg":
		c = vgsvg.New(plotWidth, height)
	case ".png":
		c = vgimg.PngCanvas{Canvas: vgimg.New(plotWidth, height)}
	default:
		return "", fmt.Errorf("bench: plot %s: extension %q is neither .svg nor .png", path, ext)
	}
	shown, err := rep.draw(draw.New(c), latency)
	if err != nil {
		return "", err
	}
	f, err := os.Create(path)
	if err != nil {
		return "", fmt.Errorf("bench: plot: %w", err)
	}
	if _, err := c.WriteTo(f); err != nil {
		_ = f.Close()
		return "", fmt.Errorf("bench: plot %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return "", fmt.Errorf("bench: plot %s: %w", path, err)
	}
	return shown, nil
}

// belowBusy reports whether a run of rep, not idle, kept its server below
// BusyThreshold percent of a core.
func (rep *Report) belowBusy() bool {
	return slices.ContainsFunc(rep.Runs, func(r Run) bool { return !r.idle() && r.ServerBusy < BusyThreshold })
}

// draw draws the plots of rep on dc and returns the scenario whose
// latencies it drew.
func (rep *Report) draw(dc draw.Canvas, latency string) (string, error) {
	scenarios := rep.scenarios()
	rows := (len(scenarios) + barColumns - 1) / barColumns
	lat, shown, err := rep.latencyPlot(latency)
	if err != nil {
		return "", err
	}
	var caption vg.Length
	if rep.belowBusy() {
		caption = captionHeight
		sty := lat.Title.TextStyle
		sty.Font.Size = vg.Points(10)
		sty.XAlign, sty.YAlign = draw.XLeft, draw.YBottom
		dc.FillText(sty, vg.Point{X: dc.Min.X + vg.Millimeter*4, Y: dc.Min.Y + vg.Millimeter*3},
			fmt.Sprintf("* the server used less than %d%% of its core: the load generator or the scenario set the pace, "+
				"so its bar is not the server's capacity (at a fixed rate, by design).", BusyThreshold))
	}
	lat.Draw(draw.Crop(dc, 0, 0, vg.Length(rows)*barHeight+caption, 0))
	if rows == 0 {
		return shown, nil
	}
	grid := make([][]*plot.Plot, rows)
	for i := range grid {
		grid[i] = make([]*plot.Plot, barColumns)
	}
	for i, s := range scenarios {
		p, err := rep.barPlot(s)
		if err != nil {
			return "", err
		}
		grid[i/barColumns][i%barColumns] = p
	}
	tiles := draw.Tiles{Rows: rows, Cols: barColumns, PadX: vg.Millimeter * 4, PadY: vg.Millimeter * 4,
		PadTop: vg.Millimeter * 4, PadBottom: vg.Millimeter * 2, PadLeft: vg.Millimeter * 2, PadRight: vg.Millimeter * 2}
	canvases := plot.Align(grid, tiles, draw.Crop(dc, 0, 0, caption, -latencyHeight))
	for j, row := range grid {
		for i, p := range row {
			if p != nil {
				p.Draw(canvases[j][i])
			}
		}
	}
	return shown, nil
}

// latencyPlot plots latency by percentile, on log scales, for each server
// in the scenario named name or the first with latencies, and returns that
// scenario.
func (rep *Report) latencyPlot(name string) (*plot.Plot, string, error) {
	if !rep.HasLatency(name) {
		name = ""
		if all := rep.LatencyScenarios(); len(all) > 0 {
			name = all[0]
		}
	}
	p := plot.New()
	p.Title.Text = "Round-trip latency by percentile: " + name
	p.X.Label.Text = "percentile"
	p.Y.Label.Text = "µs"
	p.Legend.Top = true
	if name == "" {
		p.Title.Text = "No latencies to plot"
		return p, "", nil
	}
	p.X.Scale = plot.LogScale{} // both axes are positive: percentiles from 50, latencies from 1 µs
	p.X.Tick.Marker = percentileTicks{}
	p.Y.Scale = plot.LogScale{}
	p.Y.Tick.Marker = logTicks{}
	p.Legend.Left = true
	for i, server := range rep.servers() {
		for _, r := range rep.Runs {
			if r.Scenario != name || r.Server != server {
				continue
			}
			var xys plotter.XYs
			for _, q := range r.Load.Percentiles {
				if q.Percentile < 100 { // 100 is at infinity on this axis
					xys = append(xys, plotter.XY{X: 100 / (100 - q.Percentile), Y: max(q.Micros, 1)})
				}
			}
			line, points, err := plotter.NewLinePoints(xys)
			if err != nil {
				return nil, "", fmt.Errorf("bench: plot: %w", err)
			}
			line.Color, points.Color = plotutil.Color(i), plotutil.Color(i)
			p.Add(line, points)
			p.Legend.Add(server, line, points)
		}
	}
	return p, name, nil
}

// barPlot plots each server's headline figure in scenario s.
func (rep *Report) barPlot(s string) (*plot.Plot, error) {
	p := plot.New()
	p.Title.Text = s
	p.Y.Label.Text = "msgs/s"
	p.Y.Tick.Marker = linearTicks{}
	servers := rep.servers()
	names := slices.Clone(servers)
	for i, server := range servers {
		for _, r := range rep.Runs {
			if r.Scenario != s || r.Server != server {
				continue
			}
			v := r.headline()
			switch {
			case r.idle():
				p.Y.Label.Text = "KiB/conn"
				v /= 1 << 10
			case r.fixedRate():
				p.Y.Label.Text = "CPU µs/msg"
			}
			if !r.idle() && r.ServerBusy < BusyThreshold {
				names[i] += "*"
			}
			bar, err := plotter.NewBarChart(plotter.Values{v}, vg.Points(20))
			if err != nil {
				return nil, fmt.Errorf("bench: plot: %w", err)
			}
			bar.XMin = float64(i)
			bar.Color = plotutil.Color(i)
			bar.LineStyle.Width = 0
			p.Add(bar)
		}
	}
	p.NominalX(names...)
	p.Y.Min = 0
	p.Y.Max *= 1.1 // room above the tallest bar
	return p, nil
}

// scenarios returns the scenarios of rep in order of first appearance.
func (rep *Report) scenarios() []string {
	return rep.distinct(func(r Run) string { return r.Scenario })
}

// servers returns the servers of rep in order of first appearance.
func (rep *Report) servers() []string { return rep.distinct(func(r Run) string { return r.Server }) }

func (rep *Report) distinct(key func(Run) string) []string {
	var out []string
	seen := map[string]bool{}
	for _, r := range rep.Runs {
		if k := key(r); !seen[k] {
			seen[k] = true
			out = append(out, k)
		}
	}
	return out
}

// logTicks marks a log axis at 1, 2 and 5 times each power of ten, with
// thousands separators, so that even a range within one decade has
// labelled ticks; over more than four decades only the powers of ten are
// labelled.
type logTicks struct{}

// Ticks returns the ticks between min and max.
func (logTicks) Ticks(min, max float64) []plot.Tick {
	if min <= 0 || max < min {
		return nil
	}
	labelAll := math.Log10(max/min) <= 4
	var ticks []plot.Tick
	for p := math.Pow(10, math.Floor(math.Log10(min))); p <= max; p *= 10 {
		for _, m := range []float64{1, 2, 5} {
			v := p * m
			if v < min || v > max {
				continue
			}
			t := plot.Tick{Value: v}
			if m == 1 || labelAll {
				t.Label = tickLabel(v, v)
			}
			ticks = append(ticks, t)
		}
	}
	return ticks
}

// linearTicks label a linear axis every 1, 2 or 5 times a power of ten,
// with three to six labels, a minor tick halfway between them, and
// thousands separators. (gonum's default labelled 0 and 25 alone on an
// axis to 26.)
type linearTicks struct{}

// Ticks returns the ticks between lo and hi.
func (linearTicks) Ticks(lo, hi float64) []plot.Tick {
	span := hi - lo
	if !(span > 0) || math.IsInf(span, 0) {
		return nil
	}
	power := math.Pow(10, math.Floor(math.Log10(span/6)))
	step := 10 * power
	for _, m := range []float64{1, 2, 5} {
		if span/(m*power) <= 6 {
			step = m * power
			break
		}
	}
	var ticks []plot.Tick
	for k := math.Ceil(lo / step * 2); k*step/2 <= hi; k++ {
		t := plot.Tick{Value: k * step / 2}
		if math.Mod(k, 2) == 0 {
			t.Label = tickLabel(t.Value, step)
		}
		ticks = append(ticks, t)
	}
	return ticks
}

// tickLabel formats v, a multiple of step, with the digits after the point
// that step needs, and a whole number with thousands separators.
func tickLabel(v, step float64) string {
	decimals := max(-int(math.Floor(math.Log10(step))), 0)
	if decimals == 0 {
		return group(int64(math.Round(v)))
	}
	return strconv.FormatFloat(v, 'f', decimals, 64)
}

// percentileTicks marks an axis of 100/(100-percentile) with 50%, 90%,
// 99%, 99.9% and so on.
type percentileTicks struct{}

// Ticks returns the ticks between min and max.
func (percentileTicks) Ticks(min, max float64) []plot.Tick {
	var ticks []plot.Tick
	for _, t := range []plot.Tick{
		{Value: 2, Label: "50%"}, {Value: 10, Label: "90%"}, {Value: 100, Label: "99%"}, {Value: 1e3, Label: "99.9%"},
		{Value: 1e4, Label: "99.99%"}, {Value: 1e5, Label: "99.999%"}, {Value: 1e6, Label: "99.9999%"},
	} {
		if t.Value >= min && t.Value <= max {
			ticks = append(ticks, t)
		}
	}
	return ticks
}
