package metrics

import (
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

// BusStats is what a bus client reports at scrape time. The counters are
// the client's own, since it was created.
type BusStats struct {
	Published uint64 // events the broker acknowledged
	Dropped   uint64 // events refused because the hand-off or the outbox was full
	Outbox    int    // events waiting for the broker
	Connected bool
}

// AddBus exports a bus client's counters under bus=name:
//
//	edge_events_published_total{bus}  counter
//	edge_events_dropped_total{bus}    counter
//	edge_outbox_events{bus}           gauge
//	edge_bus_connected{bus}           gauge, 1 connected, 0 not
//
// stats is called on every scrape, from the scrape's goroutine, so it must
// be safe for concurrent use and quick (read atomics or take a short lock).
// The client keeps counting on its own; nothing is copied between scrapes.
// Adding a name again replaces its stats function.
func (m *Metrics) AddBus(name string, stats func() BusStats) {
	m.buses.add(labelValue(name), stats)
}

// RemoveBus stops exporting the bus client's series. Removing an unknown
// name does nothing.
func (m *Metrics) RemoveBus(name string) { m.buses.remove(labelValue(name)) }

// busCollector turns the bus clients' counters into constant metrics at
// collection time, so the clients need not know about Prometheus.
type busCollector struct {
	published, dropped, outbox, connected *prometheus.Desc

	mu    sync.Mutex
	stats map[string]func() BusStats
}

func newBusCollector() *busCollector {
	desc := func(name, help string) *prometheus.Desc {
		return prometheus.NewDesc(prometheus.BuildFQName(namespace, "", name), help, []string{"bus"}, nil)
	}
	return &busCollector{
		published: desc("events_published_total", "Events the broker acknowledged, per bus client."),
		dropped:   desc("events_dropped_total", "Events refused because the hand-off or the outbox was full, per bus client."),
		outbox:    desc("outbox_events", "Events in the outbox waiting for the broker, per bus client."),
		connected: desc("bus_connected", "1 while the bus client is connected to its broker, 0 otherwise."),
		stats:     map[string]func() BusStats{},
	}
}

func (c *busCollector) add(name string, stats func() BusStats) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.stats[name] = stats
}

func (c *busCollector) remove(name string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.stats, name)
}

// Describe implements prometheus.Collector.
func (c *busCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.published
	ch <- c.dropped
	ch <- c.outbox
	ch <- c.connected
}

// Collect implements prometheus.Collector. The stats functions run outside
// the lock, so a slow one does not hold up AddBus.
func (c *busCollector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	names := make([]string, 0, len(c.stats))
	funcs := make([]func() BusStats, 0, len(c.stats))
	for name, f := range c.stats {
		names = append(names, name)
		funcs = append(funcs, f)
	}
	c.mu.Unlock()

	for i, f := range funcs {
		s := f()
		connected := 0.0
		if s.Connected {
			connected = 1
		}
		ch <- prometheus.MustNewConstMetric(c.published, prometheus.CounterValue, float64(s.Published), names[i])
		ch <- prometheus.MustNewConstMetric(c.dropped, prometheus.CounterValue, float64(s.Dropped), names[i])
		ch <- prometheus.MustNewConstMetric(c.outbox, prometheus.GaugeValue, float64(s.Outbox), names[i])
		ch <- prometheus.MustNewConstMetric(c.connected, prometheus.GaugeValue, connected, names[i])
	}
}
