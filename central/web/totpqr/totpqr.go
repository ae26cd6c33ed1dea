// Package totpqr draws the QR code of a second factor's otpauth:// URI,
// on central itself (no outside service ever sees the secret), as a PNG
// data: URI for an <img> on the enrolment page (the console's CSP allows
// img-src data:).
package totpqr

import (
	"encoding/base64"
	"fmt"
	"html/template"
	"strings"

	qrcode "github.com/skip2/go-qrcode"
)

// Scale is the pixels per module of the code (whole pixels keep every
// module square and sharp; the page sizes the image).
const Scale = 6

// Level is the error correction used (medium: 15% of the code may be
// unreadable, ample for a screen).
const Level = qrcode.Medium

// PNG draws uri's QR code.
func PNG(uri string) ([]byte, error) {
	if !strings.HasPrefix(uri, "otpauth://") {
		return nil, fmt.Errorf("totpqr: not an otpauth:// URI")
	}
	b, err := qrcode.Encode(uri, Level, -Scale)
	if err != nil {
		return nil, fmt.Errorf("totpqr: %w", err)
	}
	return b, nil
}

// DataURI is uri's QR code as a data:image/png;base64 URI, safe for an
// <img src> in a template.
func DataURI(uri string) (template.URL, error) {
	b, err := PNG(uri)
	if err != nil {
		return "", err
	}
	return template.URL("data:image/png;base64," + base64.StdEncoding.EncodeToString(b)), nil
}
