package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"edge-agent/bus"
)

// bucketResult is what init did to one bucket.
type bucketResult struct {
	Bucket       string `json:"bucket"`
	Action       string `json:"action"` // created or updated
	History      uint8  `json:"history"`
	TTL          string `json:"ttl,omitempty"`
	MaxValueSize int32  `json:"max_value_size"`
	Replicas     int    `json:"replicas"`
}

func cmdInit(ctx context.Context, a *app, args []string) error {
	fs := a.flags()
	replicas := fs.Int("replicas", 1, "copies of each bucket in a JetStream cluster (1, 3 or 5)")
	ttl := fs.Duration("status-ttl", 2*time.Minute, "a device's heartbeat leaves edge_status when it is older than this (several heartbeat intervals)")
	history := fs.Int("history", 10, "revisions edge_config keeps per key (1-64)")
	pos, err := a.parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usagef("unexpected argument %q", pos[0])
	}
	if *replicas < 1 || *replicas > 5 {
		return usagef("--replicas: must be 1 to 5, got %d", *replicas)
	}
	if *ttl < time.Second {
		return usagef("--status-ttl: must be at least 1s, got %s", *ttl)
	}
	if *history < 1 || *history > 64 {
		return usagef("--history: must be 1 to 64, got %d", *history)
	}
	if err := a.connect(ctx); err != nil {
		return err
	}
	configs := []jetstream.KeyValueConfig{
		{
			Bucket:       bus.ConfigBucket,
			Description:  "edge-agent fleet: desired state (fleet, group.<name>, device.<id>)",
			MaxValueSize: bus.MaxFleetDocSize,
			History:      uint8(*history),
			Storage:      jetstream.FileStorage,
			Replicas:     *replicas,
		},
		{
			Bucket:       bus.StatusBucket,
			Description:  "edge-agent fleet: each device's latest heartbeat (device.<id>)",
			MaxValueSize: maxStatusSize,
			History:      1,
			TTL:          *ttl,
			Storage:      jetstream.FileStorage,
			Replicas:     *replicas,
		},
	}
	var results []bucketResult
	for _, cfg := range configs {
		r, err := a.ensureBucket(ctx, cfg)
		if err != nil {
			return err
		}
		results = append(results, r)
	}
	if a.json {
		return a.printJSON(results)
	}
	tw := a.table()
	fmt.Fprintln(tw, "BUCKET\tACTION\tHISTORY\tTTL\tMAX VALUE\tREPLICAS")
	for _, r := range results {
		ttl := r.TTL
		if ttl == "" {
			ttl = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%d\t%d\n", r.Bucket, r.Action, r.History, ttl, r.MaxValueSize, r.Replicas)
	}
	return tw.Flush()
}

// ensureBucket creates the bucket, or updates it to cfg.
func (a *app) ensureBucket(ctx context.Context, cfg jetstream.KeyValueConfig) (bucketResult, error) {
	action, verb := "updated", "update"
	err := a.call(ctx, func(ctx context.Context) error {
		_, err := a.js.KeyValue(ctx, cfg.Bucket)
		return err
	})
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		action, verb = "created", "create"
	} else if err != nil {
		return bucketResult{}, fmt.Errorf("bucket %s %s: %w", cfg.Bucket, a.where(), err)
	}
	var kv jetstream.KeyValue
	if err := a.call(ctx, func(ctx context.Context) (err error) {
		kv, err = a.js.CreateOrUpdateKeyValue(ctx, cfg)
		return err
	}); err != nil {
		return bucketResult{}, fmt.Errorf("%s bucket %s %s: %w", verb, cfg.Bucket, a.where(), err)
	}
	var st jetstream.KeyValueStatus
	if err := a.call(ctx, func(ctx context.Context) (err error) {
		st, err = kv.Status(ctx)
		return err
	}); err != nil {
		return bucketResult{}, fmt.Errorf("bucket %s: %w", cfg.Bucket, err)
	}
	got := st.Config()
	r := bucketResult{Bucket: cfg.Bucket, Action: action, History: got.History,
		MaxValueSize: got.MaxValueSize, Replicas: got.Replicas}
	if st.TTL() > 0 {
		r.TTL = st.TTL().String()
	}
	return r, nil
}
