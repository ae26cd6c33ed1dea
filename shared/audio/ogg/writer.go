package ogg

import (
	"fmt"
	"io"
)

// pageTarget is the data size after which a page is emitted.
const pageTarget = 4096

// wstream is one logical stream being written.
type wstream struct {
	serial  uint32
	seq     uint32
	started bool // BOS page written
	ended   bool
	granule int64 // granule of the last complete packet on the pending page, -1 if none
	last    int64 // granule of the last packet written
	segs    []byte
	data    []byte
	cont    bool // pending page starts with a continued packet
}

// Writer lays packets of one or more logical streams into Ogg pages. Each
// stream's first page is flagged BOS and its last (written by Close) EOS.
// To group streams correctly (RFC 3533 section 4) add every stream's
// first packet and Flush it before writing any other packet. A Writer is
// not safe for concurrent use.
type Writer struct {
	w       io.Writer
	streams map[uint32]*wstream
	order   []uint32
	page    []byte
	err     error
}

// NewWriter returns a Writer writing pages to w.
func NewWriter(w io.Writer) *Writer {
	return &Writer{w: w, streams: map[uint32]*wstream{}, page: make([]byte, 0, MaxPageSize)}
}

func (w *Writer) stream(serial uint32) *wstream {
	s := w.streams[serial]
	if s == nil {
		s = &wstream{serial: serial, granule: -1}
		w.streams[serial] = s
		w.order = append(w.order, serial)
	}
	return s
}

// WritePacket appends a packet to the stream's pending page; granule is
// the stream's granule position at the end of this packet. A page is
// written when it holds about 4 KiB or 255 lacing values.
func (w *Writer) WritePacket(serial uint32, packet []byte, granule int64) error {
	if w.err != nil {
		return w.err
	}
	s := w.stream(serial)
	if s.ended {
		return fmt.Errorf("%w: stream %08x already ended", ErrStream, serial)
	}
	rest := packet
	for {
		if len(s.segs) == 255 {
			if err := w.emit(s, 0); err != nil {
				return err
			}
			s.cont = true
		}
		k := min(len(rest), 255)
		s.segs = append(s.segs, byte(k))
		s.data = append(s.data, rest[:k]...)
		rest = rest[k:]
		if k < 255 {
			break
		}
	}
	s.granule, s.last = granule, granule
	if len(s.data) >= pageTarget {
		return w.emit(s, 0)
	}
	return nil
}

// Flush writes the stream's pending page, if any, so that the next packet
// starts a new page (RFC 7845 wants OpusHead and OpusTags on their own
// pages).
func (w *Writer) Flush(serial uint32) error {
	if w.err != nil {
		return w.err
	}
	s := w.stream(serial)
	if len(s.segs) == 0 {
		return nil
	}
	return w.emit(s, 0)
}

// emit writes the pending page of s.
func (w *Writer) emit(s *wstream, flags byte) error {
	if !s.started {
		flags |= FlagBOS
		s.started = true
	}
	if s.cont {
		flags |= FlagContinued
	}
	p := Page{Flags: flags, Granule: s.granule, Serial: s.serial, Sequence: s.seq, Segments: s.segs, Data: s.data}
	w.page = appendPage(w.page[:0], &p)
	if _, err := w.w.Write(w.page); err != nil {
		w.err = fmt.Errorf("ogg: write page: %w", err)
		return w.err
	}
	s.seq++
	s.segs, s.data, s.cont, s.granule = s.segs[:0], s.data[:0], false, -1
	return nil
}

// Close ends every stream: its pending packets go out on a page flagged
// EOS (an empty one when nothing is pending). It does not close the
// underlying writer.
func (w *Writer) Close() error {
	for _, serial := range w.order {
		s := w.streams[serial]
		if s.ended {
			continue
		}
		if len(s.segs) == 0 {
			s.granule = max(s.last, 0)
		}
		if err := w.emit(s, FlagEOS); err != nil {
			return err
		}
		s.ended = true
	}
	return w.err
}
