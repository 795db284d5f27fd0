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
