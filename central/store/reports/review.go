package reports

// Call review: notes a reviewer writes on a call (why they reviewed it,
// what they found, whether it needs following up) and bookmarks (a
// labelled position in the call's recording). Notes are append-only; a
// bookmark put in the wrong place can be removed by its author or a
// system administrator, which hides it but keeps the row (who removed it
// and when). Every write is audited in its own transaction.

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/kinline/kinline/central/store"
)

// Limits of review text.
const (
	MaxReviewReason = 100
	MaxReviewNote   = 4000
	MaxBookmarkText = 200
)

// ReviewReasons are the reasons the console offers (any other short text
// is accepted too).
var ReviewReasons = []string{"routine review", "intelligence", "security", "safeguarding", "complaint", "legal", "request from police"}

// ReviewNote is a reviewer's note on a call.
type ReviewNote struct {
	ID     string `json:"id"`
	CallID string `json:"call_id"`
	// Reviewer is the author's audit actor ("user:<username>" or
	// "token:<name>").
	Reviewer string    `json:"reviewer"`
	Reason   string    `json:"reason"`
	Note     string    `json:"note"`
	FollowUp bool      `json:"follow_up"`
	Created  time.Time `json:"created"`
}

// NewReviewNote is what a reviewer writes.
type NewReviewNote struct {
	Reason   string
	Note     string
	FollowUp bool
}

// Bookmark is a labelled position in a call's recording.
type Bookmark struct {
	ID     string `json:"id"`
	CallID string `json:"call_id"`
	// Author is the author's audit actor (stored in bookmarks.user_id).
	Author string `json:"author"`
	// OffsetMS is the position from the start of the recording (the
	// answer), in milliseconds.
	OffsetMS int64     `json:"offset_ms"`
	Label    string    `json:"label"`
	Created  time.Time `json:"created"`
}

// reviewText trims v and checks it is 1..max characters of printable text
// (newlines and tabs allowed where multiline).
func reviewText(what, v string, maxLen int, multiline bool) (string, error) {
	v = strings.TrimSpace(v)
	switch {
	case v == "":
		return "", fmt.Errorf("%w: %s is required", store.ErrInvalid, what)
	case !utf8.ValidString(v):
		return "", fmt.Errorf("%w: %s is not valid UTF-8", store.ErrInvalid, what)
	case utf8.RuneCountInString(v) > maxLen:
		return "", fmt.Errorf("%w: %s is longer than %d characters", store.ErrInvalid, what, maxLen)
	}
	for _, r := range v {
		if store.HiddenRune(r) && !(multiline && (r == '\n' || r == '\r' || r == '\t')) {
			return "", fmt.Errorf("%w: %s contains a control or formatting character (%U), such as a bidirectional override", store.ErrInvalid, what, r)
		}
	}
	return v, nil
}

// AddReviewNote stores actor's note on call callID (store.ErrNotFound when there
// is no such call), audited as call.note.
func (s *Store) AddReviewNote(ctx context.Context, actor, callID string, in NewReviewNote) (*ReviewNote, error) {
	reason, err := reviewText("reason", in.Reason, MaxReviewReason, false)
	if err != nil {
		return nil, err
	}
	note, err := reviewText("note", in.Note, MaxReviewNote, true)
	if err != nil {
		return nil, err
	}
	if _, err := s.core.Call(ctx, callID); err != nil {
		return nil, err
	}
	n := &ReviewNote{ID: store.NewID("rn_"), CallID: callID, Reviewer: actor, Reason: reason, Note: note, FollowUp: in.FollowUp,
		Created: store.FromNS(store.NS(s.core.Clock().Now()))}
	err = s.core.InTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO review_notes (id, call_id, author, reason, note, follow_up, created_ns)
			VALUES ($1, $2, $3, $4, $5, $6, $7)`, n.ID, n.CallID, n.Reviewer, n.Reason, n.Note, store.BoolInt(n.FollowUp), store.NS(n.Created)); err != nil {
			return fmt.Errorf("store: review note: %w", err)
		}
		return s.core.AuditTx(ctx, tx, actor, "call.note", callID, fmt.Sprintf("note=%s reason=%q follow_up=%t", n.ID, n.Reason, n.FollowUp))
	})
	if err != nil {
		return nil, err
	}
	return n, nil
}

// ReviewNotes lists the notes on call callID, oldest first.
func (s *Store) ReviewNotes(ctx context.Context, callID string) ([]ReviewNote, error) {
	rows, err := s.core.Reader().QueryContext(ctx, `SELECT id, call_id, author, reason, note, follow_up, created_ns FROM review_notes
		WHERE call_id = $1 ORDER BY created_ns, id`, callID)
	if err != nil {
		return nil, fmt.Errorf("store: review notes: %w", err)
	}
	defer rows.Close()
	out := []ReviewNote{}
	for rows.Next() {
		var n ReviewNote
		var created int64
		var follow int
		if err := rows.Scan(&n.ID, &n.CallID, &n.Reviewer, &n.Reason, &n.Note, &follow, &created); err != nil {
			return nil, fmt.Errorf("store: review notes: %w", err)
		}
		n.FollowUp, n.Created = follow != 0, store.FromNS(created)
		out = append(out, n)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: review notes: %w", err)
	}
	return out, nil
}

// AddBookmark marks position at (from the answer) in call callID's
// recording with label, audited as call.bookmark. The call must have a
// recording (a privileged call never has one) and at must lie within its
// talk time.
func (s *Store) AddBookmark(ctx context.Context, actor, callID string, at time.Duration, label string) (*Bookmark, error) {
	label, err := reviewText("label", label, MaxBookmarkText, false)
	if err != nil {
		return nil, err
	}
	c, err := s.core.Call(ctx, callID)
	if err != nil {
		return nil, err
	}
	talk := time.Duration(c.DurationSeconds * float64(time.Second))
	switch {
	case c.Privileged:
		return nil, fmt.Errorf("%w: a privileged call is never recorded, so it has no bookmarks", store.ErrInvalid)
	case c.Recording == nil:
		return nil, fmt.Errorf("%w: call %s has no recording to bookmark", store.ErrInvalid, callID)
	case at < 0 || at > talk:
		return nil, fmt.Errorf("%w: the position must be between 0:00 and the end of the call (%s)", store.ErrInvalid, FormatOffset(talk))
	}
	b := &Bookmark{ID: store.NewID("bm_"), CallID: callID, Author: actor, OffsetMS: at.Milliseconds(), Label: label, Created: store.FromNS(store.NS(s.core.Clock().Now()))}
	err = s.core.InTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO bookmarks (id, call_id, user_id, offset_ms, label, created_ns) VALUES ($1, $2, $3, $4, $5, $6)`,
			b.ID, b.CallID, b.Author, b.OffsetMS, b.Label, store.NS(b.Created)); err != nil {
			return fmt.Errorf("store: bookmark: %w", err)
		}
		return s.core.AuditTx(ctx, tx, actor, "call.bookmark", callID, fmt.Sprintf("bookmark=%s at=%s label=%q", b.ID, FormatOffset(at), b.Label))
	})
	if err != nil {
		return nil, err
	}
	return b, nil
}

