package bench

import (
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"unicode/utf8"
)

// BusyThreshold is the server CPU use, in percent of one core over the
// measured window, below which a load run did not saturate the server: the
// load generator, or the scenario itself, set the pace.
const BusyThreshold = 80

// StealThreshold is the host CPU steal, in percent of all CPUs over the
// measured window, above which a run is marked as disturbed by the host.
const StealThreshold = 5

// Run is one scenario run against one server, with the server's resource
// use, as `echo compare` measures it.
type Run struct {
	Scenario string `json:"scenario"`
	Server   string `json:"server"` // one of Servers: "engine", "net", "gnet" or "nbio"
	Load     Result `json:"load"`
	// ServerCPU is the CPU time, in seconds, the server used in the measured
	// window, and ServerBusy that time as a percentage of the window: 100 is
	// one core fully busy.
	ServerCPU  float64 `json:"server_cpu_s"`
	ServerBusy float64 `json:"server_cpu_pct"`
	GCCycles   int     `json:"server_gc_cycles"` // garbage collections of the server in the window
	// HostSteal is the CPU time the hypervisor took from this machine in the
	// window, as a percentage of all its CPUs: the noise the run suffered.
	HostSteal float64 `json:"host_steal_pct"`
	IdleRSS   int64   `json:"server_idle_rss"` // bytes, before the load started
	LoadRSS   int64   `json:"server_load_rss"` // bytes, the largest sampled during the load
	PeakRSS   int64   `json:"server_peak_rss"` // bytes, the largest ever (VmHWM), read at the end
	// Headlines holds the headline figure (msgs/s; the server's CPU µs per
	// message for open-loop runs; RSS bytes per connection for idle runs)
	// of every round when the run is the median of
	// several (see Median).
	Headlines []float64 `json:"round_headlines,omitempty"`
	// P99s and Tails hold the p99 and p99.9 latency, in µs, and Steals the
	// host steal, in percent, of every round, in the order of Headlines.
	P99s   []float64 `json:"round_p99_us,omitempty"`
	Tails  []float64 `json:"round_p999_us,omitempty"`
	Steals []float64 `json:"round_steal_pct,omitempty"`
	// CPUPerMsg holds, in the same order, the server's CPU time per message
	// in µs (0 where no message was measured, as in idle runs).
	CPUPerMsg []float64 `json:"round_cpu_us_per_msg,omitempty"`
}

// Median returns the run whose headline figure is the median of runs, the
// runs of one scenario against one server in several rounds, with the
// headlines of all of them. Reporting a whole run, not medians taken column
// by column, keeps its figures consistent with each other.
func Median(runs []Run) Run {
	sorted := slices.Clone(runs)
	slices.SortFunc(sorted, func(a, b Run) int { return cmp.Compare(a.headline(), b.headline()) })
	m := sorted[(len(sorted)-1)/2]
	m.Headlines = make([]float64, len(runs))
	m.P99s = make([]float64, len(runs))
	m.Tails = make([]float64, len(runs))
	m.Steals = make([]float64, len(runs))
	m.CPUPerMsg = make([]float64, len(runs))
	for i, r := range runs {
		m.Headlines[i] = r.headline()
		m.P99s[i] = r.Load.Latency.P99
		m.Tails[i] = r.Load.Latency.P999
		m.Steals[i] = r.HostSteal
		m.CPUPerMsg[i] = r.CPUPerMessage()
	}
	return m
}

// CPUPerMessage returns the server's CPU time per measured message in µs, or 0
// if no message was measured or the run was idle (one message per
// connection, then hours of nothing: no per-message figure).
func (r Run) CPUPerMessage() float64 {
	if r.Load.Messages == 0 || r.idle() {
		return 0
	}
	return r.ServerCPU * 1e6 / float64(r.Load.Messages)
}

// spread returns how far apart the rounds' headlines were, as a percentage
// of the reported one, or "" for a single round.
func (r Run) spread() string {
	if len(r.Headlines) < 2 || r.headline() == 0 {
		return ""
	}
	return fmt.Sprintf("%.0f%%", (slices.Max(r.Headlines)-slices.Min(r.Headlines))/r.headline()*100)
}

// RSSPerConn returns the server's memory per connection in bytes: the growth
// of its resident set under load, divided by the connections.
func (r Run) RSSPerConn() float64 {
	if r.Load.Conns == 0 {
		return 0
	}
	return float64(r.LoadRSS-r.IdleRSS) / float64(r.Load.Conns)
}

