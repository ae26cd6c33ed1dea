// Package photo answers a person's photo over HTTP, the one way both the
// JSON API and the console serve it: the media type found in the image
// when it was stored (never the uploader's word), X-Content-Type-Options
// nosniff so no browser reads it as anything else, a Content-Security-
// Policy under which nothing in it could run, and no caching (it is
// personal data behind a sign-in).
package photo

import (
	"net/http"
	"strconv"
)

// Write answers the photo data of media type contentType with status 200.
func Write(w http.ResponseWriter, contentType string, data []byte) {
	h := w.Header()
	h.Set("Content-Type", contentType)
	h.Set("Content-Length", strconv.Itoa(len(data)))
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Security-Policy", "default-src 'none'; sandbox")
	h.Set("Cache-Control", "private, no-store")
	h.Set("Content-Disposition", "inline")
	w.WriteHeader(http.StatusOK)
	w.Write(data)
}
