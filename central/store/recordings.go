package store

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/kinline/kinline/shared/recstore"
	"github.com/kinline/kinline/shared/wire"
)

// Recording describes a stored recording file.
type Recording struct {
	CallID      string
	ApplianceID string
	SHA256      string
	Bytes       int64
	Format      string
	Path        string // absolute path of the file
}

// StoreRecording verifies sha256(up.Data) == up.Ref.SHA256 (else
// ErrRecordingMismatch, nothing stored), writes the file atomically (temp
// file, fsync, rename, fsync of the directory) under the recordings directory,
// sealed with the recordings key when one is configured (writeRecording),
// and records it for the call. The recorded SHA-256 and size are the
// plaintext's, as the appliance sent it. Files are named by their SHA-256, so no
// appliance-supplied string becomes a path. Storing the same bytes again is a
// no-op; other bytes for a call that already has a recording, or for a call
// recorded by another appliance, give ErrRecordingConflict.
func (s *Store) StoreRecording(ctx context.Context, applianceID string, up *wire.RecordingUpload) error {
	if up == nil || up.CallID == "" || len(up.CallID) > 128 {
		return fmt.Errorf("%w: recording upload without call id", ErrInvalid)
	}
	if up.ApplianceID != "" && up.ApplianceID != applianceID {
		return fmt.Errorf("%w: upload names appliance %q", ErrInvalid, up.ApplianceID)
	}
	sum := sha256.Sum256(up.Data)
	got := hex.EncodeToString(sum[:])
	if !strings.EqualFold(got, up.Ref.SHA256) {
		return fmt.Errorf("%w: call %s: got %s, want %s", ErrRecordingMismatch, up.CallID, got, up.Ref.SHA256)
	}
	if up.Ref.Bytes != 0 && up.Ref.Bytes != int64(len(up.Data)) {
		return fmt.Errorf("%w: call %s: %d bytes, ref says %d", ErrRecordingMismatch, up.CallID, len(up.Data), up.Ref.Bytes)
	}

	// Checks against what is known before writing anything. The call's
	// record may still be waiting in the projection backlog: wait for it so
	// the check below sees it.
	if err := s.waitAllProjected(ctx); err != nil {
		return err
	}
	var have Recording
	err := s.r.QueryRowContext(ctx, `SELECT appliance_id, sha256 FROM recordings WHERE call_id = $1`, up.CallID).Scan(&have.ApplianceID, &have.SHA256)
	switch {
	case err == nil:
		if have.SHA256 == got && have.ApplianceID == applianceID {
			return nil
		}
		return fmt.Errorf("%w: call %s", ErrRecordingConflict, up.CallID)
	case !errors.Is(err, sql.ErrNoRows):
		return fmt.Errorf("store: read recording: %w", err)
	}
	var callApp, callSHA string
	err = s.r.QueryRowContext(ctx, `SELECT appliance_id, recording_sha256 FROM calls WHERE call_id = $1`, up.CallID).Scan(&callApp, &callSHA)
	switch {
	case err == nil:
		if callApp != applianceID {
			return fmt.Errorf("%w: call %s belongs to appliance %s", ErrRecordingConflict, up.CallID, callApp)
		}
		if callSHA != "" && callSHA != got {
			return fmt.Errorf("%w: call %s record names sha256 %s", ErrRecordingMismatch, up.CallID, callSHA)
		}
	case !errors.Is(err, sql.ErrNoRows):
		return fmt.Errorf("store: read call: %w", err)
	}
	if err == nil {
		// Privileged by the appliance's flag, a privileged contact or the
		// prison-wide list: such audio must not exist, so none is kept.
		c, cerr := s.Call(ctx, up.CallID)
		if cerr != nil {
			return fmt.Errorf("store: read call: %w", cerr)
		}
		if c.Privileged {
			if _, aerr := s.RaiseAlarm(ctx, applianceID, AlarmPrivilegedRecording, up.CallID,
				fmt.Sprintf("appliance uploaded %d bytes of audio for privileged call %s: refused, nothing kept; inspect the appliance", len(up.Data), up.CallID)); aerr != nil {
				return errors.Join(fmt.Errorf("%w: call %s", ErrPrivilegedRecording, up.CallID), aerr)
			}
			return fmt.Errorf("%w: call %s", ErrPrivilegedRecording, up.CallID)
		}
	}

	rel, err := s.writeRecording(got, up.Data)
	if err != nil {
		return fmt.Errorf("store: write recording %s: %w", up.CallID, err)
	}
	format := up.Ref.Format
	return s.inTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `INSERT INTO recordings (call_id, appliance_id, sha256, bytes, format, path, stored_ns)
			VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (call_id) DO NOTHING`,
			up.CallID, applianceID, got, int64(len(up.Data)), format, rel, ns(s.clk.Now()))
		if err != nil {
			return fmt.Errorf("store: record recording: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			// Raced with another upload of the same call: accept only the same bytes.
			var sha, app string
			if err := tx.QueryRowContext(ctx, `SELECT sha256, appliance_id FROM recordings WHERE call_id = $1`, up.CallID).Scan(&sha, &app); err != nil {
				return fmt.Errorf("store: read recording: %w", err)
			}
			if sha != got || app != applianceID {
				return fmt.Errorf("%w: call %s", ErrRecordingConflict, up.CallID)
			}
			return nil
		}
		if _, err := tx.ExecContext(ctx, `UPDATE calls SET recording_path = $2,
				recording_sha256 = CASE WHEN recording_sha256 = '' THEN $3 ELSE recording_sha256 END,
				recording_bytes = CASE WHEN recording_bytes = 0 THEN $4 ELSE recording_bytes END,
				recording_format = CASE WHEN recording_format = '' THEN $5 ELSE recording_format END
			WHERE call_id = $1`, up.CallID, rel, got, int64(len(up.Data)), format); err != nil {
			return fmt.Errorf("store: link recording: %w", err)
		}
		return nil
	})
}