// Bookmarks lists the bookmarks of call callID by position.
func (s *Store) Bookmarks(ctx context.Context, callID string) ([]Bookmark, error) {
	rows, err := s.core.Reader().QueryContext(ctx, `SELECT id, call_id, user_id, offset_ms, label, created_ns FROM bookmarks
		WHERE call_id = $1 AND removed_ns = 0 ORDER BY offset_ms, created_ns, id`, callID)
	if err != nil {
		return nil, fmt.Errorf("store: bookmarks: %w", err)
	}
	defer rows.Close()
	out := []Bookmark{}
	for rows.Next() {
		var b Bookmark
		var created int64
		if err := rows.Scan(&b.ID, &b.CallID, &b.Author, &b.OffsetMS, &b.Label, &created); err != nil {
			return nil, fmt.Errorf("store: bookmarks: %w", err)
		}
		b.Created = store.FromNS(created)
		out = append(out, b)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: bookmarks: %w", err)
	}
	return out, nil
}

// RemoveBookmark removes bookmark id of call callID, audited as
// call.bookmark.remove: it is no longer listed, and the row keeps who
// removed it and when. Only its author may, unless anyAuthor (a system
// administrator): ErrNotAuthor. A bookmark not on the call, or already
// removed, is store.ErrNotFound.
func (s *Store) RemoveBookmark(ctx context.Context, actor, callID, id string, anyAuthor bool) error {
	return s.core.InTx(ctx, func(tx *sql.Tx) error {
		var author, label string
		var offset int64
		err := tx.QueryRowContext(ctx, `SELECT user_id, label, offset_ms FROM bookmarks WHERE id = $1 AND call_id = $2 AND removed_ns = 0`,
			id, callID).Scan(&author, &label, &offset)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("%w: bookmark %s on call %s", store.ErrNotFound, id, callID)
		}
		if err != nil {
			return fmt.Errorf("store: remove bookmark: %w", err)
		}
		if author != actor && !anyAuthor {
			return fmt.Errorf("%w: bookmark %s is %s's", ErrNotAuthor, id, author)
		}
		if _, err := tx.ExecContext(ctx, `UPDATE bookmarks SET removed_ns = $1, removed_by = $2 WHERE id = $3 AND removed_ns = 0`,
			store.NS(s.core.Clock().Now()), actor, id); err != nil {
			return fmt.Errorf("store: remove bookmark: %w", err)
		}
		at := time.Duration(offset) * time.Millisecond
		return s.core.AuditTx(ctx, tx, actor, "call.bookmark.remove", callID,
			fmt.Sprintf("bookmark=%s at=%s label=%q author=%s", id, FormatOffset(at), label, author))
	})
}

// FormatOffset writes a position in a recording as m:ss (h:mm:ss from an
// hour), rounded down to the second.
func FormatOffset(d time.Duration) string {
	if d < 0 {
		d = 0
	}
	sec := int64(d / time.Second)
	if sec >= 3600 {
		return fmt.Sprintf("%d:%02d:%02d", sec/3600, sec/60%60, sec%60)
	}
	return fmt.Sprintf("%d:%02d", sec/60, sec%60)
}
