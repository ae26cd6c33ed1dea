// Package cardreadertest provides an in-memory reader device for tests of
// code that takes a cardreader.Port: Pipe returns both ends of a
// synchronous, unbuffered line (two io.Pipes), so a test that writes bytes
// as the reader knows the driver has read them when Write returns, and a
// zero-length Write returns only after the driver has come back for more
// (it has processed everything before).
package cardreadertest

import "io"

// End is one end of the line.
type End struct {
	r *io.PipeReader
	w *io.PipeWriter
}

// Read reads what the other end wrote.
func (e *End) Read(p []byte) (int, error) { return e.r.Read(p) }

// Write blocks until the other end has read p (all of it).
func (e *End) Write(p []byte) (int, error) { return e.w.Write(p) }

// Close closes both directions: the other end's reads and writes fail, as
// when a device is unplugged.
func (e *End) Close() error {
	e.r.CloseWithError(io.ErrClosedPipe)
	e.w.CloseWithError(io.ErrClosedPipe)
	return nil
}

// Pipe returns the driver's end (a cardreader.Port) and the device's end.
func Pipe() (port, device *End) {
	r1, w1 := io.Pipe() // device -> port
	r2, w2 := io.Pipe() // port -> device
	return &End{r: r1, w: w2}, &End{r: r2, w: w1}
}
