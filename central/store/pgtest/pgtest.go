// Package pgtest runs a package's tests against a real, throwaway
// PostgreSQL server, so that everything tested on central's default SQLite
// store is also tested on PostgreSQL.
//
// A package opts in with one test, which runs the package's whole test
// binary a second time in PostgreSQL mode (see Suite):
//
//	func TestPostgres(t *testing.T) { pgtest.Suite(t) }
//
// and by opening its stores through a helper that asks DSN for a fresh
// database whenever Enabled reports PostgreSQL mode (central/store's own
// helpers, and storetest.Database for other packages).
//
// The server is initdb'd into a private temporary directory and listens
// only on a unix socket there (no TCP port, so it cannot clash with a
// system cluster on 5432), with fsync off. PostgreSQL refuses to run as
// root; as root the server runs as the "postgres" user (or "nobody"). The
// binaries are found in $KINLINE_PG_BIN, the newest
// /usr/lib/postgresql/*/bin, or PATH. Without them Suite (and Need)
// skips with "SKIP: postgresql not installed", and fails instead when
// KINLINE_REQUIRE_PEERS=1 (as .ci/run sets): testkit.MissingPeer.
package pgtest

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" driver
)

// ErrNotInstalled says the PostgreSQL server binaries were not found.
var ErrNotInstalled = errors.New("pgtest: postgresql not installed (Debian package postgresql)")

// Database is the database each server creates; tests get schemas in it.
const Database = "kinline"

// superuser is the cluster's superuser (initdb -U), trusted on the socket.
const superuser = "kinline"

// BinDir returns the directory holding initdb and postgres.
func BinDir() (string, error) {
	has := func(dir string) bool {
		for _, b := range []string{"initdb", "postgres"} {
			if fi, err := os.Stat(filepath.Join(dir, b)); err != nil || fi.IsDir() {
				return false
			}
		}
		return true
	}
	if d := os.Getenv("KINLINE_PG_BIN"); d != "" {
		if !has(d) {
			return "", fmt.Errorf("%w: no initdb and postgres in KINLINE_PG_BIN=%s", ErrNotInstalled, d)
		}
		return d, nil
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool { return pgMajor(dirs[i]) > pgMajor(dirs[j]) })
	for _, d := range dirs {
		if has(d) {
			return d, nil
		}
	}
	if p, err := exec.LookPath("initdb"); err == nil && has(filepath.Dir(p)) {
		return filepath.Dir(p), nil
	}
	return "", ErrNotInstalled
}

// pgMajor is the version number in /usr/lib/postgresql/<N>/bin (0 if none).
func pgMajor(binDir string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	return n
}

// Server is a running throwaway PostgreSQL server.
type Server struct {
	dir     string // private directory: data/, the socket, server.log
	port    int    // names the socket file (.s.PGSQL.<port>)
	cmd     *exec.Cmd
	exited  chan struct{}
	waitErr error
	// Version is the server's version string.
	Version string
}

// Start initializes a cluster in a new temporary directory, starts the
// server and creates Database. Stop removes it all.
func Start(ctx context.Context) (*Server, error) {
	bin, err := BinDir()
	if err != nil {
		return nil, err
	}
	cred, err := serverUser()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "kinline-pg-")
	if err != nil {
		return nil, fmt.Errorf("pgtest: %w", err)
	}
	s := &Server{dir: dir, port: 5432, exited: make(chan struct{})}
	fail := func(err error) (*Server, error) {
		s.Stop()
		return nil, err
	}
	if cred != nil {
		if err := os.Chown(dir, int(cred.Uid), int(cred.Gid)); err != nil {
			return fail(fmt.Errorf("pgtest: chown %s: %w", dir, err))
		}
	}
	data := filepath.Join(dir, "data")
	initdb := exec.CommandContext(ctx, filepath.Join(bin, "initdb"), "-D", data, "-U", superuser, "-A", "trust",
		"-E", "UTF8", "--locale=C", "--no-sync", "--no-instructions")
	initdb.Dir, initdb.Env, initdb.SysProcAttr = dir, serverEnv(), &syscall.SysProcAttr{Credential: cred}
	if out, err := initdb.CombinedOutput(); err != nil {
		return fail(fmt.Errorf("pgtest: initdb: %w\n%s", err, out))
	}
	logf, err := os.Create(filepath.Join(dir, "server.log"))
	if err != nil {
		return fail(fmt.Errorf("pgtest: %w", err))
	}
	defer logf.Close()
	// Durability is not what these servers are for: fsync and the
	// commit flush are off. Only the unix socket in dir listens.
	s.cmd = exec.Command(filepath.Join(bin, "postgres"), "-D", data,
		"-c", "listen_addresses=", "-c", "unix_socket_directories="+dir, "-c", "port="+strconv.Itoa(s.port),
		"-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
		"-c", "max_connections=300", "-c", "shared_buffers=32MB", "-c", "log_min_messages=warning")
	s.cmd.Dir, s.cmd.Env, s.cmd.Stdout, s.cmd.Stderr = dir, serverEnv(), logf, logf
	// The server dies with the test binary, even when it is killed.
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred, Pdeathsig: syscall.SIGQUIT}
	if err := s.cmd.Start(); err != nil {
		return fail(fmt.Errorf("pgtest: start postgres: %w", err))
	}
	go func() {
		s.waitErr = s.cmd.Wait()
		close(s.exited)
	}()
	admin, err := sql.Open("pgx", s.dsn("postgres", ""))
	if err != nil {
		return fail(fmt.Errorf("pgtest: %w", err))
	}
	defer admin.Close()
	deadline := time.Now().Add(60 * time.Second)
	for {
		err = admin.QueryRowContext(ctx, `SELECT version()`).Scan(&s.Version)
		if err == nil {
			break
		}
		select {
		case <-s.exited:
			return fail(fmt.Errorf("pgtest: postgres exited (%v): %s", s.waitErr, s.logTail()))
		case <-ctx.Done():
			return fail(fmt.Errorf("pgtest: waiting for postgres: %w", ctx.Err()))
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fail(fmt.Errorf("pgtest: postgres did not accept connections: %w: %s", err, s.logTail()))
		}
	}
	if _, err := admin.ExecContext(ctx, `CREATE DATABASE `+Database); err != nil {
		return fail(fmt.Errorf("pgtest: create database: %w", err))
	}
	return s, nil
}

