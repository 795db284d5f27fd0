package bench

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"gonum.org/v1/plot"
)

// sampleReport is a report of two scenarios against three servers.
func sampleReport() *Report {
	lat := func(p50 float64) Latency {
		return Latency{P50: p50, P90: 2 * p50, P99: 3 * p50, P999: 4 * p50, Max: 5 * p50, Mean: p50}
	}
	pct := []Percentile{{Percentile: 50, Micros: 40}, {Percentile: 99, Micros: 90}, {Percentile: 99.9, Micros: 200}, {Percentile: 100, Micros: 400}}
	busy := Result{Conns: 100, Payload: 64, InFlight: 1, Duration: time.Second, Messages: 100_000, Latency: lat(40), Percentiles: pct}
	idle := Result{Conns: 10_000, Payload: 64, InFlight: 1, Idle: true, Duration: time.Second, Messages: 10_000, Latency: lat(900), Percentiles: pct}
	withRate := func(r Result, rate float64) Result { r.MsgsPerSec = rate; return r }
	return &Report{Pinned: true, Runs: []Run{
		{Scenario: "closed-100c-64B", Server: "engine", Load: withRate(busy, 150_000), ServerCPU: 0.97, ServerBusy: 97, PeakRSS: 20 << 20},
		{Scenario: "closed-100c-64B", Server: "net", Load: withRate(busy, 100_000), ServerCPU: 0.5, ServerBusy: 50, GCCycles: 3, HostSteal: 12, PeakRSS: 18 << 20},
		{Scenario: "closed-100c-64B", Server: "gnet", Load: withRate(busy, 200_000), ServerCPU: 0.99, ServerBusy: 99, PeakRSS: 17 << 20},
		{Scenario: "idle-10000c", Server: "engine", Load: idle, ServerCPU: 0.01, IdleRSS: 10 << 20, LoadRSS: 30 << 20, PeakRSS: 30 << 20},
		{Scenario: "idle-10000c", Server: "net", Load: idle, IdleRSS: 10 << 20, LoadRSS: 130 << 20, PeakRSS: 130 << 20},
		{Scenario: "idle-10000c", Server: "gnet", Load: idle, IdleRSS: 10 << 20, LoadRSS: 20 << 20, PeakRSS: 20 << 20},
	}}
}

func TestWriteTable(t *testing.T) {
	var b bytes.Buffer
	if err := sampleReport().WriteTable(&b); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	tabs := tables(out)
	if len(tabs) != 3 {
		t.Fatalf("%d tables; want three: throughput and latency, cost, ratios\n%s", len(tabs), out)
	}
	// One round: no spread column.
	want := []map[string][]string{{
		"header":                 {"msgs/s", "p50", "µs", "p99", "µs", "p99.9", "µs", "errors"},
		"closed-100c-64B engine": {"150,000", "40", "120", "160", "0"},
		"closed-100c-64B net":    {"100,000", "40", "120", "160", "0"},
		"closed-100c-64B gnet":   {"200,000", "40", "120", "160", "0"},
		"idle-10000c engine":     {"-", "900", "2700", "3600", "0"}, // no msgs/s for idle runs
		"idle-10000c net":        {"-", "900", "2700", "3600", "0"},
		"idle-10000c gnet":       {"-", "900", "2700", "3600", "0"},
	}, {
		"header": {"cpu", "µs/msg", "cpu", "%", "gc", "steal", "%", "peak", "MiB", "KiB/conn"},
		// cpu µs/msg: 0.97 s over 100,000 messages.
		"closed-100c-64B engine": {"9.70", "97", "0", "0", "20.0", "0.0"},
		"closed-100c-64B net":    {"5.00", "50*", "3", "12!", "18.0", "0.0"}, // below BusyThreshold, above StealThreshold
		"closed-100c-64B gnet":   {"9.90", "99", "0", "0", "17.0", "0.0"},
		// Idle: no CPU per message though CPU was used, no busy flag; KiB/conn: (30-10) MiB / 10,000 conns.
		"idle-10000c engine": {"-", "0", "0", "0", "30.0", "2.0"},
		"idle-10000c net":    {"-", "0", "0", "0", "130.0", "12.3"},
		"idle-10000c gnet":   {"-", "0", "0", "0", "20.0", "1.0"},
	}, {
		"header":                 {"÷net", "÷gnet"},
		"closed-100c-64B engine": {"1.50", "0.75"},
		"closed-100c-64B net":    {"1.00", "0.50"},
		"closed-100c-64B gnet":   {"2.00", "1.00"},
		"idle-10000c engine":     {"0.17", "2.00"}, // KiB/conn over theirs
		"idle-10000c net":        {"1.00", "12.00"},
		"idle-10000c gnet":       {"0.08", "1.00"},
	}}
	for i := range want {
		if !reflect.DeepEqual(tabs[i], want[i]) {
			t.Errorf("table %d = %q; want %q\n%s", i+1, tabs[i], want[i], out)
		}
	}
	for _, note := range []string{"pinned to CPU 0", "* server below 80%", "! host steal above 5%"} {
		if !strings.Contains(out, note) {
			t.Errorf("table lacks the note %q:\n%s", note, out)
		}
	}
	if strings.Contains(out, "rounds' ratios") {
		t.Errorf("one round printed paired ratios:\n%s", out)
	}
}

