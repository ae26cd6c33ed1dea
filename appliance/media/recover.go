package media

import (
	"bufio"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/kinline/kinline/shared/audio/ogg"
	"github.com/kinline/kinline/shared/audio/wav"
	"github.com/kinline/kinline/shared/recstore"
)

// ErrNoPart is returned by RecoverRecording when a call left no partial
// recording (it was not recorded, or its file is already sealed).
var ErrNoPart = errors.New("media: no partial recording")

// PartPaths are the names a recording of callID has while it is being
// written (one per format), in m's RecordDir.
func (m *Manager) PartPaths(callID string) []string {
	enc := !m.cfg.RecordKey.IsZero()
	return []string{
		filepath.Join(m.cfg.RecordDir, recordingName(callID, FormatWAVPCMU, enc)+".part"),
		filepath.Join(m.cfg.RecordDir, recordingName(callID, FormatOggOpus, enc)+".part"),
	}
}

// RecoverRecording seals the partial recording a process killed during
// call callID left behind: what its .part file holds up to the last
// complete piece (recstore.Recover for an encrypted file: every segment
// that authenticates) becomes a recording like any other, under its final
// name, with its format's framing made whole (a WAV header with the real
// sizes and whole frames; Ogg pages up to the last complete one). The
// .part file is removed once the recording is sealed, or when it held
// nothing to recover (the Result then has no Path). A recording already
// sealed under its final name (by a recovery or a finish that died before
// the call's record was written) is described as it is. It returns
// ErrNoPart when the call left no recording at all.
func (m *Manager) RecoverRecording(callID string) (Result, error) {
	if !validCallID(callID) {
		return Result{}, fmt.Errorf("%w: %q", ErrCallID, callID)
	}
	for i, part := range m.PartPaths(callID) {
		if _, err := os.Lstat(part); errors.Is(err, os.ErrNotExist) {
			continue
		} else if err != nil {
			return Result{}, fmt.Errorf("%w: %w", ErrRecording, err)
		}
		ogg := i == 1
		res, err := m.recoverPart(callID, part, ogg)
		if err != nil {
			return res, err
		}
		if err := os.Remove(part); err != nil {
			return res, fmt.Errorf("%w: %w", ErrRecording, err)
		}
		return res, nil
	}
	// A recovery (or a call's own finish) that sealed the file and died
	// before its record was written left it under its final name.
	for _, format := range []string{FormatWAVPCMU, FormatOggOpus} { // PCMA shares PCMU's name
		final := m.RecordingPath(callID, format)
		if _, err := os.Lstat(final); err != nil {
			continue
		}
		return m.describe(final, format)
	}
	return Result{}, ErrNoPart
}

// describe hashes a sealed recording: the Result its session's Close
// would have given (without levels).
func (m *Manager) describe(path, format string) (Result, error) {
	var src io.ReadCloser
	key := m.cfg.RecordKey
	if key.IsZero() {
		f, err := os.Open(path)
		if err != nil {
			return Result{}, fmt.Errorf("%w: %w", ErrRecording, err)
		}
		src = f
	} else {
		r, err := recstore.Open(path, key)
		if err != nil {
			return Result{}, fmt.Errorf("%w: %w", ErrRecording, err)
		}
		src = r
	}
	defer src.Close()
	h := sha256.New()
	n, err := io.Copy(h, src)
	if err != nil {
		return Result{}, fmt.Errorf("%w: %w", ErrRecording, err)
	}
	if format != FormatOggOpus {
		// Which law the WAV holds decides its format name, not the caller.
		if f, err := wavFormatOf(path, key); err == nil {
			format = f
		}
	}
	return Result{Path: path, SHA256: hex.EncodeToString(h.Sum(nil)), Bytes: n, Format: format, Encrypted: !key.IsZero()}, nil
}

// wavFormatOf reads a sealed WAV recording's header for its format name.
func wavFormatOf(path string, key recstore.Key) (string, error) {
	var src io.ReadCloser
	if key.IsZero() {
		f, err := os.Open(path)
		if err != nil {
			return "", err
		}
		src = f
	} else {
		r, err := recstore.Open(path, key)
		if err != nil {
			return "", err
		}
		src = r
	}
	defer src.Close()
	enc, err := wavEncodingOf(bufio.NewReader(src))
	if err != nil {
		return "", err
	}
	if enc == wav.Alaw {
		return FormatWAVPCMA, nil
	}
	return FormatWAVPCMU, nil
}

