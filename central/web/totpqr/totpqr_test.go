package totpqr

import (
	"bytes"
	"encoding/base64"
	"image/png"
	"strings"
	"testing"

	qrcode "github.com/skip2/go-qrcode"
)

const uri = "otpauth://totp/Kinline:user%3Aivy?secret=JBSWY3DPEHPK3PXP&issuer=Kinline&digits=6&period=30"

// The PNG is the QR code of the URI: each module of the code the URI
// encodes is drawn dark or light at its place in the image.
func TestPNGDrawsTheURIsCode(t *testing.T) {
	b, err := PNG(uri)
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	q, err := qrcode.New(uri, Level)
	if err != nil {
		t.Fatal(err)
	}
	bits := q.Bitmap() // with its quiet zone, as drawn
	n := len(bits)
	if img.Bounds().Dx() != n*Scale || img.Bounds().Dy() != n*Scale {
		t.Fatalf("size %v for %d modules", img.Bounds(), n)
	}
	for y := range n {
		for x := range n {
			r, _, _, _ := img.At(x*Scale+Scale/2, y*Scale+Scale/2).RGBA()
			if dark := r < 0x8000; dark != bits[y][x] {
				t.Fatalf("module %d,%d: dark %v, want %v", x, y, dark, bits[y][x])
			}
		}
	}
	other, _ := PNG(strings.Replace(uri, "JBSWY3DPEHPK3PXP", "KRSXG5CTMVRXEZLU", 1))
	if bytes.Equal(other, b) {
		t.Fatal("another secret draws the same image")
	}
}

func TestDataURI(t *testing.T) {
	u, err := DataURI(uri)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(string(u), "data:image/png;base64,"))
	if !strings.HasPrefix(string(u), "data:image/png;base64,") || err != nil || !bytes.HasPrefix(raw, []byte("\x89PNG")) {
		t.Fatalf("data URI %.40s: %v", u, err)
	}
	if _, err := DataURI("https://example.com/"); err == nil {
		t.Fatal("a non-otpauth URI drawn")
	}
}