// TestWriteTableWidth renders a report of every scenario, the longest name
// among them, against four servers over several rounds, with both flags and
// wide figures, and checks that no line passes 80 columns.
func TestWriteTableWidth(t *testing.T) {
	const rounds = 7
	rep := &Report{Pinned: true, Rounds: rounds, GOGC: "400"}
	longest := ""
	for _, s := range slices.Concat(Scenarios(false), FixedScenarios()) {
		if len(s.Name) > len(longest) {
			longest = s.Name
		}
		for j, server := range Servers {
			var runs []Run
			for i := range rounds {
				f := float64(1 + i + j) // different in every round and server
				res := Result{Conns: max(s.Conns, 1), Payload: s.Payload, InFlight: max(s.InFlight, 1), Rate: s.Rate, Idle: s.Idle,
					Duration: time.Second, Messages: 1_636_758, MsgsPerSec: 1_636_758 - 1000*f, Errors: 12_345,
					Latency: Latency{P50: 51_423 * f, P99: 98_175 * f, P999: 106_623 * f}}
				runs = append(runs, Run{Scenario: s.Name, Server: server, Load: res, ServerCPU: 0.9 * f, ServerBusy: 10 * f,
					GCCycles: 1234, HostSteal: 2 * f, IdleRSS: 10 << 20, LoadRSS: (130 << 20) * int64(f), PeakRSS: (1300 << 20) * int64(f)})
			}
			rep.Runs = append(rep.Runs, Median(runs))
		}
	}
	var b bytes.Buffer
	if err := rep.WriteTable(&b); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{"\n" + longest + "\n", "\n" + longest + "  engine÷nbio  all 7 / calm ", "\n  engine  ",
		"* server below", "! host steal above", "GOGC=400"} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
	for _, l := range strings.Split(out, "\n") {
		if n := utf8.RuneCountInString(l); n > tableWidth || strings.HasSuffix(l, " ") {
			t.Errorf("line of %d columns (at most %d, no trailing space): %q", n, tableWidth, l)
		}
	}
}

// tables parses WriteTable's output into its tables, in order: each maps
// "scenario server" to the figures of that row and "header" to the fields
// of the header after "scenario".
func tables(out string) []map[string][]string {
	var all []map[string][]string
	for _, block := range strings.Split(out, "\n\n") {
		lines := strings.Split(block, "\n")
		if !strings.HasPrefix(lines[0], "scenario ") {
			continue
		}
		tab := map[string][]string{"header": strings.Fields(lines[0])[1:]}
		scenario := ""
		for _, l := range lines[1:] {
			switch f := strings.Fields(l); {
			case len(f) == 0:
			case !strings.HasPrefix(l, " "):
				scenario = l
			default:
				tab[scenario+" "+f[0]] = f[1:]
			}
		}
		all = append(all, tab)
	}
	return all
}

