// Package mqttsub subscribes a paho client to several topic filters and
// reports what the broker refused. paho treats a SUBACK whose return codes
// are failures (0x80 and above) as success, so both ends of Kinline's sync
// check the codes here rather than trusting the token's error alone.
package mqttsub

import (
	"errors"
	"fmt"
	"sort"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
)

// ErrTimeout is returned when the broker does not answer in time.
var ErrTimeout = errors.New("mqttsub: subscribe timed out")

// Subscribe subscribes cl to filters (filter -> QoS) with no handler of its
// own (messages reach the client's default or routed handlers) and waits
// up to timeout. It returns the filters the broker refused, sorted, and an
// error when the subscription as a whole failed.
func Subscribe(cl mqtt.Client, filters map[string]byte, timeout time.Duration) (refused []string, err error) {
	tok := cl.SubscribeMultiple(filters, nil)
	if !tok.WaitTimeout(timeout) {
		return nil, ErrTimeout
	}
	if err := tok.Error(); err != nil {
		return nil, fmt.Errorf("mqttsub: subscribe: %w", err)
	}
	st, ok := tok.(*mqtt.SubscribeToken)
	if !ok {
		return nil, nil
	}
	for f, code := range st.Result() {
		if code >= 0x80 {
			refused = append(refused, f)
		}
	}
	sort.Strings(refused)
	return refused, nil
}