// recoverPart writes what part holds into the call's final recording.
func (m *Manager) recoverPart(callID, part string, isOgg bool) (Result, error) {
	key := m.cfg.RecordKey
	var src io.ReadCloser
	if key.IsZero() {
		f, err := os.Open(part)
		if err != nil {
			return Result{}, fmt.Errorf("%w: %w", ErrRecording, err)
		}
		src = f
	} else {
		r, err := recstore.Recover(part, key)
		if errors.Is(err, recstore.ErrNothingRecovered) {
			return Result{}, nil // died within its first second: nothing to keep
		}
		if err != nil {
			return Result{}, fmt.Errorf("%w: %w", ErrRecording, err)
		}
		src = r
	}
	defer src.Close()
	br := bufio.NewReaderSize(src, 32<<10)

	format := FormatOggOpus
	if !isOgg {
		enc, err := wavEncodingOf(br)
		if errors.Is(err, errShortWAV) {
			return Result{}, nil // not even a header: nothing to keep
		}
		if err != nil {
			return Result{}, err
		}
		format = FormatWAVPCMU
		if enc == wav.Alaw {
			format = FormatWAVPCMA
		}
	}
	final := m.RecordingPath(callID, format)
	if _, err := os.Lstat(final); err == nil {
		return Result{}, fmt.Errorf("%w: %s already exists", ErrRecording, final)
	}
	tmp := final + ".recovering"
	_ = os.Remove(tmp) // left by a recovery that died itself
	out, err := createOut(tmp, key)
	if err != nil {
		return Result{}, err
	}
	if isOgg {
		err = repairOgg(out.w(), br)
	} else {
		err = repairWAV(out.w(), br)
	}
	res, ferr := out.finishAs(err, final)
	if ferr != nil {
		os.Remove(tmp)
		return Result{}, ferr
	}
	res.Format = format
	return res, nil
}

// createOut creates a recording file at tmp, encrypted with key unless
// it is zero; finishAs renames it.
func createOut(tmp string, key recstore.Key) (*recFile, error) {
	rf := &recFile{part: tmp}
	var err error
	if key.IsZero() {
		rf.f, err = os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o640)
	} else {
		rf.enc, err = recstore.Create(tmp, key)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrRecording, err)
	}
	return rf, nil
}

// finishAs is finish with final as the file's final name.
func (rf *recFile) finishAs(err error, final string) (Result, error) {
	rf.final = final
	return rf.finish(err)
}

var errShortWAV = errors.New("media: WAV header cut short")

// wavEncodingOf peeks at the header a recorder writes (wav.Writer's
// G.711 layout) and returns its encoding.
func wavEncodingOf(br *bufio.Reader) (wav.Encoding, error) {
	hdr, err := br.Peek(g711WAVHeader)
	if err != nil {
		return 0, errShortWAV
	}
	if string(hdr[0:4]) != "RIFF" || string(hdr[8:12]) != "WAVE" || string(hdr[12:16]) != "fmt " ||
		string(hdr[38:42]) != "fact" || string(hdr[50:54]) != "data" {
		return 0, fmt.Errorf("%w: partial recording is not a recorder's WAV", ErrRecording)
	}
	enc := wav.Encoding(binary.LittleEndian.Uint16(hdr[20:22]))
	if ch := binary.LittleEndian.Uint16(hdr[22:24]); (enc != wav.Mulaw && enc != wav.Alaw) || ch != 2 {
		return 0, fmt.Errorf("%w: partial recording's WAV is %v with %d channels", ErrRecording, enc, ch)
	}
	return enc, nil
}

// g711WAVHeader is the size of the header wav.Writer writes for G.711.
const g711WAVHeader = 58

// repairWAV copies a recorder's WAV, whose writer never patched the
// header, to dst with a header that states its real length: the sample
// data up to the last whole stereo frame.
func repairWAV(dst io.WriteSeeker, br *bufio.Reader) error {
	enc, err := wavEncodingOf(br)
	if err != nil {
		return err
	}
	if _, err := br.Discard(g711WAVHeader); err != nil {
		return fmt.Errorf("%w: %w", ErrRecording, err)
	}
	w, err := wav.NewWriterSize(dst, wav.Format{Encoding: enc, Channels: 2, SampleRate: sampleRate}, 0)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrRecording, err)
	}
	buf := make([]byte, 32<<10)
	carry := 0 // a frame's first byte held back until its second arrives
	for {
		n, rerr := br.Read(buf[carry:])
		n += carry
		whole := n &^ 1
		if whole > 0 {
			if _, err := w.Write(buf[:whole]); err != nil {
				return fmt.Errorf("%w: %w", ErrRecording, err)
			}
		}
		carry = n - whole
		if carry > 0 {
			buf[0] = buf[whole]
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			return fmt.Errorf("%w: %w", ErrRecording, rerr)
		}
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("%w: %w", ErrRecording, err)
	}
	return nil
}

// repairOgg copies the Ogg pages of br to dst up to the first that is
// cut short or fails its CRC.
func repairOgg(dst io.Writer, br *bufio.Reader) error {
	const hdr = 27
	page := make([]byte, 0, hdr+255+255*255)
	for {
		head, err := br.Peek(hdr)
		if err != nil {
			return nil // no further whole page header
		}
		nseg := int(head[26])
		lacing, err := br.Peek(hdr + nseg)
		if err != nil {
			return nil
		}
		size := hdr + nseg
		for _, l := range lacing[hdr:] {
			size += int(l)
		}
		page = page[:size]
		if _, err := io.ReadFull(br, page); err != nil {
			return nil // the page the writer was cut in
		}
		if _, _, err := ogg.ParsePage(page); err != nil {
			return nil
		}
		if _, err := dst.Write(page); err != nil {
			return fmt.Errorf("%w: %w", ErrRecording, err)
		}
	}
}
