package server

// Enrolment and the estate's alarms, wired: the appliances of central.yaml
// imported once into the store (the console and the API manage them from
// then on), the embedded broker refusing appliances that are not enrolled
// and reporting the certificates it sees, ingest refusing their messages
// (the only refusal possible with an external Mosquitto), a retired
// appliance's live connection dropped, and the watcher (central/watch)
// raising unseen and certificate expiry alarms.

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/kinline/kinline/central/broker"
	"github.com/kinline/kinline/central/ingest"
	"github.com/kinline/kinline/central/store"
	"github.com/kinline/kinline/central/watch"
)

// unknownEvery is how often one unknown appliance's refusals at connect
// reach the store (the alarm stays one open per appliance anyway).
const unknownEvery = time.Minute

// enrolment is the server's state for the refusals of unknown appliances.
type enrolment struct {
	mu   sync.Mutex
	last map[string]time.Time // appliance -> when its refusal last reached the store
}

// importAppliances enrols the appliances central.yaml lists that the store
// does not know yet (an upgrade from when the file was the list); those
// it knows keep the block the console gave them.
func (s *Server) importAppliances(ctx context.Context) error {
	for _, a := range s.Config.Appliances {
		added, err := s.Store.ImportAppliance(ctx, a.ID, a.Block)
		if err != nil {
			return fmt.Errorf("server: appliance %s: %w", a.ID, err)
		}
		if added {
			s.Log.Info("appliance imported from the config: manage it in the console (Appliances) from now on", "appliance", a.ID, "block", a.Block)
			continue
		}
		if b, err := s.Store.ApplianceBlock(ctx, a.ID); err == nil && b != a.Block {
			s.Log.Warn("appliance's block in the config differs from the console's: the console's stands (remove it from appliances in central.yaml)",
				"appliance", a.ID, "config_block", a.Block, "block", b)
		}
	}
	return nil
}

// enrolled is the broker's and ingest's check. A database failure admits
// (the certificate, the CRL and the event signatures still hold) and is
// logged: refusing would cut every appliance off on a hiccup.
func (s *Server) enrolled(ctx context.Context, id string) (bool, error) {
	ok, err := s.Store.ApplianceEnrolled(ctx, id)
	if err != nil {
		return false, fmt.Errorf("server: enrolment of %s: %w", id, err)
	}
	return ok, nil
}

// brokerEnrolment sets the embedded broker's enrolment hooks.
func (s *Server) brokerEnrolment(bc *broker.Config) {
	bc.Enrolled = func(id string) bool {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		ok, err := s.enrolled(ctx, id)
		if err != nil {
			s.Log.Error("mqtt: enrolment not checked; connection admitted", "appliance", id, "err", err)
			return true
		}
		return ok
	}
	bc.OnUnknown = s.unknownAtConnect
	bc.OnCertificate = func(id string, notAfter time.Time) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := s.Store.RecordCertificate(ctx, id, notAfter); err != nil {
			s.Log.Error("appliance certificate expiry not recorded", "appliance", id, "err", err)
		}
	}
}

// unknownAtConnect raises the unknown_appliance alarm for a connection
// the broker refused, at most once a minute per appliance.
func (s *Server) unknownAtConnect(id, remote string) {
	now := s.Store.Now()
	s.enrol.mu.Lock()
	if s.enrol.last == nil {
		s.enrol.last = map[string]time.Time{}
	}
	if t, ok := s.enrol.last[id]; ok && now.Sub(t) < unknownEvery {
		s.enrol.mu.Unlock()
		return
	}
	s.enrol.last[id] = now
	s.enrol.mu.Unlock()
	s.Log.Error("appliance refused at connect: not enrolled (enrol it in the console; a retired one stays refused)", "appliance", id, "remote", remote)
	s.ingestAlarm(id, store.AlarmUnknownAppliance, "enrolment",
		fmt.Sprintf("refused at connect from %s: appliance not enrolled (never added, or retired)", remote))
}

// ingestEnrolment makes ingest refuse the messages of appliances that are
// not enrolled (alarmed through ingestAlarm, as OnAlarm).
func (s *Server) ingestEnrolment(ic *ingest.Config) {
	ic.Enrolled = s.enrolled
}

// retired drops a retired appliance's live connection (embedded broker);
// with an external Mosquitto its messages are refused by ingest, and its
// rules go with kinline-provision revoke.
func (s *Server) retired(id string) {
	if s.Broker == nil {
		s.Log.Warn("appliance retired: its messages are refused; remove its Mosquitto rules with kinline-provision revoke -id ID and restart Mosquitto", "appliance", id)
		return
	}
	n := s.Broker.Disconnect(id)
	s.Log.Info("appliance retired: live connections dropped", "appliance", id, "dropped", n)
}

// newWatcher builds the estate's watcher from the config: central's TLS
// certificate and the CA's (mqtt.tls), the appliances' certificates kept
// in appliance_keys_dir (pki/appliances/<id>/client.pem).
func (s *Server) newWatcher() *watch.Watcher {
	wc := watch.Config{UnseenAfter: s.Config.ApplianceUnseenAfter, ApplianceCertsDir: s.Config.ApplianceKeysDir}
	if t := s.Config.MQTT.TLS; t != nil {
		wc.CentralCert, wc.CACert = t.Cert, t.CA
	}
	return watch.New(wc, s.Store, s.Log.With("part", "watch"))
}
