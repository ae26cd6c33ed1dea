package people

import (
	"bytes"
	"errors"
	"github.com/kinline/kinline/central/store/storetest"
	"image"
	"image/gif"
	"image/png"
	"strings"
	"testing"

	"github.com/kinline/kinline/central/store"
)

func TestValidatePhoto(t *testing.T) {
	var gifFile bytes.Buffer
	if err := gif.Encode(&gifFile, storetest.Image(64, 64, 3), nil); err != nil {
		t.Fatal(err)
	}
	// A 3000x3000 PNG of one colour compresses far below the byte limit:
	// only the dimension check refuses it, before it is decoded.
	var huge bytes.Buffer
	if err := png.Encode(&huge, image.NewGray(image.Rect(0, 0, 3000, 3000))); err != nil {
		t.Fatal(err)
	}
	goodPNG, goodJPEG := storetest.PNG(t, 120, 160), storetest.JPEG(t, 200, 100)
	for _, tc := range []struct {
		name     string
		data     []byte
		declared string
		wantType string
		w, h     int
		wantErr  error // besides ErrInvalid
		msg      string
	}{
		{name: "png", data: goodPNG, wantType: PhotoPNG, w: 120, h: 160},
		{name: "png declared", data: goodPNG, declared: PhotoPNG, wantType: PhotoPNG, w: 120, h: 160},
		{name: "jpeg declared", data: goodJPEG, declared: PhotoJPEG, wantType: PhotoJPEG, w: 200, h: 100},
		{name: "jpeg declared png", data: goodJPEG, declared: PhotoPNG, wantErr: ErrPhotoType, msg: "declared image/png but the file is image/jpeg"},
		{name: "gif (registered, still refused)", data: gifFile.Bytes(), wantErr: ErrPhotoType, msg: "not a JPEG or PNG"},
		{name: "declared gif", data: goodPNG, declared: "image/gif", wantErr: ErrPhotoType, msg: "send image/jpeg or image/png"},
		{name: "html", data: []byte("<html><script>alert(1)</script></html>"), wantErr: ErrPhotoType, msg: "not a JPEG or PNG"},
		{name: "empty", data: nil, wantErr: ErrPhotoType, msg: "empty"},
		{name: "too many bytes", data: append(append([]byte{}, goodPNG...), make([]byte, MaxPhotoBytes)...), wantErr: ErrPhotoTooLarge, msg: "at most 2097152"},
		{name: "too wide", data: huge.Bytes(), msg: "3000x3000 pixels"},
		{name: "too small", data: storetest.PNG(t, 8, 40), msg: "8x40 pixels"},
		{name: "truncated png", data: goodPNG[:len(goodPNG)/2], msg: "damaged"},
		{name: "truncated jpeg", data: goodJPEG[:len(goodJPEG)/2], msg: "damaged"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ct, w, h, err := ValidatePhoto(tc.data, tc.declared)
			if tc.msg == "" {
				if err != nil || ct != tc.wantType || w != tc.w || h != tc.h {
					t.Fatalf("got %q %dx%d %v", ct, w, h, err)
				}
				return
			}
			if !errors.Is(err, store.ErrInvalid) || tc.wantErr != nil && !errors.Is(err, tc.wantErr) || !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("got %v, want %v with %q", err, tc.wantErr, tc.msg)
			}
		})
	}
}

// FuzzValidatePhoto: uploads are untrusted bytes. No input may panic, and
// an accepted one is a JPEG or PNG within the limits whose header agrees.
func FuzzValidatePhoto(f *testing.F) {
	f.Add(storetest.PNG(f, 16, 16), "")
	f.Add(storetest.JPEG(f, 32, 16), PhotoJPEG)
	f.Add([]byte("\x89PNG\r\n\x1a\n"), PhotoPNG)
	f.Add([]byte("\xff\xd8\xff\xe0"), "")
	f.Fuzz(func(t *testing.T, data []byte, declared string) {
		ct, w, h, err := ValidatePhoto(data, declared)
		if err != nil {
			if !errors.Is(err, store.ErrInvalid) {
				t.Fatalf("error not ErrInvalid: %v", err)
			}
			return
		}
		cfg, format, cerr := image.DecodeConfig(bytes.NewReader(data))
		if cerr != nil || "image/"+format != ct || cfg.Width != w || cfg.Height != h || declared != "" && declared != ct ||
			w < MinPhotoSide || h < MinPhotoSide || w > MaxPhotoSide || h > MaxPhotoSide || len(data) > MaxPhotoBytes {
			t.Fatalf("accepted %q %dx%d (declared %q) but the header says %q %+v %v", ct, w, h, declared, format, cfg, cerr)
		}
	})
}