// pairedBlock returns the lines that follow the line of table whose fields
// are those of heading, up to the next line that is not indented, each
// reduced to its fields joined by single spaces; nil if there is no such
// heading.
func pairedBlock(table, heading string) []string {
	lines := strings.Split(table, "\n")
	i := slices.IndexFunc(lines, func(l string) bool { return reflect.DeepEqual(strings.Fields(l), strings.Fields(heading)) })
	if i < 0 {
		return nil
	}
	block := []string{}
	for _, l := range lines[i+1:] {
		if !strings.HasPrefix(l, "  ") {
			break
		}
		block = append(block, strings.Join(strings.Fields(l), " "))
	}
	return block
}

func TestWriteJSON(t *testing.T) {
	rep := sampleReport()
	var b bytes.Buffer
	if err := rep.WriteJSON(&b); err != nil {
		t.Fatal(err)
	}
	var got Report
	if err := json.Unmarshal(b.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(&got, rep) {
		t.Errorf("WriteJSON round trip = %+v; want %+v", got, *rep)
	}
}

func TestPlot(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		file   string
		prefix string // of the file's content
	}{
		{file: "report.svg", prefix: "<?xml"},
		{file: "report.png", prefix: "\x89PNG"},
	}
	for _, tt := range tests {
		path := filepath.Join(dir, tt.file)
		shown, err := sampleReport().Plot(path, "closed-100c-64B")
		if err != nil || shown != "closed-100c-64B" {
			t.Fatalf("Plot(%s) = %q, %v; want closed-100c-64B's latencies drawn", tt.file, shown, err)
		}
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.HasPrefix(b, []byte(tt.prefix)) {
			t.Errorf("Plot(%s) wrote %q...; want it to start with %q", tt.file, b[:min(len(b), 16)], tt.prefix)
		}
	}
	if _, err := sampleReport().Plot(filepath.Join(dir, "report.pdf"), ""); err == nil {
		t.Error("Plot(report.pdf) = nil; want an error for the extension")
	}
	// Only idle runs: no latencies to plot, still an image.
	idle := &Report{Runs: sampleReport().Runs[3:]}
	if shown, err := idle.Plot(filepath.Join(dir, "idle.svg"), ""); err != nil || shown != "" {
		t.Errorf("Plot(idle only) = %q, %v; want no latencies drawn, no error", shown, err)
	}
	// The below-80%-CPU caveat and thousands separators on the bars' axis.
	svg := filepath.Join(dir, "caveat.svg")
	if _, err := sampleReport().Plot(svg, ""); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(svg)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"less than 80% of its core", "net*", "100,000"} {
		if !bytes.Contains(b, []byte(want)) {
			t.Errorf("Plot's SVG lacks %q", want)
		}
	}
}

func TestLogTicks(t *testing.T) {
	labels := func(ticks []plot.Tick) []string {
		var out []string
		for _, tk := range ticks {
			if tk.Label != "" {
				out = append(out, tk.Label)
			}
		}
		return out
	}
	tests := []struct {
		min, max float64
		want     []string
	}{
		{min: 40, max: 400, want: []string{"50", "100", "200"}}, // within a decade: more than one label
		{min: 3, max: 30000, want: []string{"5", "10", "20", "50", "100", "200", "500", "1,000", "2,000", "5,000", "10,000", "20,000"}},
		{min: 1, max: 1e6, want: []string{"1", "10", "100", "1,000", "10,000", "100,000", "1,000,000"}},
	}
	for _, tt := range tests {
		if got := labels(logTicks{}.Ticks(tt.min, tt.max)); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("logTicks(%v, %v) labels %q; want %q", tt.min, tt.max, got, tt.want)
		}
	}
	for _, tt := range []struct {
		min, max float64
		want     []string
	}{
		{min: 0, max: 26, want: []string{"0", "5", "10", "15", "20", "25"}},
		{min: 0, max: 250_000, want: []string{"0", "50,000", "100,000", "150,000", "200,000", "250,000"}},
		{min: 0, max: 1_760_000, want: []string{"0", "500,000", "1,000,000", "1,500,000"}},
		{min: 0, max: 3.7, want: []string{"0", "1", "2", "3"}},
		{min: 0, max: 0.33, want: []string{"0.0", "0.1", "0.2", "0.3"}},
		{min: 0, max: 0.066, want: []string{"0.00", "0.02", "0.04", "0.06"}},
	} {
		if got := labels(linearTicks{}.Ticks(tt.min, tt.max)); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("linearTicks(%v, %v) labels %q; want %q", tt.min, tt.max, got, tt.want)
		}
	}
}

