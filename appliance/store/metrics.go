package store

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	bolt "go.etcd.io/bbolt"

	"github.com/kinline/kinline/shared/wire"
)

// Outbox returns how many events wait for central's acknowledgement and
// when the oldest of them was appended (zero time when none waits).
func (s *Store) Outbox() (depth int, oldest time.Time, err error) {
	err = s.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketOutbox)
		k, v := b.Cursor().First()
		if k == nil {
			return nil
		}
		var ev wire.Event
		if err := json.Unmarshal(v, &ev); err != nil {
			return fmt.Errorf("%w: outbox's first event: %v", ErrCorrupt, err)
		}
		depth, oldest = b.Stats().KeyN, ev.Time
		return nil
	})
	if err != nil {
		return 0, time.Time{}, fmt.Errorf("store: outbox: %w", err)
	}
	return depth, oldest, nil
}

// outboxCollector exports the outbox's depth and age, read at each scrape.
type outboxCollector struct {
	s          *Store
	depth, age *prometheus.Desc
}

// RegisterMetrics registers the outbox's depth and the age of its oldest
// event on reg (read from the file at each scrape).
func (s *Store) RegisterMetrics(reg prometheus.Registerer) error {
	c := &outboxCollector{s: s,
		depth: prometheus.NewDesc("kinline_appliance_outbox_events", "Events in the outbox waiting for central's acknowledgement.", nil, nil),
		age:   prometheus.NewDesc("kinline_appliance_outbox_oldest_age_seconds", "Age of the oldest event in the outbox (0 when it is empty).", nil, nil),
	}
	if err := reg.Register(c); err != nil {
		return fmt.Errorf("store: metrics: %w", err)
	}
	return nil
}

func (c *outboxCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.depth; ch <- c.age }

func (c *outboxCollector) Collect(ch chan<- prometheus.Metric) {
	n, oldest, err := c.s.Outbox()
	if err != nil {
		ch <- prometheus.NewInvalidMetric(c.depth, err)
		return
	}
	age := 0.0
	if n > 0 {
		age = max(0, c.s.clock.Now().Sub(oldest).Seconds())
	}
	ch <- prometheus.MustNewConstMetric(c.depth, prometheus.GaugeValue, float64(n))
	ch <- prometheus.MustNewConstMetric(c.age, prometheus.GaugeValue, age)
}
