package metrics

import (
	"cmp"
	"maps"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"

	dto "github.com/prometheus/client_model/go"
)

// family is one metric family the agent defines, as it must be exported.
type family struct {
	name   string
	typ    dto.MetricType
	labels []string // label names of every series, sorted
}

// wantFamilies lists every family the package defines itself.
func wantFamilies() []family {
	return []family{
		{"edge_build_info", dto.MetricType_GAUGE, []string{"version"}},
		{"edge_frames_decoded_total", dto.MetricType_COUNTER, []string{"camera"}},
		{"edge_frames_processed_total", dto.MetricType_COUNTER, []string{"camera"}},
		{"edge_frames_dropped_total", dto.MetricType_COUNTER, []string{"camera"}},
		{"edge_stage_duration_seconds", dto.MetricType_HISTOGRAM, []string{"camera", "stage"}},
		{"edge_capture_to_publish_seconds", dto.MetricType_HISTOGRAM, []string{"camera"}},
		{"edge_camera_up", dto.MetricType_GAUGE, []string{"camera"}},
		{"edge_model_info", dto.MetricType_GAUGE, []string{"camera", "model", "sha256"}},
		{"edge_commands_total", dto.MetricType_COUNTER, []string{"op", "result"}},
		{"edge_events_published_total", dto.MetricType_COUNTER, []string{"bus"}},
		{"edge_events_dropped_total", dto.MetricType_COUNTER, []string{"bus"}},
		{"edge_outbox_events", dto.MetricType_GAUGE, []string{"bus"}},
		{"edge_bus_connected", dto.MetricType_GAUGE, []string{"bus"}},
	}
}

// record puts known values into every family; TestFamilies spells out
// what they must read back as.
func record(m *Metrics) {
	a := m.Camera("a")
	for range 5 {
		a.FramesDecoded.Inc()
	}
	for range 3 {
		a.FramesProcessed.Inc()
	}
	a.FramesDropped.Add(2)
	a.Preprocess.Observe(0.001)
	a.Inference.Observe(0.02)
	a.Inference.Observe(0.02)
	a.Postprocess.Observe(0.003)
	a.Output.Observe(0.004)
	a.CaptureToPublish.Observe(0.12)
	a.Up.Set(1)
	m.Camera("b") // registered, nothing recorded: every series at 0
	m.SetModel("a", "yolox_s.onnx", "abc123")
	m.Command("set_thresholds", true)
	m.Command("set_thresholds", true)
	m.Command("load_model", false)
	m.AddBus("nats", func() BusStats { return BusStats{Published: 7, Dropped: 1, Outbox: 4, Connected: true} })
	m.AddBus("mqtt", func() BusStats { return BusStats{Published: 2} })
}

func gather(t *testing.T, m *Metrics) map[string]*dto.MetricFamily {
	t.Helper()
	mfs, err := m.Gather()
	if err != nil {
		t.Fatalf("Gather: %v", err)
	}
	byName := map[string]*dto.MetricFamily{}
	for _, mf := range mfs {
		byName[mf.GetName()] = mf
	}
	return byName
}

func labelsOf(mt *dto.Metric) map[string]string {
	l := map[string]string{}
	for _, p := range mt.GetLabel() {
		l[p.GetName()] = p.GetValue()
	}
	return l
}

// series returns the family's series whose labels are exactly want, or nil.
func series(mf *dto.MetricFamily, want map[string]string) *dto.Metric {
	for _, mt := range mf.GetMetric() {
		if maps.Equal(labelsOf(mt), want) {
			return mt
		}
	}
	return nil
}

// value is a counter's or gauge's value, or a histogram's sample count.
func value(mt *dto.Metric) float64 {
	switch {
	case mt.Counter != nil:
		return mt.GetCounter().GetValue()
	case mt.Gauge != nil:
		return mt.GetGauge().GetValue()
	case mt.Histogram != nil:
		return float64(mt.GetHistogram().GetSampleCount())
	}
	return -1
}