func TestMedian(t *testing.T) {
	run := func(rate float64, p50 float64) Run {
		return Run{Scenario: "s", Server: "engine", HostSteal: rate / 100, ServerCPU: 1,
			Load: Result{Conns: 1, MsgsPerSec: rate, Messages: int64(rate), Latency: Latency{P50: p50, P99: 2 * p50, P999: 3 * p50}}}
	}
	tests := []struct {
		name       string
		rates      []float64
		wantRate   float64
		wantSpread string
	}{
		{name: "one round", rates: []float64{100}, wantRate: 100, wantSpread: ""},
		{name: "three rounds", rates: []float64{300, 100, 200}, wantRate: 200, wantSpread: "100%"},
		{name: "even count takes the lower middle", rates: []float64{400, 100, 300, 200}, wantRate: 200, wantSpread: "150%"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var runs []Run
			for _, r := range tt.rates {
				runs = append(runs, run(r, r/10))
			}
			m := Median(runs)
			if m.Load.MsgsPerSec != tt.wantRate || m.Load.Latency.P50 != tt.wantRate/10 {
				t.Errorf("Median(%v) = %v msgs/s, p50 %v; want the whole run with %v msgs/s", tt.rates, m.Load.MsgsPerSec, m.Load.Latency.P50, tt.wantRate)
			}
			if !reflect.DeepEqual(m.Headlines, tt.rates) {
				t.Errorf("Headlines = %v; want %v in round order", m.Headlines, tt.rates)
			}
			for i, r := range tt.rates {
				if m.P99s[i] != 2*r/10 || m.Tails[i] != 3*r/10 || m.Steals[i] != r/100 || m.CPUPerMsg[i] != 1e6/r {
					t.Errorf("P99s = %v, Tails = %v, Steals = %v, CPUPerMsg = %v; want each round's p99 (2 x rate/10), p99.9 (3 x rate/10), "+
						"steal (rate/100) and CPU per message (1 s over rate messages, in µs) in round order",
						m.P99s, m.Tails, m.Steals, m.CPUPerMsg)
					break
				}
			}
			if got := m.spread(); got != tt.wantSpread {
				t.Errorf("spread() = %q; want %q", got, tt.wantSpread)
			}
		})
	}
}

