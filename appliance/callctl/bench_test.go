package callctl_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/kinline/kinline/appliance/callctl/callctltest"
	"github.com/kinline/kinline/internal/phone"
)

// BenchmarkRefusedCallAttempts measures call attempts through the
// authorization path over loopback UDP: INVITE, 407, INVITE with digest,
// 100, authorizer, 403, ACK and the call record, with 16 simulated ports
// dialling in parallel. Client and server share the machine.
func BenchmarkRefusedCallAttempts(b *testing.B) {
	e := start(b, opts{auth: callctltest.Refuse("number not approved")})
	const ports = 16
	ps := make([]*phone.Port, ports)
	for i := range ps {
		p, err := phone.NewPort(phone.PortConfig{Appliance: e.srv.Addr().String(), User: portUser, Password: portPass})
		if err != nil {
			b.Fatal(err)
		}
		defer p.Close()
		ps[i] = p
	}
	work := make(chan struct{}, b.N)
	for range b.N {
		work <- struct{}{}
	}
	close(work)
	drained := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
		defer cancel()
		for range b.N {
			if _, err := e.records.Next(ctx); err != nil {
				drained <- err
				return
			}
		}
		drained <- nil
	}()
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	for _, p := range ps {
		wg.Go(func() {
			for range work {
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				res, err := p.Call(ctx, "0611223344", 0)
				cancel()
				if err != nil || res.Code != 403 {
					b.Errorf("attempt: %+v %v", res, err)
					return
				}
			}
		})
	}
	wg.Wait()
	if err := <-drained; err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "attempts/s")
}
