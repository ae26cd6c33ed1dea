package cardreader

import (
	"errors"
	"testing"
)

// panicPort fails the way go.bug.st/serial does on a file descriptor >= 1024.
type panicPort struct{ Port }

func (panicPort) Read([]byte) (int, error) {
	var set [16]int64
	fd := 1030
	set[fd/64] |= 1 << (fd % 64) // index out of range, as in goselect's FDSet.Set
	return 0, nil
}

func TestGuardedPortTurnsPanicIntoError(t *testing.T) {
	n, err := guardedPort{panicPort{}}.Read(make([]byte, 8))
	if n != 0 || !errors.Is(err, ErrSerialPanic) {
		t.Fatalf("Read = %d, %v; want ErrSerialPanic", n, err)
	}
}