func TestFamilies(t *testing.T) {
	m := New("1.2.3")
	record(m)
	got := gather(t, m)

	for _, f := range wantFamilies() {
		mf := got[f.name]
		if mf == nil {
			t.Errorf("%s: not exported", f.name)
			continue
		}
		if mf.GetType() != f.typ {
			t.Errorf("%s: type %v, want %v", f.name, mf.GetType(), f.typ)
		}
		if mf.GetHelp() == "" {
			t.Errorf("%s: no help", f.name)
		}
		for _, mt := range mf.GetMetric() {
			if names := slices.Sorted(maps.Keys(labelsOf(mt))); !slices.Equal(names, f.labels) {
				t.Errorf("%s: series labelled %v, want %v", f.name, names, f.labels)
			}
		}
	}

	// Each value follows from record: counts of Inc/Observe calls, the Add,
	// the Set, the bus stats; histograms give their sample count here and
	// their sums below.
	tests := []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"edge_build_info", map[string]string{"version": "1.2.3"}, 1},
		{"edge_frames_decoded_total", map[string]string{"camera": "a"}, 5},
		{"edge_frames_processed_total", map[string]string{"camera": "a"}, 3},
		{"edge_frames_dropped_total", map[string]string{"camera": "a"}, 2},
		{"edge_frames_processed_total", map[string]string{"camera": "b"}, 0},
		{"edge_stage_duration_seconds", map[string]string{"camera": "a", "stage": "preprocess"}, 1},
		{"edge_stage_duration_seconds", map[string]string{"camera": "a", "stage": "inference"}, 2},
		{"edge_stage_duration_seconds", map[string]string{"camera": "a", "stage": "postprocess"}, 1},
		{"edge_stage_duration_seconds", map[string]string{"camera": "a", "stage": "output"}, 1},
		{"edge_stage_duration_seconds", map[string]string{"camera": "b", "stage": "inference"}, 0},
		{"edge_capture_to_publish_seconds", map[string]string{"camera": "a"}, 1},
		{"edge_camera_up", map[string]string{"camera": "a"}, 1},
		{"edge_camera_up", map[string]string{"camera": "b"}, 0},
		{"edge_model_info", map[string]string{"camera": "a", "model": "yolox_s.onnx", "sha256": "abc123"}, 1},
		{"edge_commands_total", map[string]string{"op": "set_thresholds", "result": "ok"}, 2},
		{"edge_commands_total", map[string]string{"op": "load_model", "result": "error"}, 1},
		{"edge_events_published_total", map[string]string{"bus": "nats"}, 7},
		{"edge_events_dropped_total", map[string]string{"bus": "nats"}, 1},
		{"edge_outbox_events", map[string]string{"bus": "nats"}, 4},
		{"edge_bus_connected", map[string]string{"bus": "nats"}, 1},
		{"edge_events_published_total", map[string]string{"bus": "mqtt"}, 2},
		{"edge_bus_connected", map[string]string{"bus": "mqtt"}, 0},
	}
	for _, tt := range tests {
		mt := series(got[tt.name], tt.labels)
		if mt == nil {
			t.Errorf("%s%v: no such series", tt.name, tt.labels)
			continue
		}
		if v := value(mt); v != tt.want {
			t.Errorf("%s%v = %v, want %v", tt.name, tt.labels, v, tt.want)
		}
	}
	// Only the commands recorded exist: no "load_model ok", no
	// "set_thresholds error".
	if n := len(got["edge_commands_total"].GetMetric()); n != 2 {
		t.Errorf("edge_commands_total has %d series, want 2", n)
	}

	// Two inferences of 20 ms: sum 0.04 s, both in le=0.02 (bounds are
	// inclusive), none in le=0.01.
	inf := series(got["edge_stage_duration_seconds"], map[string]string{"camera": "a", "stage": "inference"}).GetHistogram()
	if inf.GetSampleSum() != 0.04 {
		t.Errorf("inference sum = %v, want 0.04", inf.GetSampleSum())
	}
	var bounds []float64
	for _, b := range inf.GetBucket() {
		bounds = append(bounds, b.GetUpperBound())
		want := uint64(0)
		if b.GetUpperBound() >= 0.02 {
			want = 2
		}
		if b.GetCumulativeCount() != want {
			t.Errorf("inference le=%v: %d, want %d", b.GetUpperBound(), b.GetCumulativeCount(), want)
		}
	}
	if !slices.Equal(bounds, stageBuckets()) {
		t.Errorf("stage buckets %v, want %v", bounds, stageBuckets())
	}
	c2p := series(got["edge_capture_to_publish_seconds"], map[string]string{"camera": "a"}).GetHistogram()
	bounds = bounds[:0]
	for _, b := range c2p.GetBucket() {
		bounds = append(bounds, b.GetUpperBound())
	}
	if !slices.Equal(bounds, captureBuckets()) {
		t.Errorf("capture-to-publish buckets %v, want %v", bounds, captureBuckets())
	}
	if c2p.GetSampleSum() != 0.12 {
		t.Errorf("capture-to-publish sum = %v, want 0.12", c2p.GetSampleSum())
	}

	// The runtime collectors are on the same registry.
	for _, name := range []string{"go_goroutines", "process_start_time_seconds"} {
		if got[name] == nil {
			t.Errorf("%s: not exported", name)
		}
	}
}

