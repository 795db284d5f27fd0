package bench

import "testing"

func TestScenarios(t *testing.T) {
	full := map[string]bool{}
	for _, quick := range []bool{false, true} {
		scenarios := Scenarios(quick)
		if len(scenarios) == 0 {
			t.Fatalf("Scenarios(%v) is empty", quick)
		}
		seen := map[string]bool{}
		for _, s := range scenarios {
			if seen[s.Name] {
				t.Errorf("Scenarios(%v): name %q twice", quick, s.Name)
			}
			seen[s.Name] = true
			if quick && !full[s.Name] {
				t.Errorf("Scenarios(true): %q is not among the full scenarios", s.Name)
			}
			if !quick {
				full[s.Name] = true
			}
			cfg := s.LoadConfig("127.0.0.1:1")
			if _, err := cfg.withDefaults(); err != nil {
				t.Errorf("Scenarios(%v): %s: %v", quick, s.Name, err)
			}
			if cfg.Name != s.Name || cfg.Conns != s.Conns || cfg.Payload != s.Payload || cfg.Duration != s.Duration || cfg.Idle != s.Idle {
				t.Errorf("%s.LoadConfig() = %+v; want the scenario's settings", s.Name, cfg)
			}
		}
	}
}

func TestScenarioServers(t *testing.T) {
	byName := map[string]Scenario{}
	for _, s := range Scenarios(false) {
		byName[s.Name] = s
	}
	tests := []struct {
		scenario string
		nbio     bool
	}{
		{"closed-100c-64B", false}, {"pipelined-100c-16x-64B", false},
		{"conns-5000c-1KiB", true}, {"idle-10000c", true},
		{"fixed-100c-64B", true}, {"fixed-pipelined-100c-16x-64B", true}, {"fixed-5000c-1KiB", true}, {"pingpong-1c-64B", true},
		{"pingpong-unix-1c-64B", true},
	}
	for _, tt := range tests {
		s, ok := byName[tt.scenario]
		if !ok {
			t.Errorf("no scenario %s", tt.scenario)
			continue
		}
		if s.RunsOn("nbio") != tt.nbio || !s.RunsOn("engine") || !s.RunsOn("net") || !s.RunsOn("gnet") {
			t.Errorf("%s runs on nbio: %v; want %v, and on engine, net and gnet", s.Name, s.RunsOn("nbio"), tt.nbio)
		}
	}
	for _, s := range FixedScenarios() {
		if !s.Fixed || s.Idle || (s.Rate == 0 && s.Conns != 1) {
			t.Errorf("%s: fixed %v, rate %d, conns %d; want fixed-load: a fixed rate, or one connection in ping-pong", s.Name, s.Fixed, s.Rate, s.Conns)
		}
	}
	for name, s := range byName {
		if want := name == "pingpong-unix-1c-64B"; s.Unix != want {
			t.Errorf("%s: Unix %v; want %v", name, s.Unix, want)
		}
	}
	if got := byName["fixed-pipelined-100c-16x-64B"].Mode(); got != "open loop, 160,000 msg/s in bursts of 16" {
		t.Errorf("Mode() = %q", got)
	}
}
