package storetest

import (
	"bytes"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"math/rand/v2"
	"testing"
)

// Image is a w x h image with some detail (noise from seed), so encoders
// cannot shrink it to nothing: the photos' tests encode it.
func Image(w, h int, seed uint64) *image.RGBA {
	r := rand.New(rand.NewPCG(seed, 1))
	m := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			m.Set(x, y, color.RGBA{uint8(x), uint8(y), uint8(r.IntN(256)), 255})
		}
	}
	return m
}

// PNG is Image(w, h, 1) as a PNG file.
func PNG(t testing.TB, w, h int) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := png.Encode(&b, Image(w, h, 1)); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// JPEG is Image(w, h, 2) as a JPEG file (quality 80).
func JPEG(t testing.TB, w, h int) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := jpeg.Encode(&b, Image(w, h, 2), &jpeg.Options{Quality: 80}); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}
