package wire

import (
	"errors"
	"fmt"
	"strings"
)

// TopicRoot is the prefix of every Kinline MQTT topic. Each appliance owns
// the subtree TopicRoot/<appliance id>/ and may touch nothing else.
const TopicRoot = "kinline/v1/appliances"

// Topic builders. "up" topics are published by the appliance, "down" topics
// by central.
func TopicEvents(appliance string) string     { return TopicRoot + "/" + appliance + "/up/events" }
func TopicRecordings(appliance string) string { return TopicRoot + "/" + appliance + "/up/recordings" }
func TopicAck(appliance string) string        { return TopicRoot + "/" + appliance + "/down/ack" }
func TopicPolicy(appliance string) string     { return TopicRoot + "/" + appliance + "/down/policy" }
func TopicRecordingAck(appliance string) string {
	return TopicRoot + "/" + appliance + "/down/recording-ack"
}

// Wildcard subscriptions central uses to hear every appliance.
const (
	TopicAllEvents     = TopicRoot + "/+/up/events"
	TopicAllRecordings = TopicRoot + "/+/up/recordings"
)

// ErrBadApplianceID is returned by ValidApplianceID.
var ErrBadApplianceID = errors.New("wire: bad appliance id")

// CentralIdentity is the name central's own certificate carries. No
// appliance may use it: under Mosquitto's use_identity_as_username it would
// get central's ACL rights.
const CentralIdentity = "kinline-central"

// ValidApplianceID reports whether id can be used as an appliance id and MQTT
// client id: 1 to 64 characters of [A-Za-z0-9._-], so never a wildcard, a
// topic separator or empty, and never central's own identity.
func ValidApplianceID(id string) error {
	if len(id) == 0 || len(id) > 64 {
		return fmt.Errorf("%w: length %d", ErrBadApplianceID, len(id))
	}
	if id == "." || id == ".." {
		return fmt.Errorf("%w: %q", ErrBadApplianceID, id) // ids become path elements (pki/appliances/<id>)
	}
	if strings.EqualFold(id, CentralIdentity) {
		return fmt.Errorf("%w: %q is reserved for central", ErrBadApplianceID, id)
	}
	for _, r := range id {
		ok := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-'
		if !ok {
			return fmt.Errorf("%w: %q", ErrBadApplianceID, id)
		}
	}
	return nil
}

// ApplianceFromTopic returns the appliance id in a topic under TopicRoot.
func ApplianceFromTopic(topic string) (string, bool) {
	rest, ok := strings.CutPrefix(topic, TopicRoot+"/")
	if !ok {
		return "", false
	}
	id, _, ok := strings.Cut(rest, "/")
	if !ok || ValidApplianceID(id) != nil {
		return "", false
	}
	return id, true
}
