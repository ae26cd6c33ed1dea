package wire

import (
	"errors"
	"strings"
	"testing"
)

func TestValidApplianceID(t *testing.T) {
	for _, ok := range []string{"block-a-1", "A", "b.2_x", strings.Repeat("a", 64)} {
		if err := ValidApplianceID(ok); err != nil {
			t.Errorf("%q refused: %v", ok, err)
		}
	}
	for _, bad := range []string{"", "a/b", "a+", "#", "a b", "é", "kinline-central", "Kinline-Central", ".", "..", strings.Repeat("a", 65), "$share"} {
		if err := ValidApplianceID(bad); !errors.Is(err, ErrBadApplianceID) {
			t.Errorf("%q accepted (err %v)", bad, err)
		}
	}
}

func TestApplianceFromTopic(t *testing.T) {
	if id, ok := ApplianceFromTopic(TopicEvents("block-a-1")); !ok || id != "block-a-1" {
		t.Fatalf("got %q %v", id, ok)
	}
	for _, bad := range []string{"kinline/v1/appliances/+/up/events", "other/block-a-1/up", "kinline/v1/appliances/block-a-1", TopicRoot + "//up"} {
		if id, ok := ApplianceFromTopic(bad); ok {
			t.Errorf("%q gave %q", bad, id)
		}
	}
}

func FuzzApplianceFromTopic(f *testing.F) {
	f.Add(TopicEvents("block-a-1"))
	f.Add(TopicRoot + "/+/up/events")
	f.Add("kinline/v1/appliances/a/b/c")
	f.Fuzz(func(t *testing.T, topic string) {
		id, ok := ApplianceFromTopic(topic)
		if !ok {
			return
		}
		if ValidApplianceID(id) != nil || !strings.HasPrefix(topic, TopicRoot+"/"+id+"/") {
			t.Fatalf("%q -> %q", topic, id)
		}
	})
}
