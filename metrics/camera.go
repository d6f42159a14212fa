package metrics

import "github.com/prometheus/client_golang/prometheus"

// Camera holds one camera's series with their label values bound, so that
// recording a frame is an atomic add: no allocation, no lock, no map
// look-up. The camera loop keeps it for as long as the camera runs.
type Camera struct {
	FramesDecoded   prometheus.Counter // edge_frames_decoded_total{camera}
	FramesProcessed prometheus.Counter // edge_frames_processed_total{camera}
	FramesDropped   prometheus.Counter // edge_frames_dropped_total{camera}

	// The stages of edge_stage_duration_seconds{camera,stage}, in seconds.
	Transport   prometheus.Observer // stage="transport"
	Queue       prometheus.Observer // stage="queue"
	Preprocess  prometheus.Observer // stage="preprocess"
	Inference   prometheus.Observer // stage="inference"
	Postprocess prometheus.Observer // stage="postprocess"
	Output      prometheus.Observer // stage="output"

	CaptureToPublish prometheus.Observer // edge_capture_to_publish_seconds{camera}, in seconds
	Up               prometheus.Gauge    // edge_camera_up{camera}: 1 streaming, 0 not
	LoopWait         prometheus.Observer // edge_loop_wait_seconds{camera}, in seconds
}

// Camera returns the handles of camera's series, creating them at zero
// (edge_camera_up starts at 0). Calling it again for the same camera
// returns handles on the same series.
//
// After RemoveCamera the handles it returned before still accept values but
// are no longer exported; a camera that comes back calls Camera again.
func (m *Metrics) Camera(name string) *Camera {
	name = labelValue(name)
	return &Camera{
		FramesDecoded:    m.framesDecoded.WithLabelValues(name),
		FramesProcessed:  m.framesProcessed.WithLabelValues(name),
		FramesDropped:    m.framesDropped.WithLabelValues(name),
		Transport:        m.stage.WithLabelValues(name, StageTransport),
		Queue:            m.stage.WithLabelValues(name, StageQueue),
		Preprocess:       m.stage.WithLabelValues(name, StagePreprocess),
		Inference:        m.stage.WithLabelValues(name, StageInference),
		Postprocess:      m.stage.WithLabelValues(name, StagePostprocess),
		Output:           m.stage.WithLabelValues(name, StageOutput),
		CaptureToPublish: m.captureToPublish.WithLabelValues(name),
		Up:               m.cameraUp.WithLabelValues(name),
		LoopWait:         m.loopWait.WithLabelValues(name),
	}
}

// RemoveCamera deletes every series labelled with the camera, its model's
// included, for a camera removed from the spec. Removing an unknown camera
// does nothing.
func (m *Metrics) RemoveCamera(name string) {
	name = labelValue(name)
	m.framesDecoded.DeleteLabelValues(name)
	m.framesProcessed.DeleteLabelValues(name)
	m.framesDropped.DeleteLabelValues(name)
	m.stage.DeletePartialMatch(prometheus.Labels{"camera": name})
	m.captureToPublish.DeleteLabelValues(name)
	m.cameraUp.DeleteLabelValues(name)
	m.loopWait.DeleteLabelValues(name)
	m.clockOffset.DeleteLabelValues(name)

	m.mu.Lock()
	defer m.mu.Unlock()
	m.modelInfo.DeletePartialMatch(prometheus.Labels{"camera": name})
	delete(m.models, name)
	m.clockInfo.DeletePartialMatch(prometheus.Labels{"camera": name})
	delete(m.clocks, name)
}