func TestBuckets(t *testing.T) {
	// The brief: stages 0.5 ms to 1 s, capture-to-publish 5 ms to 5 s,
	// strictly increasing.
	tests := []struct {
		name     string
		buckets  []float64
		min, max float64
	}{
		{"stage", stageBuckets(), 0.0005, 1},
		{"capture", captureBuckets(), 0.005, 5},
	}
	for _, tt := range tests {
		b := tt.buckets
		if b[0] != tt.min || b[len(b)-1] != tt.max {
			t.Errorf("%s: %v..%v, want %v..%v", tt.name, b[0], b[len(b)-1], tt.min, tt.max)
		}
		for i := 1; i < len(b); i++ {
			if b[i] <= b[i-1] {
				t.Errorf("%s: bucket %d (%v) not above %v", tt.name, i, b[i], b[i-1])
			}
		}
	}
}

// TestNoGlobalState: two Metrics in one process do not share series, and
// neither touches the default registry.
func TestNoGlobalState(t *testing.T) {
	m1, m2 := New("1"), New("2")
	m1.Camera("a").FramesProcessed.Inc()
	if mf := gather(t, m2)["edge_frames_processed_total"]; mf != nil {
		t.Errorf("second Metrics sees %d series of the first", len(mf.GetMetric()))
	}
}

func TestRecordFrameAllocs(t *testing.T) {
	c := New("t").Camera("a")
	allocs := testing.AllocsPerRun(1000, func() {
		c.FramesDecoded.Inc()
		c.FramesDropped.Add(1)
		c.Preprocess.Observe(0.001)
		c.Inference.Observe(0.015)
		c.Postprocess.Observe(0.002)
		c.Output.Observe(0.003)
		c.CaptureToPublish.Observe(0.180)
		c.FramesProcessed.Inc()
		c.Up.Set(1)
	})
	if allocs != 0 {
		t.Errorf("recording a frame allocates %v times, want 0", allocs)
	}
}

func TestRemoveCamera(t *testing.T) {
	m := New("t")
	record(m)
	m.SetModel("b", "yolov8n.onnx", "def456")
	oldA := m.Camera("a")
	m.RemoveCamera("a")
	m.RemoveCamera("never-added") // no-op

	// b keeps its 13 series: 3 frame counters, 6 stages, capture-to-publish,
	// up, loop wait, model.
	nb := 0
	for name, mf := range gather(t, m) {
		for _, mt := range mf.GetMetric() {
			switch labelsOf(mt)["camera"] {
			case "a":
				t.Errorf("%s%v survived RemoveCamera", name, labelsOf(mt))
			case "b":
				nb++
			}
		}
	}
	if nb != 13 {
		t.Errorf("camera b has %d series, want 13", nb)
	}

	// A camera that comes back starts from zero, and the old handles no
	// longer reach the export.
	a := m.Camera("a")
	oldA.FramesProcessed.Inc()
	a.FramesDecoded.Inc()
	got := gather(t, m)
	for _, tt := range []struct {
		name string
		want float64
	}{
		{"edge_frames_processed_total", 0},
		{"edge_frames_decoded_total", 1},
	} {
		mt := series(got[tt.name], map[string]string{"camera": "a"})
		if mt == nil || value(mt) != tt.want {
			t.Errorf("%s{camera=a} after re-adding = %v, want %v", tt.name, mt, tt.want)
		}
	}
	if mf := got["edge_model_info"]; series(mf, map[string]string{"camera": "b", "model": "yolov8n.onnx", "sha256": "def456"}) == nil || len(mf.GetMetric()) != 1 {
		t.Errorf("edge_model_info after removing a: %v, want only b's", mf.GetMetric())
	}
}