// idle reports whether the run measures memory rather than throughput.
func (r Run) idle() bool { return r.Load.Idle }

// fixedRate reports whether the run offered a fixed rate (open loop): its
// messages per second are the offered rate's, and its CPU time per message
// is what compares the servers.
func (r Run) fixedRate() bool { return r.Load.Rate > 0 && !r.idle() }

// headline returns the figure the ratio columns compare: messages per
// second; the server's CPU time per message at a fixed rate (lower is
// better); bytes per connection for an idle run (lower is better).
func (r Run) headline() float64 {
	switch {
	case r.idle():
		return r.RSSPerConn()
	case r.fixedRate():
		return r.CPUPerMessage()
	}
	return r.Load.MsgsPerSec
}

// Report is the outcome of `echo compare`: every scenario run against every
// server.
type Report struct {
	Pinned bool   `json:"pinned"`         // server on CPU 0 and load generator on CPU 1
	Rounds int    `json:"rounds"`         // each run is the median of this many
	GOGC   string `json:"gogc,omitempty"` // GOGC of every server child; empty: Go's default
	Runs   []Run  `json:"runs"`
}

// Paired compares one server with another round by round: the engine with
// each other server, and bare gnet with net, the ceiling for anything built
// on gnet. In a round the servers run one after another, seconds apart, so
// the ratio of their figures in that round cancels most of the host's drift
// between rounds, which the median of each server's own runs does not: on a
// host whose speed changes by several times within minutes, the paired ratio
// is the steadier estimate.
type Paired struct {
	Scenario string `json:"scenario"`
	Server   string `json:"server"` // "engine", or "gnet" for the ceiling's ratio over net
	Versus   string `json:"versus"` // "net" or "gnet": Server's figures are over this server's
	// Headline holds, per round, Server's msgs/s over Versus's (RSS per
	// connection for idle scenarios: lower is better), and P99 and Tail the
	// same for p99 and p99.9 latency (lower is better).
	Headline []float64 `json:"headline"`
	P99      []float64 `json:"p99"`
	Tail     []float64 `json:"p999"`
	// CPU holds, per round, Server's CPU time per message over Versus's
	// (lower is better): where the load generator, not the server, set the
	// pace, this and not Headline compares what the servers cost. It is
	// empty for idle scenarios and for reports from before it was kept.
	CPU []float64 `json:"cpu_per_msg,omitempty"`
	// Calm marks the rounds in which the host stole at most StealThreshold
	// percent of the CPUs during both servers' runs: the rounds whose ratio
	// the host did not disturb.
	Calm []bool `json:"calm"`
}

// calm returns the ratios of the calm rounds.
func (p Paired) calm(ratios []float64) []float64 {
	var out []float64
	for i, r := range ratios {
		if i < len(p.Calm) && p.Calm[i] {
			out = append(out, r)
		}
	}
	return out
}

// PairedRatios returns, for each scenario, the engine's round-by-round ratios
// against every other server and then bare gnet's against net, or nil for a
// single round.
func (rep *Report) PairedRatios() []Paired {
	if rep.Rounds < 2 {
		return nil
	}
	var out []Paired
	for i, r := range rep.Runs {
		if slices.ContainsFunc(rep.Runs[:i], func(q Run) bool { return q.Scenario == r.Scenario }) {
			continue // each scenario once, in the order of the runs
		}
		if e, ok := rep.run(r.Scenario, "engine"); ok {
			for _, o := range rep.Runs {
				if o.Scenario == r.Scenario && o.Server != "engine" {
					out = appendPaired(out, e, o)
				}
			}
		}
		g, okG := rep.run(r.Scenario, "gnet")
		n, okN := rep.run(r.Scenario, "net")
		if okG && okN {
			out = appendPaired(out, g, n)
		}
	}
	return out
}

// run returns the run of scenario against server.
func (rep *Report) run(scenario, server string) (Run, bool) {
	i := slices.IndexFunc(rep.Runs, func(r Run) bool { return r.Scenario == scenario && r.Server == server })
	if i < 0 {
		return Run{}, false
	}
	return rep.Runs[i], true
}