// DSN is the connection string of Database on this server (key=value
// form, over the unix socket).
func (s *Server) DSN() string { return s.dsn(Database, "") }

func (s *Server) dsn(db, schema string) string {
	d := fmt.Sprintf("host=%s port=%d user=%s dbname=%s sslmode=disable", s.dir, s.port, superuser, db)
	if schema != "" {
		d += " search_path=" + schema
	}
	return d
}

// Stop shuts the server down (fast shutdown) and removes its directory.
func (s *Server) Stop() error {
	var err error
	if s.cmd != nil && s.cmd.Process != nil {
		s.cmd.Process.Signal(syscall.SIGINT)
		select {
		case <-s.exited:
		case <-time.After(20 * time.Second):
			s.cmd.Process.Kill()
			<-s.exited
			err = errors.New("pgtest: postgres did not stop within 20s; killed")
		}
	}
	if rmErr := os.RemoveAll(s.dir); rmErr != nil && err == nil {
		err = fmt.Errorf("pgtest: %w", rmErr)
	}
	return err
}

func (s *Server) logTail() string {
	b, _ := os.ReadFile(filepath.Join(s.dir, "server.log"))
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}

// serverUser is who runs initdb and postgres: nil (this process's user)
// unless that is root, which PostgreSQL refuses.
func serverUser() (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	for _, name := range []string{"postgres", "nobody"} {
		u, err := user.Lookup(name)
		if err != nil {
			continue
		}
		uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
		gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
		if err1 != nil || err2 != nil {
			continue
		}
		return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), NoSetGroups: true}, nil
	}
	return nil, errors.New("pgtest: running as root and neither a postgres nor a nobody user exists to run the server")
}

func serverEnv() []string {
	return []string{"PATH=/usr/bin:/bin", "LANG=C", "LC_ALL=C", "TZ=UTC"}
}

// The PostgreSQL mode of a test binary (see Suite): envDSN holds the
// server's DSN.
const (
	envDSN = "KINLINE_TEST_PG_DSN"
	// EnvRun narrows the tests Suite runs on PostgreSQL (a -run pattern;
	// default: all).
	EnvRun = "KINLINE_TEST_PG_RUN"
)

// Enabled reports whether this test binary runs in PostgreSQL mode.
func Enabled() bool { return os.Getenv(envDSN) != "" }

var admin struct {
	once sync.Once
	db   *sql.DB
	err  error
	mu   sync.Mutex
	n    int
	keys map[string]string
}

// DSN returns the connection string of a new, empty database (a schema of
// its own in the server's Database) for t; it fails t outside PostgreSQL
// mode.
func DSN(t testing.TB) string {
	t.Helper()
	return dsnFor(t, "")
}

// DSNFor is DSN, except that every call with the same key (in this test
// binary) returns the same database: a test that reopens its store (say
// by the SQLite file's path) reopens the same data.
func DSNFor(t testing.TB, key string) string {
	t.Helper()
	return dsnFor(t, key)
}

func dsnFor(t testing.TB, key string) string {
	t.Helper()
	base := os.Getenv(envDSN)
	if base == "" {
		t.Fatal("pgtest: not in PostgreSQL mode (run through pgtest.Suite)")
	}
	admin.mu.Lock()
	defer admin.mu.Unlock()
	if d, ok := admin.keys[key]; ok && key != "" {
		return d
	}
	admin.once.Do(func() { admin.db, admin.err = sql.Open("pgx", base) })
	if admin.err != nil {
		t.Fatalf("pgtest: %v", admin.err)
	}
	admin.n++
	schema := fmt.Sprintf("%s_%d", schemaName(t.Name()), admin.n)
	if _, err := admin.db.Exec(`CREATE SCHEMA ` + schema); err != nil {
		t.Fatalf("pgtest: create schema %s: %v", schema, err)
	}
	d := base + " search_path=" + schema
	if key != "" {
		if admin.keys == nil {
			admin.keys = map[string]string{}
		}
		admin.keys[key] = d
	}
	return d
}

// schemaName turns a test name into a schema name prefix (lower-case
// letters, digits and underscores, at most 40 characters).
func schemaName(test string) string {
	var b strings.Builder
	b.WriteString("t_")
	for _, r := range strings.ToLower(test) {
		if b.Len() >= 40 {
			break
		}
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
	}
	return b.String()
}