// RecordingFor returns the stored recording of a call: ErrNotFound when the
// call is unknown, ErrNoRecording when it has not been uploaded (yet).
func (s *Store) RecordingFor(ctx context.Context, callID string) (*Recording, error) {
	var r Recording
	err := s.r.QueryRowContext(ctx, `SELECT call_id, appliance_id, sha256, bytes, format, path FROM recordings WHERE call_id = $1`, callID).
		Scan(&r.CallID, &r.ApplianceID, &r.SHA256, &r.Bytes, &r.Format, &r.Path)
	if errors.Is(err, sql.ErrNoRows) {
		var one int
		if err := s.r.QueryRowContext(ctx, `SELECT 1 FROM calls WHERE call_id = $1`, callID).Scan(&one); errors.Is(err, sql.ErrNoRows) {
			return nil, fmt.Errorf("%w: call %s", ErrNotFound, callID)
		} else if err != nil {
			return nil, fmt.Errorf("store: read call: %w", err)
		}
		return nil, fmt.Errorf("%w: call %s", ErrNoRecording, callID)
	}
	if err != nil {
		return nil, fmt.Errorf("store: read recording: %w", err)
	}
	r.Path = filepath.Join(s.recDir, r.Path)
	return &r, nil
}

// writeRecording writes data, whose SHA-256 is sum, under the recordings
// directory and returns its path relative to it: <sum>.klrec sealed with
// the recordings key (shared/recstore, read back and checked against sum
// before it is renamed into place), or <sum>.wav in plaintext without a
// key.
func (s *Store) writeRecording(sum string, data []byte) (string, error) {
	if s.recKey.IsZero() {
		rel := filepath.Join(sum[:2], sum+".wav")
		return rel, writeFileAtomic(filepath.Join(s.recDir, rel), data)
	}
	rel := filepath.Join(sum[:2], sum+".klrec")
	abs := filepath.Join(s.recDir, rel)
	dir := filepath.Dir(abs)
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return "", err
	}
	tmp := filepath.Join(dir, ".rec-"+newID(""))
	w, err := recstore.Create(tmp, s.recKey)
	if err != nil {
		return "", err
	}
	defer os.Remove(tmp) // after the rename, a no-op
	if _, err := w.Write(data); err != nil {
		w.Close()
		return "", err
	}
	_, plain, err := w.Close()
	if err != nil {
		return "", err
	}
	if hex.EncodeToString(plain[:]) != sum {
		return "", fmt.Errorf("%w: sealed file reads back as sha256 %x", ErrRecordingMismatch, plain)
	}
	if err := os.Rename(tmp, abs); err != nil {
		return "", err
	}
	return rel, syncDir(dir)
}

// OpenRecording opens r's file for reading: the plaintext and its size,
// decrypted with the recordings key when the file is sealed (a file
// stored in plaintext before the key was configured reads as it is). A
// sealed file and a wrong or missing key give an error wrapping
// recstore.ErrWrongKey or recstore.ErrKeyFile.
func (s *Store) OpenRecording(r *Recording) (io.ReadSeekCloser, int64, error) {
	f, err := os.Open(r.Path)
	if err != nil {
		return nil, 0, fmt.Errorf("store: open recording of %s: %w", r.CallID, err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, 0, fmt.Errorf("store: open recording of %s: %w", r.CallID, err)
	}
	if !recstore.Sealed(f, st.Size()) {
		return f, st.Size(), nil
	}
	f.Close()
	if s.recKey.IsZero() {
		return nil, 0, fmt.Errorf("store: recording of %s is sealed and central has no recordings key: %w", r.CallID, recstore.ErrKeyFile)
	}
	rd, err := recstore.Open(r.Path, s.recKey)
	if errors.Is(err, recstore.ErrWrongKey) {
		return nil, 0, fmt.Errorf("store: recording of %s was sealed with another key than central's recordings_key: %w", r.CallID, err)
	}
	if err != nil {
		return nil, 0, fmt.Errorf("store: open recording of %s: %w", r.CallID, err)
	}
	return rd, rd.Size(), nil
}

// writeFileAtomic writes data to path through a temporary file in the same
// directory: write, fsync, rename, fsync the directory.
func writeFileAtomic(path string, data []byte) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, ".rec-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	ok := false
	defer func() {
		if !ok {
			os.Remove(tmp)
		}
	}()
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Chmod(tmp, 0o640); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	ok = true
	return syncDir(dir)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