// appendPaired appends s's ratios over o in each round, if both have every round's figures.
func appendPaired(out []Paired, s, o Run) []Paired {
	n := len(s.Headlines)
	if len(o.Headlines) != n || len(o.P99s) != n || len(s.P99s) != n || len(o.Tails) != n || len(s.Tails) != n {
		return out
	}
	// Without both steals (a report from before they were kept) no round counts as calm.
	known := len(s.Steals) == n && len(o.Steals) == n
	// CPU ratios come for every round or none: a missing one would misalign them with Calm.
	cpu := hasEvery(s.CPUPerMsg, n) && hasEvery(o.CPUPerMsg, n)
	p := Paired{Scenario: s.Scenario, Server: s.Server, Versus: o.Server}
	for i := range n {
		// A round where either server measured nothing (a host too busy to
		// run it) has no ratio: it gets 0 and does not count as calm.
		valid := s.Headlines[i] > 0 && o.Headlines[i] > 0 && s.P99s[i] > 0 && o.P99s[i] > 0 && s.Tails[i] > 0 && o.Tails[i] > 0
		p.Headline = append(p.Headline, ratio(s.Headlines[i], o.Headlines[i]))
		p.P99 = append(p.P99, ratio(s.P99s[i], o.P99s[i]))
		p.Tail = append(p.Tail, ratio(s.Tails[i], o.Tails[i]))
		if cpu {
			p.CPU = append(p.CPU, s.CPUPerMsg[i]/o.CPUPerMsg[i])
		}
		p.Calm = append(p.Calm, valid && known && max(s.Steals[i], o.Steals[i]) <= StealThreshold)
	}
	return append(out, p)
}

// ratio returns a/b, or 0 when either is not positive.
func ratio(a, b float64) float64 {
	if a <= 0 || b <= 0 {
		return 0
	}
	return a / b
}

// hasEvery reports whether xs holds a positive figure for each of n rounds.
func hasEvery(xs []float64, n int) bool {
	return len(xs) == n && !slices.ContainsFunc(xs, func(x float64) bool { return x <= 0 })
}

// summary formats ratios as "median [lo - hi]", with the 95% confidence
// interval of the median, or as "median (min - max)" when there are too few
// ratios for one.
func summary(ratios []float64) string {
	if len(ratios) == 0 {
		return "-"
	}
	med, lo, hi, ok := medianCI(ratios)
	if !ok {
		return fmt.Sprintf("%.2f (%.2f - %.2f)", med, lo, hi)
	}
	return fmt.Sprintf("%.2f [%.2f - %.2f]", med, lo, hi)
}

// medianCI returns the median of xs (the lower middle value for an even
// count) and a distribution-free 95% confidence interval for the median:
// the k-th smallest and k-th largest values, with the largest k for which
// the interval covers the true median with at least 95% probability. The
// count of values below the median is Binomial(n, 1/2), so that
// probability is 1 - 2 P(B <= k-1). Below 6 values there is no such k;
// then ok is false and lo and hi are the minimum and maximum.
func medianCI(xs []float64) (med, lo, hi float64, ok bool) {
	s := slices.Sorted(slices.Values(xs))
	n := len(s)
	med = s[(n-1)/2]
	k, cdf := 0, 0.0 // cdf is P(B <= k-1)
	for {
		next := cdf + binomialHalf(n, k)
		if 2*next > 0.05 {
			break
		}
		cdf = next
		k++
	}
	if k == 0 {
		return med, s[0], s[n-1], false
	}
	return med, s[k-1], s[n-k], true
}

// binomialHalf returns P(B = k) for B ~ Binomial(n, 1/2).
func binomialHalf(n, k int) float64 {
	lg := func(x int) float64 { v, _ := math.Lgamma(float64(x) + 1); return v }
	return math.Exp(lg(n) - lg(k) - lg(n-k) - float64(n)*math.Ln2)
}

// WriteJSON writes rep as indented JSON, with its paired ratios.
func (rep *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(struct {
		*Report
		Paired []Paired `json:"paired,omitempty"`
	}{rep, rep.PairedRatios()})
}

// tableWidth is the widest line WriteTable writes, in columns: it fits an
// 80-column terminal. "µ" and "÷" take one column each.
const tableWidth = 80

