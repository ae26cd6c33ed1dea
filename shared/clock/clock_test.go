package clock

import (
	"testing"
	"time"
)

func TestFakeFiresInOrderOnlyWhenDue(t *testing.T) {
	c := NewFake(time.Unix(1000, 0))
	got := make(chan int, 3)
	c.AfterFunc(2*time.Second, func() { got <- 2 })
	ch := c.After(time.Second)
	stop := c.AfterFunc(3*time.Second, func() { got <- 3 })
	c.Advance(999 * time.Millisecond)
	select {
	case <-ch:
		t.Fatal("After fired early")
	default:
	}
	c.Advance(time.Millisecond)
	if tm := <-ch; !tm.Equal(time.Unix(1001, 0)) {
		t.Fatalf("After delivered %v", tm)
	}
	if !stop.Stop() {
		t.Fatal("Stop of a pending timer returned false")
	}
	c.Advance(5 * time.Second)
	if v := <-got; v != 2 {
		t.Fatalf("got %d, want 2", v)
	}
	select {
	case v := <-got:
		t.Fatalf("stopped timer fired: %d", v)
	case <-time.After(20 * time.Millisecond):
	}
	if c.Pending() != 0 {
		t.Fatalf("pending = %d", c.Pending())
	}
}
