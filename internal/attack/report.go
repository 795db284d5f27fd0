package main

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
)

// figure is one named value of a report.
type figure struct {
	name  string
	value any // int, int64, float64, string or bool
}

// report is what a scenario found: its figures in order, then a summary.
type report struct {
	scenario string
	figures  []figure
	summary  string
}

// add appends a figure; a later figure of the same name is kept as well.
func (r *report) add(name string, value any) {
	r.figures = append(r.figures, figure{name, value})
}

// text writes the report as aligned "name value" lines, then the summary.
func (r *report) text(w io.Writer) error {
	width := len("scenario")
	for _, f := range r.figures {
		width = max(width, len(f.name))
	}
	if _, err := fmt.Fprintf(w, "%-*s %s\n", width, "scenario", r.scenario); err != nil {
		return err
	}
	for _, f := range r.figures {
		if _, err := fmt.Fprintf(w, "%-*s %s\n", width, f.name, format(f.value)); err != nil {
			return err
		}
	}
	_, err := fmt.Fprintf(w, "summary: %s\n", r.summary)
	return err
}

// format prints a figure's value: booleans as yes/no, floats with at most two
// decimals.
func format(v any) string {
	switch v := v.(type) {
	case bool:
		if v {
			return "yes"
		}
		return "no"
	case float64:
		if v == math.Trunc(v) {
			return fmt.Sprintf("%.0f", v)
		}
		return fmt.Sprintf("%.2f", v)
	}
	return fmt.Sprint(v)
}

// MarshalJSON writes {"scenario", "figures": {name: value}, "summary"}.
func (r *report) MarshalJSON() ([]byte, error) {
	figs := make(map[string]any, len(r.figures))
	for _, f := range r.figures {
		figs[f.name] = f.value
	}
	return json.Marshal(struct {
		Scenario string         `json:"scenario"`
		Figures  map[string]any `json:"figures"`
		Summary  string         `json:"summary"`
	}{r.scenario, figs, r.summary})
}
