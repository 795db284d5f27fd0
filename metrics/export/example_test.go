package export_test

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/netsys-go/netsys/metrics"
	"github.com/netsys-go/netsys/metrics/export"
)

// Registering a monitor's collector in a registry of your own, next to other
// collectors, instead of using MetricsHandler.
func ExampleCollector() {
	m := metrics.NewMonitor()
	src := m.Source(metrics.KindClient, "load", 1)
	src.Error(metrics.RequestTimeout)
	src.Error(metrics.RequestTimeout)

	reg := prometheus.NewRegistry()
	reg.MustRegister(export.Collector(m))
	families, err := reg.Gather()
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, mf := range families {
		if mf.GetName() != "netsys_errors_total" {
			continue
		}
		for _, s := range mf.GetMetric() {
			labels := map[string]string{}
			for _, l := range s.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if labels["kind"] == "request_timeout" {
				fmt.Printf("%s{source=%q, kind=%q} %v\n", mf.GetName(), labels["source"], labels["kind"], s.GetCounter().GetValue())
			}
		}
	}
	// Output:
	// netsys_errors_total{source="client/load", kind="request_timeout"} 2
}