func TestSetModel(t *testing.T) {
	type set struct{ camera, model, sha string }
	tests := []struct {
		name string
		sets []set
		want []set // every edge_model_info series, by camera
	}{
		{"first", []set{{"a", "m1", "s1"}}, []set{{"a", "m1", "s1"}}},
		{"replaced", []set{{"a", "m1", "s1"}, {"a", "m2", "s2"}}, []set{{"a", "m2", "s2"}}},
		{"same digest new file", []set{{"a", "m1", "s1"}, {"a", "m2", "s1"}}, []set{{"a", "m2", "s1"}}},
		{"same again", []set{{"a", "m1", "s1"}, {"a", "m1", "s1"}}, []set{{"a", "m1", "s1"}}},
		{"cleared", []set{{"a", "m1", "s1"}, {"a", "", ""}}, nil},
		{"other camera kept", []set{{"b", "m1", "s1"}, {"a", "m2", "s2"}, {"a", "m3", "s3"}}, []set{{"a", "m3", "s3"}, {"b", "m1", "s1"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := New("t")
			for _, s := range tt.sets {
				m.SetModel(s.camera, s.model, s.sha)
			}
			var got []set
			for _, mt := range gather(t, m)["edge_model_info"].GetMetric() {
				l := labelsOf(mt)
				if value(mt) != 1 {
					t.Errorf("%v = %v, want 1", l, value(mt))
				}
				got = append(got, set{l["camera"], l["model"], l["sha256"]})
			}
			slices.SortFunc(got, func(x, y set) int { return cmp.Compare(x.camera, y.camera) })
			if !slices.Equal(got, tt.want) {
				t.Errorf("series %v, want %v", got, tt.want)
			}
		})
	}
}

func TestBusReadAtScrape(t *testing.T) {
	m := New("t")
	var published atomic.Uint64
	var connected atomic.Bool
	m.AddBus("nats", func() BusStats {
		return BusStats{Published: published.Load(), Connected: connected.Load()}
	})

	read := func(name string) float64 {
		t.Helper()
		mt := series(gather(t, m)[name], map[string]string{"bus": "nats"})
		if mt == nil {
			t.Fatalf("%s{bus=nats}: no such series", name)
		}
		return value(mt)
	}
	published.Store(1)
	if v := read("edge_events_published_total"); v != 1 {
		t.Errorf("published = %v, want 1", v)
	}
	published.Store(5)
	connected.Store(true)
	if v := read("edge_events_published_total"); v != 5 {
		t.Errorf("published after the client counted on = %v, want 5", v)
	}
	if v := read("edge_bus_connected"); v != 1 {
		t.Errorf("connected = %v, want 1", v)
	}

	// Adding the name again replaces the function.
	m.AddBus("nats", func() BusStats { return BusStats{Outbox: 9} })
	if v := read("edge_outbox_events"); v != 9 {
		t.Errorf("outbox after replacing = %v, want 9", v)
	}
	if n := len(gather(t, m)["edge_outbox_events"].GetMetric()); n != 1 {
		t.Errorf("edge_outbox_events has %d series after replacing, want 1", n)
	}

	m.RemoveBus("nats")
	if mf := gather(t, m)["edge_bus_connected"]; mf != nil {
		t.Errorf("edge_bus_connected after RemoveBus: %v", mf.GetMetric())
	}
}

// TestInvalidUTF8 shows a stray byte in a name neither panics nor breaks
// the scrape: it becomes U+FFFD.
func TestInvalidUTF8(t *testing.T) {
	m := New("v\xff")
	m.Camera("cam\xff").FramesProcessed.Inc()
	m.SetModel("cam\xff", "m\xff.onnx", "s")
	m.Command("op\xff", true)
	m.AddBus("bus\xff", func() BusStats { return BusStats{} })
	got := gather(t, m)
	tests := []struct {
		name   string
		labels map[string]string
	}{
		{"edge_build_info", map[string]string{"version": "v\uFFFD"}},
		{"edge_frames_processed_total", map[string]string{"camera": "cam\uFFFD"}},
		{"edge_model_info", map[string]string{"camera": "cam\uFFFD", "model": "m\uFFFD.onnx", "sha256": "s"}},
		{"edge_commands_total", map[string]string{"op": "op\uFFFD", "result": "ok"}},
		{"edge_bus_connected", map[string]string{"bus": "bus\uFFFD"}},
	}
	for _, tt := range tests {
		if series(got[tt.name], tt.labels) == nil {
			t.Errorf("%s%v: no such series", tt.name, tt.labels)
		}
	}
	m.RemoveCamera("cam\xff")
	if mf := gather(t, m)["edge_model_info"]; mf != nil {
		t.Errorf("edge_model_info after RemoveCamera: %v", mf.GetMetric())
	}
}

// TestConcurrent records, changes models and buses, removes a camera and
// gathers all at once; it proves nothing without the race detector, which
// CI runs.
func TestConcurrent(t *testing.T) {
	m := New("t")
	var wg sync.WaitGroup
	const n = 200
	wg.Go(func() {
		c := m.Camera("a")
		for range n {
			c.FramesProcessed.Inc()
			c.Inference.Observe(0.01)
		}
	})
	wg.Go(func() {
		for i := range n {
			m.SetModel("a", "m"+strconv.Itoa(i%3), "s")
			m.Command("get_config", i%2 == 0)
		}
	})
	wg.Go(func() {
		for range n {
			m.AddBus("nats", func() BusStats { return BusStats{Published: 1} })
			m.RemoveBus("nats")
		}
	})
	wg.Go(func() {
		for range n / 10 {
			m.RemoveCamera("b")
			m.Camera("b").Up.Set(1)
		}
	})
	wg.Go(func() {
		for range n / 10 {
			if _, err := m.Gather(); err != nil {
				t.Errorf("Gather: %v", err)
				return
			}
		}
	})
	wg.Wait()
	// Whatever the interleaving, camera a ends with its 200 frames and one model.
	got := gather(t, m)
	if v := value(series(got["edge_frames_processed_total"], map[string]string{"camera": "a"})); v != n {
		t.Errorf("processed = %v, want %d", v, n)
	}
	if k := len(got["edge_model_info"].GetMetric()); k != 1 {
		t.Errorf("edge_model_info has %d series, want 1", k)
	}
}

func TestSetClock(t *testing.T) {
	m := New("t")
	series := func() (info []map[string]string, offset []float64) {
		for name, mf := range gather(t, m) {
			for _, mt := range mf.GetMetric() {
				switch name {
				case "edge_camera_clock_info":
					info = append(info, labelsOf(mt))
				case "edge_camera_clock_offset_seconds":
					offset = append(offset, mt.GetGauge().GetValue())
				}
			}
		}
		return info, offset
	}
	m.SetClock("a", "arrival", "probation", 0, false)
	info, off := series()
	if len(info) != 1 || info[0]["clock"] != "arrival" || info[0]["reason"] != "probation" || len(off) != 0 {
		t.Fatalf("after probation: info %v, offset %v; want one arrival/probation series and no offset", info, off)
	}
	m.SetClock("a", "arrival", "transport_above_max", -2.01, true)
	info, off = series()
	if len(info) != 1 || info[0]["reason"] != "transport_above_max" || len(off) != 1 || off[0] != -2.01 {
		t.Fatalf("after the offset: info %v, offset %v; want the new reason alone and -2.01", info, off)
	}
	m.SetClock("a", "ntp", "", 0.02, true)
	info, off = series()
	if len(info) != 1 || info[0]["clock"] != "ntp" || info[0]["reason"] != "" || off[0] != 0.02 {
		t.Fatalf("trusted: info %v, offset %v", info, off)
	}
	m.RemoveCamera("a")
	if info, off = series(); len(info) != 0 || len(off) != 0 {
		t.Fatalf("after RemoveCamera: info %v, offset %v; want none", info, off)
	}
}
