package broker

import (
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kinline/kinline/central/broker/brokertest"
	"github.com/kinline/kinline/internal/testkit"
)

// TestNotEnrolledRefusedAtConnect: on the TLS listener a valid, unrevoked
// certificate of an appliance central has not enrolled is refused at
// CONNECT and reported with its address; an enrolled one is admitted and
// its certificate's expiry reported; Disconnect drops it (retired), and
// its reconnection is refused. On the plain listener the same holds for
// an appliance with a good password.
func TestNotEnrolledRefusedAtConnect(t *testing.T) {
	pki := brokertest.NewPKI(t, "blk-a", "blk-b")
	var enrolledA atomic.Bool
	enrolledA.Store(true)
	var mu sync.Mutex
	var unknown []string
	certs := map[string]time.Time{}
	b, err := New(Config{
		Listen:     "127.0.0.1:0",
		Appliances: map[string]string{"blk-p": "password-p"},
		TLS: &TLSConfig{Listen: "127.0.0.1:0", CertFile: pki.ServerCert(), KeyFile: pki.ServerKey(),
			CAFile: pki.CA(), CRLFile: pki.CRL(), CRLCheckInterval: -1},
		Enrolled: func(id string) bool { return id == "blk-a" && enrolledA.Load() },
		OnUnknown: func(id, remote string) {
			mu.Lock()
			defer mu.Unlock()
			unknown = append(unknown, id+" "+remote)
		},
		OnCertificate: func(id string, notAfter time.Time) {
			mu.Lock()
			defer mu.Unlock()
			certs[id] = notAfter
		},
	}, testLog(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })

	if _, err := dialTLS(t, b, pki.ApplianceTLS(t, "blk-b"), "blk-b", "blk-b", "", nil); err == nil {
		t.Fatal("an appliance that is not enrolled was admitted")
	}
	// (paho tries MQTT 3.1.1, then 3.1: two refusals.)
	mu.Lock()
	if len(unknown) == 0 || !allFrom(unknown, "blk-b 127.0.0.1:") {
		t.Fatalf("reported %q, want blk-b and its address", unknown)
	}
	unknown = nil
	mu.Unlock()

	var lost atomic.Bool
	if _, err := dialTLS(t, b, pki.ApplianceTLS(t, "blk-a"), "blk-a", "blk-a", "", func() { lost.Store(true) }); err != nil {
		t.Fatalf("enrolled appliance refused: %v", err)
	}
	mu.Lock()
	if na, ok := certs["blk-a"]; !ok || na.Before(time.Now()) {
		t.Fatalf("certificate expiry reported %v %v", na, ok)
	}
	mu.Unlock()

	// Retired: dropped now, refused from then on.
	enrolledA.Store(false)
	if n := b.Disconnect("blk-a"); n != 1 {
		t.Fatalf("Disconnect dropped %d", n)
	}
	testkit.Eventually(t, wait, "the retired appliance's connection lost", lost.Load)
	if _, err := dialTLS(t, b, pki.ApplianceTLS(t, "blk-a"), "blk-a", "blk-a", "", nil); err == nil {
		t.Fatal("a retired appliance reconnected")
	}

	// The plain listener: a good password of an appliance not enrolled.
	if _, err := dial(t, b, "blk-p", "blk-p", "password-p", nil); err == nil {
		t.Fatal("plain listener admitted an appliance that is not enrolled")
	}
	mu.Lock()
	defer mu.Unlock()
	if len(unknown) == 0 || !allFrom(unknown[len(unknown)-1:], "blk-p 127.0.0.1:") {
		t.Fatalf("reported %q", unknown)
	}
}

func allFrom(reports []string, prefix string) bool {
	for _, r := range reports {
		if !strings.HasPrefix(r, prefix) {
			return false
		}
	}
	return true
}
