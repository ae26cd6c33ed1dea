// Package httpjson holds the JSON API's HTTP conventions, shared by package
// api and its areas' handler packages: answers are indented JSON that is
// never cached; errors are {"error": "..."} with the status StatusFor maps
// them to (an internal error is logged and answered "internal error");
// request bodies are JSON of at most 64 KiB without unknown fields; and
// the authenticated caller travels in the request's context.
package httpjson

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/kinline/kinline/central/authz"
	"github.com/kinline/kinline/central/callquery"
	"github.com/kinline/kinline/central/recordings"
	"github.com/kinline/kinline/central/store"
	"github.com/kinline/kinline/central/store/reports"
	"github.com/kinline/kinline/central/store/users"
)

// Errors of the API layer.
var (
	ErrBadRequest = errors.New("api: bad request")
	ErrForbidden  = errors.New("api: forbidden")
	// ErrUnavailable: the server cannot reach the appliances (no command
	// sender, or sending failed).
	ErrUnavailable = errors.New("api: appliances unreachable")
	// ErrTooLarge: the request's body is larger than the route accepts
	// (413).
	ErrTooLarge = errors.New("api: request body too large")
)

// MaxBody is the largest JSON request body Decode reads.
const MaxBody = 64 << 10

// Write answers v as indented JSON with status, never cached and never
// sniffed as another type.
func Write(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}

// Error answers {"error": msg} with status, msg cleaned by store.Message
// (no internal prefixes, no control characters).
func Error(w http.ResponseWriter, status int, msg string) {
	Write(w, status, map[string]string{"error": store.Message(msg)})
}

// Fail answers err with its status (StatusFor) and message, cleaned by
// Error; an internal error is logged to log and answered
// "internal error".
func Fail(log *slog.Logger, w http.ResponseWriter, r *http.Request, err error) {
	status := StatusFor(err)
	msg := err.Error()
	if status == http.StatusInternalServerError {
		log.Error("api: request failed", "method", r.Method, "path", r.URL.Path, "err", err)
		msg = "internal error"
	}
	Error(w, status, msg)
}

// StatusFor maps store and API errors to HTTP statuses.
func StatusFor(err error) int {
	switch {
	case errors.Is(err, ErrBadRequest), errors.Is(err, callquery.ErrBadQuery):
		return http.StatusBadRequest
	case errors.Is(err, store.ErrUnauthorized):
		return http.StatusUnauthorized
	case errors.Is(err, ErrForbidden), errors.Is(err, authz.ErrForbidden), errors.Is(err, authz.ErrSecondFactor),
		errors.Is(err, authz.ErrOutOfScope), errors.Is(err, recordings.ErrPrivileged), errors.Is(err, reports.ErrNotAuthor),
		errors.Is(err, users.ErrTooStrong):
		return http.StatusForbidden
	case errors.Is(err, store.ErrNotFound), errors.Is(err, store.ErrNoRecording):
		return http.StatusNotFound
	case errors.Is(err, store.ErrConflict), errors.Is(err, store.ErrRecordingConflict), errors.Is(err, users.ErrTOTPEnrolled):
		return http.StatusConflict
	case errors.Is(err, store.ErrInvalid), errors.Is(err, store.ErrUnknownBlock):
		return http.StatusUnprocessableEntity
	case errors.Is(err, ErrUnavailable):
		return http.StatusServiceUnavailable
	case errors.Is(err, ErrTooLarge):
		return http.StatusRequestEntityTooLarge
	}
	return http.StatusInternalServerError
}

// Decode reads a JSON body of at most MaxBody bytes into v, refusing
// unknown fields; a larger body is ErrTooLarge (413).
func Decode(r *http.Request, v any) error {
	if ct := r.Header.Get("Content-Type"); ct != "" && !strings.HasPrefix(ct, "application/json") {
		return fmt.Errorf("%w: Content-Type must be application/json", ErrBadRequest)
	}
	if r.ContentLength > MaxBody {
		return tooLarge(MaxBody)
	}
	dec := json.NewDecoder(http.MaxBytesReader(nil, r.Body, MaxBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			return tooLarge(MaxBody)
		}
		return fmt.Errorf("%w: invalid JSON body: %v", ErrBadRequest, err)
	}
	if dec.More() {
		return fmt.Errorf("%w: trailing data after JSON body", ErrBadRequest)
	}
	return nil
}

// ReadBody reads a request body of at most max bytes (an upload: a photo,
// an import file); a larger body is ErrTooLarge (413).
func ReadBody(r *http.Request, max int64) ([]byte, error) {
	if r.ContentLength > max {
		return nil, tooLarge(max)
	}
	data, err := io.ReadAll(http.MaxBytesReader(nil, r.Body, max))
	if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
		return nil, tooLarge(max)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: reading the body: %v", ErrBadRequest, err)
	}
	return data, nil
}

func tooLarge(max int64) error {
	size := fmt.Sprintf("%d KiB", max>>10)
	if max >= 1<<20 {
		size = fmt.Sprintf("%d MiB", max>>20)
	}
	return fmt.Errorf("%w: the body must be at most %s", ErrTooLarge, size)
}

type queryKey struct{}

// WithAskedQuery returns ctx carrying the query string the client sent,
// for a handler that is served a rewritten one (a list route's paging).
func WithAskedQuery(ctx context.Context, rawQuery string) context.Context {
	return context.WithValue(ctx, queryKey{}, rawQuery)
}

// AskedQuery is the query string the client sent (what a search's audit
// entry records): r's, unless the list paging rewrote it.
func AskedQuery(r *http.Request) string {
	if q, ok := r.Context().Value(queryKey{}).(string); ok {
		return q
	}
	return r.URL.RawQuery
}

type callerKey struct{}

// WithCaller returns ctx carrying the authenticated caller c.
func WithCaller(ctx context.Context, c authz.Caller) context.Context {
	return context.WithValue(ctx, callerKey{}, c)
}

// Caller is the authenticated caller ctx carries (the zero Caller without
// one).
func Caller(ctx context.Context) authz.Caller {
	c, _ := ctx.Value(callerKey{}).(authz.Caller)
	return c
}

// QueryTime reads an RFC 3339 time or a date (YYYY-MM-DD, midnight in
// loc) from the query's key; "" is the zero time.
func QueryTime(q url.Values, key string, loc *time.Location) (time.Time, error) {
	v := q.Get(key)
	if v == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339, v); err == nil {
		return t, nil
	}
	if t, err := time.ParseInLocation(time.DateOnly, v, loc); err == nil {
		return t, nil
	}
	return time.Time{}, fmt.Errorf("%w: %s must be RFC 3339 or YYYY-MM-DD, not %q", ErrBadRequest, key, v)
}
