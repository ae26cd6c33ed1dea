package wire

import (
	"encoding/json"
	"fmt"
	"time"
)

// Heartbeats (CapabilityVersion 21): a connected appliance publishes a
// Heartbeat on TopicHeartbeat as soon as it connects and every
// HeartbeatInterval after, QoS 0 and not retained, outside its event
// stream (an idle appliance's outbox stays empty). Central takes the
// arrival of one as the appliance being heard from at that moment (on
// central's clock, not the appliance's), so that its online state follows
// the connection (docs/decisions/0037-appliance-presence.md).

// HeartbeatInterval is how often a connected appliance sends a heartbeat.
const HeartbeatInterval = 15 * time.Second

// MaxHeartbeatSize bounds a heartbeat's encoded size.
const MaxHeartbeatSize = 512

// Heartbeat says that the appliance is connected.
type Heartbeat struct {
	V           int    `json:"v"`
	ApplianceID string `json:"appliance_id"`
}

// TopicHeartbeat is the topic of an appliance's heartbeats.
func TopicHeartbeat(appliance string) string { return TopicRoot + "/" + appliance + "/up/heartbeat" }

// TopicAllHeartbeats is central's subscription to every appliance's
// heartbeats.
const TopicAllHeartbeats = TopicRoot + "/+/up/heartbeat"

// DecodeHeartbeat decodes and validates a heartbeat that came on
// appliance's topic.
func DecodeHeartbeat(appliance string, data []byte) (*Heartbeat, error) {
	if len(data) > MaxHeartbeatSize {
		return nil, fmt.Errorf("%w: heartbeat of %d bytes", ErrMalformed, len(data))
	}
	var h Heartbeat
	if err := json.Unmarshal(data, &h); err != nil {
		return nil, fmt.Errorf("%w: heartbeat: %w", ErrMalformed, err)
	}
	if h.V != ProtocolVersion {
		return nil, fmt.Errorf("%w: heartbeat of version %d", ErrVersion, h.V)
	}
	if err := ValidApplianceID(h.ApplianceID); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	if h.ApplianceID != appliance {
		return nil, fmt.Errorf("%w: %w: heartbeat of %q on %q's topic", ErrMalformed, ErrOtherAppliance, h.ApplianceID, appliance)
	}
	return &h, nil
}
