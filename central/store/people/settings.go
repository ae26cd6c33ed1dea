package people

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"github.com/kinline/kinline/central/store"
	"strconv"
	"strings"
	"time"
)

// Settings names kept by the management console (the time zone,
// store.SettingTimeZone, is shared with the money settings).
const (
	SettingPrisonName  = "prison_name"
	SettingMaxContacts = "max_contacts"
)

// DefaultMaxContacts is max_contacts when unset.
const DefaultMaxContacts = 10

// MaxMaxContacts bounds the max_contacts setting.
const MaxMaxContacts = 1000

// PrisonSettings are the prison-wide settings the console manages.
type PrisonSettings struct {
	// PrisonName is said to called parties ("... calling from <name>").
	PrisonName string `json:"prison_name"`
	// TimeZone is the IANA zone of schedule windows and quota periods (""
	// is UTC).
	TimeZone string `json:"time_zone"`
	// MaxContacts is how many contacts (not rejected) a person may have.
	MaxContacts int `json:"max_contacts"`
}

type rowQuerier interface {
	QueryContext(context.Context, string, ...any) (*sql.Rows, error)
}

func readSettings(ctx context.Context, q rowQuerier) (*PrisonSettings, error) {
	rows, err := q.QueryContext(ctx, `SELECT name, value FROM settings WHERE name IN ($1, $2, $3)`,
		SettingPrisonName, store.SettingTimeZone, SettingMaxContacts)
	if err != nil {
		return nil, fmt.Errorf("store: settings: %w", err)
	}
	defer rows.Close()
	out := &PrisonSettings{MaxContacts: DefaultMaxContacts}
	for rows.Next() {
		var n, v string
		if err := rows.Scan(&n, &v); err != nil {
			return nil, fmt.Errorf("store: settings: %w", err)
		}
		switch n {
		case SettingPrisonName:
			out.PrisonName = v
		case store.SettingTimeZone:
			out.TimeZone = v
		case SettingMaxContacts:
			if m, err := strconv.Atoi(v); err == nil && m > 0 {
				out.MaxContacts = m
			}
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: settings: %w", err)
	}
	return out, nil
}

func maxContacts(ctx context.Context, tx *sql.Tx) (int, error) {
	set, err := readSettings(ctx, tx)
	if err != nil {
		return 0, err
	}
	return set.MaxContacts, nil
}

// Settings returns the prison-wide settings (defaults where unset).
func (s *Store) Settings(ctx context.Context) (*PrisonSettings, error) {
	return readSettings(ctx, s.core.Reader())
}

// UpdateSettings validates and stores the settings: the prison name (at
// most 100 characters), the time zone (loadable by time.LoadLocation, ""
// for UTC) and max_contacts (1 to MaxMaxContacts). Every block's policy is
// bumped when the name or zone changes; it returns those blocks.
func (s *Store) UpdateSettings(ctx context.Context, actor string, in PrisonSettings) ([]string, error) {
	in.PrisonName = strings.TrimSpace(in.PrisonName)
	in.TimeZone = strings.TrimSpace(in.TimeZone)
	var checks []error
	checks = append(checks, store.ValidText("prison_name", in.PrisonName, 100, false))
	if in.TimeZone != "" {
		if _, err := time.LoadLocation(in.TimeZone); err != nil || strings.EqualFold(in.TimeZone, "local") {
			checks = append(checks, fmt.Errorf("%w: time_zone %q is not an IANA time zone (e.g. Europe/London)", store.ErrInvalid, in.TimeZone))
		}
	}
	if in.MaxContacts < 1 || in.MaxContacts > MaxMaxContacts {
		checks = append(checks, fmt.Errorf("%w: max_contacts must be 1 to %d", store.ErrInvalid, MaxMaxContacts))
	}
	if err := errors.Join(checks...); err != nil {
		return nil, err
	}
	var changed []string
	err := s.core.InTx(ctx, func(tx *sql.Tx) error {
		old, err := readSettings(ctx, tx)
		if err != nil {
			return err
		}
		now := store.NS(s.core.Clock().Now())
		for n, v := range map[string]string{SettingPrisonName: in.PrisonName, store.SettingTimeZone: in.TimeZone, SettingMaxContacts: strconv.Itoa(in.MaxContacts)} {
			if _, err := tx.ExecContext(ctx, `INSERT INTO settings (name, value, updated_ns) VALUES ($1, $2, $3)
				ON CONFLICT (name) DO UPDATE SET value = excluded.value, updated_ns = excluded.updated_ns`, n, v, now); err != nil {
				return fmt.Errorf("store: save setting %s: %w", n, err)
			}
		}
		if old.PrisonName != in.PrisonName || old.TimeZone != in.TimeZone {
			if changed, err = store.AllBlocks(ctx, tx); err != nil {
				return err
			}
			if err := store.BumpPolicy(ctx, tx, changed...); err != nil {
				return err
			}
		}
		return s.core.AuditTx(ctx, tx, actor, "settings.update", "settings", fmt.Sprintf("prison_name=%q time_zone=%q max_contacts=%d",
			in.PrisonName, in.TimeZone, in.MaxContacts))
	})
	if err != nil {
		return nil, err
	}
	return changed, nil
}
