package metrics_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"time"

	"edge-agent/metrics"
)

// The agent builds one Metrics, hands each camera loop its handles and
// serves them next to the health endpoints.
func Example() {
	m := metrics.New("1.0.0")
	cam := m.Camera("porch") // once per camera, off the hot path
	m.SetModel("porch", "yolox_s.onnx", "9f2c")

	// Per frame: atomic adds, nothing allocated.
	cam.FramesProcessed.Inc()
	cam.Inference.Observe((18 * time.Millisecond).Seconds())

	s := &metrics.Server{
		Addr:      "127.0.0.1:0", // tests pick a free port; the default is metrics.DefaultAddr
		Metrics:   m,
		Readiness: func() (bool, any) { return true, map[string]int{"cameras": 1} },
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	addr, err := s.Ready(5 * time.Second)
	if err != nil {
		fmt.Println(err)
		return
	}

	resp, err := http.Get("http://" + addr + "/readyz")
	if err != nil {
		fmt.Println(err)
		return
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	fmt.Print(resp.StatusCode, " ", string(body))

	cancel()
	fmt.Println("stopped:", <-done)
	// Output:
	// 200 {"cameras":1}
	// stopped: <nil>
}