func TestPairedRatios(t *testing.T) {
	run := func(server string, rates, tails, steals []float64) Run {
		cpu := make([]float64, len(rates))
		for i, r := range rates {
			cpu[i] = 1e6 / r // one second of CPU in every round
		}
		return Run{Scenario: "s", Server: server, Headlines: rates, P99s: tails, Tails: tails, Steals: steals, CPUPerMsg: cpu,
			Load: Result{Conns: 1, MsgsPerSec: rates[0], Latency: Latency{P999: tails[0]}}}
	}
	// Round 2 is disturbed in the engine's run and round 3 in net's; round 1
	// sits exactly at the threshold and counts as calm.
	rep := &Report{Rounds: 3, Runs: []Run{
		run("engine", []float64{100, 300, 200}, []float64{10, 30, 40}, []float64{StealThreshold, 40, 0}),
		run("net", []float64{50, 300, 400}, []float64{20, 30, 10}, []float64{0, 1, StealThreshold + 1}),
	}}
	paired := rep.PairedRatios()
	if len(paired) != 1 {
		t.Fatalf("PairedRatios() = %+v; want one pair, engine over net", paired)
	}
	p := paired[0]
	if p.Server != "engine" || p.Versus != "net" || !reflect.DeepEqual(p.Headline, []float64{2, 1, 0.5}) || !reflect.DeepEqual(p.Tail, []float64{0.5, 1, 4}) ||
		!reflect.DeepEqual(p.P99, p.Tail) || !reflect.DeepEqual(p.CPU, []float64{0.5, 1, 2}) ||
		!reflect.DeepEqual(p.Calm, []bool{true, false, false}) {
		t.Errorf("PairedRatios() = %+v; want versus net, headline [2 1 0.5], p999 [0.5 1 4], cpu [0.5 1 2], calm [true false false] in round order", p)
	}
	var b bytes.Buffer
	if err := rep.WriteTable(&b); err != nil {
		t.Fatal(err)
	}
	wantBlock := []string{
		"headline 1.00 (0.50 - 2.00) calm 2.00 (2.00 - 2.00)",
		"p99 1.00 (0.50 - 4.00) calm 0.50 (0.50 - 0.50)",
		"p99.9 1.00 (0.50 - 4.00) calm 0.50 (0.50 - 0.50)",
		"cpu/msg 1.00 (0.50 - 2.00) calm 0.50 (0.50 - 0.50)",
	}
	if got := pairedBlock(b.String(), "s  engine÷net  all 3 / calm 1"); !reflect.DeepEqual(got, wantBlock) {
		t.Errorf("paired block of engine÷net = %q; want %q\n%s", got, wantBlock, b.String())
	}
	var js bytes.Buffer
	if err := rep.WriteJSON(&js); err != nil {
		t.Fatal(err)
	}
	var back struct {
		Rounds int      `json:"rounds"`
		Paired []Paired `json:"paired"`
	}
	if err := json.Unmarshal(js.Bytes(), &back); err != nil || back.Rounds != 3 || !reflect.DeepEqual(back.Paired, paired) {
		t.Errorf("JSON round trip: rounds %d, paired %+v, err %v; want 3 and %+v", back.Rounds, back.Paired, err, paired)
	}
	old := &Report{Rounds: 3, Runs: slices.Clone(rep.Runs)}
	old.Runs[1].Steals = nil
	old.Runs[1].CPUPerMsg = nil
	if p := old.PairedRatios(); len(p) != 1 || !reflect.DeepEqual(p[0].Calm, []bool{false, false, false}) || p[0].CPU != nil {
		t.Errorf("PairedRatios() without net's steals and CPU = %+v; want the ratios with no round calm and no CPU ratios", p)
	}
	idle := &Report{Rounds: 3, Runs: slices.Clone(rep.Runs)}
	idle.Runs[0].CPUPerMsg = []float64{1, 0, 1} // a round with no message measured
	if p := idle.PairedRatios(); len(p) != 1 || p[0].CPU != nil {
		t.Errorf("PairedRatios() with a round without messages = %+v; want no CPU ratios", p)
	}
	if single := (&Report{Rounds: 1, Runs: rep.Runs}).PairedRatios(); single != nil {
		t.Errorf("PairedRatios() of one round = %+v; want nil", single)
	}

	// With bare gnet too: the engine over net and over gnet, then the
	// ceiling, gnet over net, whether or not the engine ran.
	gnet := run("gnet", []float64{200, 150, 100}, []float64{5, 60, 20}, []float64{0, 0, 0})
	three := &Report{Rounds: 3, Runs: append(slices.Clone(rep.Runs), gnet)}
	var got []string
	for _, p := range three.PairedRatios() {
		got = append(got, p.Server+"÷"+p.Versus)
	}
	if want := []string{"engine÷net", "engine÷gnet", "gnet÷net"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("PairedRatios() with three servers: %q; want %q", got, want)
	}
	ceiling := (&Report{Rounds: 3, Runs: three.Runs[1:]}).PairedRatios()
	if len(ceiling) != 1 {
		t.Fatalf("PairedRatios() of net and gnet = %+v; want gnet over net", ceiling)
	}
	c := ceiling[0]
	if c.Server != "gnet" || c.Versus != "net" || !reflect.DeepEqual(c.Headline, []float64{4, 0.5, 0.25}) ||
		!reflect.DeepEqual(c.Tail, []float64{0.25, 2, 2}) || !reflect.DeepEqual(c.CPU, []float64{0.25, 2, 4}) ||
		!reflect.DeepEqual(c.Calm, []bool{true, true, false}) {
		t.Errorf("gnet over net = %+v; want headline [4 0.5 0.25], p999 [0.25 2 2], cpu [0.25 2 4], calm [true true false]", c)
	}
	b.Reset()
	if err := three.WriteTable(&b); err != nil {
		t.Fatal(err)
	}
	if got := pairedBlock(b.String(), "s gnet÷net all 3 / calm 2"); len(got) != 4 ||
		got[0] != "headline 0.50 (0.25 - 4.00) calm 0.50 (0.50 - 4.00)" || got[3] != "cpu/msg 2.00 (0.25 - 4.00) calm 0.25 (0.25 - 2.00)" {
		t.Errorf("the ceiling's block = %q; want headline 0.50 (0.25 - 4.00), calm 0.50 (0.50 - 4.00); cpu/msg 2.00 (0.25 - 4.00), calm 0.25 (0.25 - 2.00)\n%s",
			got, b.String())
	}
}