// WriteTable writes rep as text of at most 80 columns: three tables, each
// with the runs grouped under their scenario in the order of rep.Runs (the
// throughput and latency; what the server cost; its headline figure over
// each other server's), then the paired ratios when there are several
// rounds, then notes on how to read them.
func (rep *Report) WriteTable(w io.Writer) error {
	spread := rep.Rounds > 1 // a single round has no spread
	var versus []string      // the ratio columns: the baselines in the report
	for _, s := range rep.servers() {
		if s != "engine" {
			versus = append(versus, s)
		}
	}
	speed := [][]string{{"scenario", "msgs/s", "spread", "p50 µs", "p99 µs", "p99.9 µs", "errors"}}
	if !spread {
		speed[0] = slices.Delete(speed[0], 2, 3)
	}
	cost := [][]string{{"scenario", "cpu µs/msg", "cpu %", "gc", "steal %", "peak MiB", "KiB/conn"}}
	ratios := [][]string{{"scenario"}}
	for _, v := range versus {
		ratios[0] = append(ratios[0], "÷"+v)
	}
	flagged, stolen := false, false
	for i, r := range rep.Runs {
		if i == 0 || r.Scenario != rep.Runs[i-1].Scenario {
			heading := []string{r.Scenario} // a row of one cell: printed as it is
			speed, cost, ratios = append(speed, heading), append(cost, heading), append(ratios, heading)
		}
		name := "  " + r.Server
		msgs := group(int64(r.Load.MsgsPerSec))
		if r.idle() {
			msgs = "-"
		}
		row := []string{name, msgs, r.spread(),
			fmt.Sprintf("%.0f", r.Load.Latency.P50),
			fmt.Sprintf("%.0f", r.Load.Latency.P99),
			fmt.Sprintf("%.0f", r.Load.Latency.P999),
			fmt.Sprint(r.Load.Errors),
		}
		if !spread {
			row = slices.Delete(row, 2, 3)
		}
		speed = append(speed, row)

		steal := fmt.Sprintf("%.0f", r.HostSteal)
		if r.HostSteal > StealThreshold {
			steal += "!"
			stolen = true
		}
		busy := fmt.Sprintf("%.0f", r.ServerBusy)
		if !r.idle() && r.ServerBusy < BusyThreshold {
			busy += "*"
			flagged = true
		}
		perMsg := "-"
		if m := r.CPUPerMessage(); m > 0 {
			perMsg = fmt.Sprintf("%.2f", m)
		}
		cost = append(cost, []string{name, perMsg, busy, fmt.Sprint(r.GCCycles), steal,
			fmt.Sprintf("%.1f", float64(r.PeakRSS)/(1<<20)),
			fmt.Sprintf("%.1f", r.RSSPerConn()/(1<<10)),
		})

		row = []string{name}
		for _, v := range versus {
			row = append(row, rep.ratio(r, v))
		}
		ratios = append(ratios, row)
	}
	var b strings.Builder
	writeAligned(&b, speed, 1)
	b.WriteString("\n")
	writeAligned(&b, cost, 1)
	if len(versus) > 0 {
		b.WriteString("\n")
		writeAligned(&b, ratios, 1)
	}
	b.WriteString("\n")
	if rep.Rounds > 1 {
		wrap(&b, fmt.Sprintf("Each row is the median of %d rounds by its headline figure (msgs/s; "+
			"at a fixed rate, CPU per message; idle, KiB/conn); spread: max - min of that figure "+
			"over the median.", rep.Rounds), "")
	}
	if paired := rep.PairedRatios(); len(paired) > 0 {
		b.WriteString("\n")
		wrap(&b, fmt.Sprintf("One server over another within each round: the median of the rounds' ratios, "+
			"over all rounds and over the calm ones, those with host steal at most %d%% in both servers' runs. "+
			"gnet÷net is the ceiling's: bare gnet, which does no work per message, over net; "+
			"no server built on gnet goes beyond it.", StealThreshold), "")
		wrap(&b, "[lo - hi]: the median's 95% confidence interval (order statistics, "+
			"no assumption on the distribution); (min - max): the range, for fewer than 6 rounds, "+
			"where no such interval exists.", "  ")
		wrap(&b, "headline: msgs/s; at a fixed rate, CPU per message; idle, KiB/conn. "+
			"cpu/msg: the server's CPU time per message (lower is better), which compares the servers' cost "+
			"where msgs/s cannot: when the load generator set the pace.", "  ")
		var rows [][]string
		for _, p := range paired {
			rows = append(rows, []string{fmt.Sprintf("%s  %s÷%s  all %d / calm %d",
				p.Scenario, p.Server, p.Versus, len(p.Headline), len(p.calm(p.Headline)))})
			for _, f := range []struct {
				name   string
				ratios []float64
			}{{"headline", p.Headline}, {"p99", p.P99}, {"p99.9", p.Tail}, {"cpu/msg", p.CPU}} {
				rows = append(rows, []string{"  " + f.name, summary(f.ratios), "calm " + summary(p.calm(f.ratios))})
			}
		}
		b.WriteString("\n")
		writeAligned(&b, rows, 3)
		b.WriteString("\n")
	}
	if rep.GOGC != "" {
		wrap(&b, fmt.Sprintf("GOGC=%s for every server.", rep.GOGC), "")
	}
	if rep.Pinned {
		wrap(&b, "Server pinned to CPU 0, load generator to CPU 1, GOMAXPROCS=1 each.", "")
	} else {
		wrap(&b, "Not pinned: server and load generator share the CPUs (GOMAXPROCS=1 each).", "")
	}
	wrap(&b, "cpu µs/msg, cpu %, gc: the server's CPU time per message, its share of one core "+
		"and its GC cycles in the measured window.", "  ")
	wrap(&b, "steal %: CPU the hypervisor took from the machine in the window, as a share of all its CPUs.", "  ")
	wrap(&b, "KiB/conn: growth of the server's resident set under load, per connection.", "  ")
	if len(versus) > 0 {
		wrap(&b, "÷net, ÷gnet, ÷nbio: msgs/s of the row over that server's in the same scenario; "+
			"at a fixed rate (fixed-*), CPU per message over theirs, and for idle scenarios KiB/conn "+
			"(lower is better for both).", "  ")
	}
	if flagged {
		wrap(&b, fmt.Sprintf("* server below %d%% of a core: the load generator or the scenario set the pace, "+
			"so the row measures latency and CPU per message at that load, not the server's capacity "+
			"(at a fixed rate, by design).", BusyThreshold), "  ")
	}
	if stolen {
		wrap(&b, fmt.Sprintf("! host steal above %d%% of the CPUs: the hypervisor took CPU from the run, "+
			"so its figures are disturbed; compare rows with little steal, or take more rounds.", StealThreshold), "  ")
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// writeAligned writes rows as columns, the first names columns
// left-aligned and the rest right-aligned, with no trailing spaces. A row
// of one cell is a heading: written as it is, it sets no column's width.
func writeAligned(b *strings.Builder, rows [][]string, names int) {
	var widths []int
	for _, row := range rows {
		if len(row) == 1 {
			continue
		}
		for i, cell := range row {
			if i == len(widths) {
				widths = append(widths, 0)
			}
			widths[i] = max(widths[i], utf8.RuneCountInString(cell))
		}
	}
	for _, row := range rows {
		if len(row) == 1 {
			b.WriteString(row[0] + "\n")
			continue
		}
		var line strings.Builder
		for i, cell := range row {
			if i > 0 {
				line.WriteString("  ")
			}
			if i < names {
				fmt.Fprintf(&line, "%-*s", widths[i], cell) // fmt pads by runes
			} else {
				fmt.Fprintf(&line, "%*s", widths[i], cell)
			}
		}
		b.WriteString(strings.TrimRight(line.String(), " ") + "\n")
	}
}

// wrap writes text as lines of at most tableWidth columns, broken between
// words, each line after the first starting with indent.
func wrap(b *strings.Builder, text, indent string) {
	line, n := "", 0 // n: line's columns
	for _, word := range strings.Fields(text) {
		w := utf8.RuneCountInString(word)
		switch {
		case n == 0:
			line, n = word, w
		case n+1+w <= tableWidth:
			line, n = line+" "+word, n+1+w
		default:
			b.WriteString(line + "\n")
			line, n = indent+word, utf8.RuneCountInString(indent)+w
		}
	}
	if n > 0 {
		b.WriteString(line + "\n")
	}
}

// HasLatency reports whether rep holds latencies of the scenario named name.
func (rep *Report) HasLatency(name string) bool {
	return slices.Contains(rep.LatencyScenarios(), name)
}

// LatencyScenarios returns the scenarios of rep with latencies to plot:
// all but the idle ones.
func (rep *Report) LatencyScenarios() []string {
	var out []string
	for _, s := range rep.scenarios() {
		if slices.ContainsFunc(rep.Runs, func(r Run) bool { return r.Scenario == s && !r.idle() && len(r.Load.Percentiles) > 0 }) {
			out = append(out, s)
		}
	}
	return out
}

// ratio formats r's headline figure over that of server's run of the same
// scenario, or "-" if there is none to compare.
func (rep *Report) ratio(r Run, server string) string {
	for _, o := range rep.Runs {
		if o.Scenario == r.Scenario && o.Server == server {
			if d := o.headline(); d > 0 {
				return fmt.Sprintf("%.2f", r.headline()/d)
			}
		}
	}
	return "-"
}
