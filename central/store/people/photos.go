package people

// People's photos.
//
// A photo is kept in the database (table person_photos, the image as
// base64 TEXT), not as a file under central's data directory, because:
//   - it then shares the person's transactions and backups: a restored
//     database never names a photo file that is missing, and removing a
//     photo cannot leave a file behind;
//   - several central processes may share one PostgreSQL database
//     (docs/decisions/0008-postgresql.md), and a file written by one of
//     them would be missing on the others' disks;
//   - photos are small (at most MaxPhotoBytes) and read one at a time, so
//     the database serves them without strain.
//
// TEXT rather than a BLOB/bytea column keeps the one SQL both databases
// share (central/store/sqldb/dialect.go); base64 costs a third more space.

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"github.com/kinline/kinline/central/store"
	"image"
	"image/jpeg"
	"image/png"
	"time"
)

// Limits of a person's photo.
const (
	// MaxPhotoBytes is the largest photo file accepted (2 MiB).
	MaxPhotoBytes = 2 << 20
	// MaxPhotoSide is the largest width or height accepted, in pixels;
	// it also bounds what decoding a photo may allocate.
	MaxPhotoSide = 2048
	// MinPhotoSide is the smallest width or height accepted.
	MinPhotoSide = 16
)

// Media types of photos.
const (
	PhotoJPEG = "image/jpeg"
	PhotoPNG  = "image/png"
)

// Errors of photo validation (each also wraps store.ErrInvalid).
var (
	// ErrPhotoTooLarge: the file is larger than MaxPhotoBytes.
	ErrPhotoTooLarge = errors.New("photo too large")
	// ErrPhotoType: the file is not a JPEG or PNG image, or not the type
	// it was declared as.
	ErrPhotoType = errors.New("unsupported photo type")
)

// Photo is a person's photo.
type Photo struct {
	PersonID string `json:"person_id"`
	// ContentType is PhotoJPEG or PhotoPNG, as found in the image itself.
	ContentType string `json:"content_type"`
	SHA256      string `json:"sha256"`
	Bytes       int    `json:"bytes"`
	Width       int    `json:"width"`
	Height      int    `json:"height"`
	// UpdatedBy and Updated: who set it and when.
	UpdatedBy string    `json:"updated_by"`
	Updated   time.Time `json:"updated"`
	// Data is the image file (not in JSON answers, which describe it).
	Data []byte `json:"-"`
}

// ValidatePhoto checks an image file: at most MaxPhotoBytes, a JPEG or
// PNG (found by decoding its header with image.DecodeConfig, whatever it
// claims to be) of MinPhotoSide to MaxPhotoSide pixels each way, and an
// image that then decodes in full. declared, when not "", is the media
// type the uploader gave, and must match. It returns the media type and
// the dimensions. Errors wrap store.ErrInvalid and ErrPhotoTooLarge or
// ErrPhotoType where those apply, and say what is wrong.
func ValidatePhoto(data []byte, declared string) (contentType string, width, height int, err error) {
	if len(data) > MaxPhotoBytes {
		return "", 0, 0, fmt.Errorf("%w: %w: the photo is %d bytes, at most %d (2 MiB) are accepted", store.ErrInvalid, ErrPhotoTooLarge, len(data), MaxPhotoBytes)
	}
	if declared != "" && declared != PhotoJPEG && declared != PhotoPNG {
		return "", 0, 0, fmt.Errorf("%w: %w: %q: send image/jpeg or image/png", store.ErrInvalid, ErrPhotoType, declared)
	}
	if len(data) == 0 {
		return "", 0, 0, fmt.Errorf("%w: %w: the photo is empty", store.ErrInvalid, ErrPhotoType)
	}
	cfg, format, err := image.DecodeConfig(bytes.NewReader(data))
	// image.DecodeConfig knows whatever formats the program registered;
	// only these two are photos here.
	switch {
	case err == nil && format == "jpeg":
		contentType = PhotoJPEG
	case err == nil && format == "png":
		contentType = PhotoPNG
	default:
		return "", 0, 0, fmt.Errorf("%w: %w: the file is not a JPEG or PNG image", store.ErrInvalid, ErrPhotoType)
	}
	if declared != "" && declared != contentType {
		return "", 0, 0, fmt.Errorf("%w: %w: declared %s but the file is %s", store.ErrInvalid, ErrPhotoType, declared, contentType)
	}
	if cfg.Width < MinPhotoSide || cfg.Height < MinPhotoSide || cfg.Width > MaxPhotoSide || cfg.Height > MaxPhotoSide {
		return "", 0, 0, fmt.Errorf("%w: the photo is %dx%d pixels; it must be %d to %d pixels wide and high",
			store.ErrInvalid, cfg.Width, cfg.Height, MinPhotoSide, MaxPhotoSide)
	}
	// The header is sound and the size bounded: the image itself must
	// decode too (no truncated or corrupt file, nothing but an image).
	if contentType == PhotoJPEG {
		_, err = jpeg.Decode(bytes.NewReader(data))
	} else {
		_, err = png.Decode(bytes.NewReader(data))
	}
	if err != nil {
		return "", 0, 0, fmt.Errorf("%w: the photo's image data is damaged: %v", store.ErrInvalid, err)
	}
	return contentType, cfg.Width, cfg.Height, nil
}