func TestMedianCI(t *testing.T) {
	// The ranks of the distribution-free 95% interval for a median are
	// tabulated: n = 6: 1st and 6th; 11: 2nd and 10th; 25: 8th and 18th;
	// 61: 23rd and 39th. Values 1..n shuffled, so the value is the rank.
	tests := []struct {
		n, lo, hi int
		ok        bool
	}{
		{n: 1, lo: 1, hi: 1}, {n: 5, lo: 1, hi: 5},
		{n: 6, lo: 1, hi: 6, ok: true}, {n: 11, lo: 2, hi: 10, ok: true},
		{n: 25, lo: 8, hi: 18, ok: true}, {n: 61, lo: 23, hi: 39, ok: true},
	}
	for _, tt := range tests {
		xs := make([]float64, tt.n)
		for i := range xs {
			xs[i] = float64((i*7)%tt.n + 1) // a permutation of 1..n (7 is prime to every n here)
		}
		med, lo, hi, ok := medianCI(xs)
		if med != float64((tt.n+1)/2) || lo != float64(tt.lo) || hi != float64(tt.hi) || ok != tt.ok {
			t.Errorf("medianCI(1..%d) = %v [%v - %v] %v; want %v [%v - %v] %v", tt.n, med, lo, hi, ok, (tt.n+1)/2, tt.lo, tt.hi, tt.ok)
		}
	}
}

// TestFixedRateTable checks that at a fixed rate the ratio columns compare
// CPU per message, and that nbio gets a ratio column of its own.
func TestFixedRateTable(t *testing.T) {
	res := Result{Conns: 100, Payload: 64, InFlight: 1, Rate: 30_000, Duration: time.Second, Messages: 30_000, MsgsPerSec: 30_000}
	rep := &Report{Runs: []Run{
		{Scenario: "fixed-100c-64B", Server: "engine", Load: res, ServerCPU: 0.15, ServerBusy: 15},
		{Scenario: "fixed-100c-64B", Server: "net", Load: res, ServerCPU: 0.30, ServerBusy: 30},
		{Scenario: "fixed-100c-64B", Server: "gnet", Load: res, ServerCPU: 0.12, ServerBusy: 12},
		{Scenario: "fixed-100c-64B", Server: "nbio", Load: res, ServerCPU: 0.20, ServerBusy: 20},
	}}
	var b bytes.Buffer
	if err := rep.WriteTable(&b); err != nil {
		t.Fatal(err)
	}
	tabs := tables(b.String())
	if len(tabs) != 3 || tabs[2]["header"][len(tabs[2]["header"])-1] != "÷nbio" {
		t.Fatalf("tables %q; want three, the last with a ÷nbio column last\n%s", tabs, b.String())
	}
	// engine: 5 µs/msg; net 10, gnet 4, nbio 6.67.
	for i, want := range [][]string{{"30,000", "0", "0", "0", "0"}, {"5.00", "15*", "0", "0", "0.0", "0.0"}, {"0.50", "1.25", "0.75"}} {
		if got := tabs[i]["fixed-100c-64B engine"]; !reflect.DeepEqual(got, want) {
			t.Errorf("table %d: engine row %q; want %q\n%s", i+1, got, want, b.String())
		}
	}
}
