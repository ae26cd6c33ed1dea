package users

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/kinline/kinline/central/store"
)

// ensureBootstrapUser adds the bootstrap administrator inside tx when it
// is missing (audited as actor).
func (s *Store) ensureBootstrapUser(ctx context.Context, tx *sql.Tx, actor string) error {
	var have string
	err := tx.QueryRowContext(ctx, `SELECT username FROM users WHERE id = $1`, BootstrapUserID).Scan(&have)
	if err == nil {
		return nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("store: bootstrap user: %w", err)
	}
	// A password nobody knows: the bootstrap administrator signs in with
	// its token only.
	h, err := HashPassword(store.NewSecret())
	if err != nil {
		return err
	}
	now := store.NS(s.core.Clock().Now())
	res, err := tx.ExecContext(ctx, `INSERT INTO users (id, username, display_name, role, blocks, password_hash, created_ns, updated_ns)
		VALUES ($1, $2, $3, $4, '[]', $5, $6, $6) ON CONFLICT DO NOTHING`,
		BootstrapUserID, BootstrapUsername, "Bootstrap administrator (the admin token file)", store.RoleSystemAdmin, h, now)
	if err != nil {
		return fmt.Errorf("store: bootstrap user: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("store: bootstrap user: the username %s is taken by another user: rename that user", BootstrapUsername)
	}
	return s.core.AuditTx(ctx, tx, actor, "user.create", BootstrapUserID, "username="+BootstrapUsername+" role="+store.RoleSystemAdmin+" (bootstrap)")
}

// EnsureAdminToken bootstraps access. If the file at path does not exist
// it generates a token, registers it as the bootstrap token "admin" of the
// bootstrap administrator (never expiring) and writes it to the file with
// mode 0600. If the file exists, the token in it is registered when the
// store does not know it (a new database); a token the store knows is left
// as it is, so a revoked one stays revoked (and is logged).
func (s *Store) EnsureAdminToken(ctx context.Context, path string, log *slog.Logger) error {
	b, err := os.ReadFile(path)
	switch {
	case err == nil:
		tok := strings.TrimSpace(string(b))
		if len(tok) < 16 {
			return fmt.Errorf("store: admin token in %s: too short", path)
		}
		return s.registerBootstrap(ctx, tok, path, log)
	case !errors.Is(err, os.ErrNotExist):
		return fmt.Errorf("store: read admin token: %w", err)
	}
	tok := store.NewSecret()
	tmp, err := writeSecretFile(path, tok)
	if err != nil {
		return err
	}
	if err := s.registerBootstrap(ctx, tok, path, log); err != nil {
		os.Remove(tmp)
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("store: admin token file: %w", err)
	}
	log.Info("store: admin token written", "path", path)
	return nil
}

// registerBootstrap registers tok as a bootstrap token unless known.
func (s *Store) registerBootstrap(ctx context.Context, tok, path string, log *slog.Logger) error {
	return s.core.InTx(ctx, func(tx *sql.Tx) error {
		var id string
		var revoked int64
		err := tx.QueryRowContext(ctx, `SELECT id, revoked_ns FROM tokens WHERE sha256 = $1`, store.TokenHash(tok)).Scan(&id, &revoked)
		if err == nil {
			if revoked != 0 {
				log.Warn("store: the admin token in the file is revoked: rotate it (kinline-central rotate-admin-token) or sign in as a user", "path", path, "token", id)
			}
			return nil
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("store: read token: %w", err)
		}
		if err := s.ensureBootstrapUser(ctx, tx, "bootstrap"); err != nil {
			return err
		}
		name := "admin"
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM tokens WHERE owner = $1 AND name = $2 AND revoked_ns = 0`, BootstrapUserID, name).Scan(&n); err != nil {
			return fmt.Errorf("store: read token: %w", err)
		}
		if n > 0 {
			name = "admin-" + store.TokenHash(tok)[:8]
		}
		return s.insertToken(ctx, tx, "bootstrap", tokenRow{id: store.NewID("t_"), secret: tok, name: name, role: store.RoleSystemAdmin, owner: BootstrapUserID, bootstrap: true})
	})
}

// RotateAdminToken replaces the bootstrap token: it revokes every bootstrap
// token not yet revoked (ending their console sessions), registers a new
// one and writes it to path (mode 0600, replacing the file only once the
// database has the new token), audited as actor.
func (s *Store) RotateAdminToken(ctx context.Context, actor, path string) error {
	tok := store.NewSecret()
	tmp, err := writeSecretFile(path, tok)
	if err != nil {
		return err
	}
	err = s.core.InTx(ctx, func(tx *sql.Tx) error {
		if err := s.ensureBootstrapUser(ctx, tx, actor); err != nil {
			return err
		}
		rows, err := tx.QueryContext(ctx, `SELECT id FROM tokens WHERE bootstrap = 1 AND revoked_ns = 0`)
		if err != nil {
			return fmt.Errorf("store: bootstrap tokens: %w", err)
		}
		var old []string
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				rows.Close()
				return fmt.Errorf("store: bootstrap tokens: %w", err)
			}
			old = append(old, id)
		}
		rows.Close()
		for _, id := range old {
			if err := s.revokeTx(ctx, tx, actor, id, "rotated"); err != nil {
				return err
			}
		}
		id := store.NewID("t_")
		if err := s.insertToken(ctx, tx, actor, tokenRow{id: id, secret: tok, name: "admin", role: store.RoleSystemAdmin, owner: BootstrapUserID, bootstrap: true}); err != nil {
			return err
		}
		return s.core.AuditTx(ctx, tx, actor, "token.rotate", id, fmt.Sprintf("bootstrap token rotated, %d revoked, file %s", len(old), path))
	})
	if err != nil {
		os.Remove(tmp)
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("store: the new admin token is in %s but could not replace %s: %w", tmp, path, err)
	}
	return nil
}

// writeSecretFile writes tok to a new file beside path (mode 0600, its
// directory 0700 when made) and returns its name.
func writeSecretFile(path, tok string) (string, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return "", fmt.Errorf("store: admin token directory: %w", err)
	}
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".new-*")
	if err != nil {
		return "", fmt.Errorf("store: admin token file: %w", err)
	}
	err = f.Chmod(0o600)
	if err == nil {
		_, err = f.WriteString(tok + "\n")
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(f.Name())
		return "", fmt.Errorf("store: admin token file: %w", err)
	}
	return f.Name(), nil
}