// SetPhoto gives a person a photo (replacing any), after ValidatePhoto
// (declared: the uploader's media type, "" to take the file's own). It is
// audited as inmate.photo_set with the file's SHA-256, size, type and
// dimensions; the policy is unchanged (photos stay at central).
func (s *Store) SetPhoto(ctx context.Context, actor, personID string, data []byte, declared string) (*Photo, error) {
	ct, w, h, err := ValidatePhoto(data, declared)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(data)
	ph := &Photo{PersonID: personID, ContentType: ct, SHA256: hex.EncodeToString(sum[:]), Bytes: len(data), Width: w, Height: h,
		UpdatedBy: actor, Updated: store.FromNS(store.NS(s.core.Clock().Now())), Data: data}
	err = s.core.InTx(ctx, func(tx *sql.Tx) error {
		if err := personExists(ctx, tx, personID); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO person_photos (person_id, content_type, sha256, bytes, width, height, data, updated_by, updated_ns)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
			ON CONFLICT (person_id) DO UPDATE SET content_type = excluded.content_type, sha256 = excluded.sha256, bytes = excluded.bytes,
				width = excluded.width, height = excluded.height, data = excluded.data, updated_by = excluded.updated_by, updated_ns = excluded.updated_ns`,
			personID, ct, ph.SHA256, ph.Bytes, w, h, base64.StdEncoding.EncodeToString(data), actor, store.NS(ph.Updated)); err != nil {
			return fmt.Errorf("store: set photo: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `UPDATE people SET updated_ns = $2 WHERE id = $1`, personID, store.NS(ph.Updated)); err != nil {
			return fmt.Errorf("store: set photo: %w", err)
		}
		return s.core.AuditTx(ctx, tx, actor, "inmate.photo_set", personID, fmt.Sprintf("sha256=%s bytes=%d type=%s size=%dx%d", ph.SHA256, ph.Bytes, ct, w, h))
	})
	if err != nil {
		return nil, err
	}
	return ph, nil
}

// Photo returns a person's photo with its data (store.ErrNotFound when the
// person has none or does not exist).
func (s *Store) Photo(ctx context.Context, personID string) (*Photo, error) {
	ph := &Photo{PersonID: personID}
	var data string
	var at int64
	err := s.core.Reader().QueryRowContext(ctx, `SELECT content_type, sha256, bytes, width, height, data, updated_by, updated_ns
		FROM person_photos WHERE person_id = $1`, personID).Scan(&ph.ContentType, &ph.SHA256, &ph.Bytes, &ph.Width, &ph.Height, &data, &ph.UpdatedBy, &at)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("%w: no photo of %s", store.ErrNotFound, personID)
	}
	if err != nil {
		return nil, fmt.Errorf("store: read photo: %w", err)
	}
	if ph.Data, err = base64.StdEncoding.DecodeString(data); err != nil {
		return nil, fmt.Errorf("store: read photo of %s: %w", personID, err)
	}
	ph.Updated = store.FromNS(at)
	return ph, nil
}

// DeletePhoto removes a person's photo, audited as inmate.photo_delete
// (store.ErrNotFound when there is none).
func (s *Store) DeletePhoto(ctx context.Context, actor, personID string) error {
	return s.core.InTx(ctx, func(tx *sql.Tx) error {
		if err := personExists(ctx, tx, personID); err != nil {
			return err
		}
		var sum string
		err := tx.QueryRowContext(ctx, `DELETE FROM person_photos WHERE person_id = $1 RETURNING sha256`, personID).Scan(&sum)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("%w: no photo of %s", store.ErrNotFound, personID)
		}
		if err != nil {
			return fmt.Errorf("store: delete photo: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `UPDATE people SET updated_ns = $2 WHERE id = $1`, personID, store.NS(s.core.Clock().Now())); err != nil {
			return fmt.Errorf("store: delete photo: %w", err)
		}
		return s.core.AuditTx(ctx, tx, actor, "inmate.photo_delete", personID, "sha256="+sum)
	})
}

// personExists is nil when the person exists in tx, else store.ErrNotFound.
func personExists(ctx context.Context, tx *sql.Tx, personID string) error {
	var one int
	err := tx.QueryRowContext(ctx, `SELECT 1 FROM people WHERE id = $1`, personID).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("%w: inmate %s", store.ErrNotFound, personID)
	}
	if err != nil {
		return fmt.Errorf("store: read person: %w", err)
	}
	return nil
}
