package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestExampleParses(t *testing.T) {
	data, err := os.ReadFile("../cmd/kinline-central/example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	c, err := Parse(data)
	if err != nil {
		t.Fatalf("example.yaml: %v", err)
	}
	if !c.MQTT.IsEmbedded() || len(c.Appliances) != 2 || c.Appliances[1].Block != "B" || c.HTTPListen != "127.0.0.1:8080" {
		t.Fatalf("unexpected: %+v", c)
	}
	if c.MetricsListen != "127.0.0.1:9464" || c.LogFormat != "text" {
		t.Fatalf("example metrics_listen %q, log_format %q", c.MetricsListen, c.LogFormat)
	}
	if c.Database != (Database{Driver: DriverSQLite, Path: "/var/lib/kinline-central/central.db"}) {
		t.Fatalf("example database: %+v", c.Database)
	}
	if !c.Console.Secure() || c.Console.SessionTTL != 8*time.Hour || c.Console.SessionIdle != 30*time.Minute {
		t.Fatalf("example console: %+v", c.Console)
	}
	// The example's commented-out PostgreSQL DSN, switched on.
	var dsn string
	for _, l := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(l), "# dsn: "); ok {
			dsn = v
		}
	}
	pg, err := Parse([]byte("database:\n  driver: postgres\n  dsn: " + dsn + "\nappliances: [{id: a1, block: A, password: longenough}]\n"))
	if err != nil || dsn == "" {
		t.Fatalf("example dsn %q: %v", dsn, err)
	}
	if pg.Database.Driver != DriverPostgres || pg.Database.DSN != dsn || pg.Database.Path != "" {
		t.Fatalf("postgres database: %+v", pg.Database)
	}
}

// TestDatabaseDefaults: without a database section central uses SQLite in
// data_dir; Load takes a relative path relative to the config file.
func TestDatabaseDefaults(t *testing.T) {
	c, err := Parse([]byte("data_dir: /srv/k\nappliances: [{id: a1, block: A, password: longenough}]\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c.Database != (Database{Driver: DriverSQLite, Path: "/srv/k/central.db"}) {
		t.Fatalf("default database %+v", c.Database)
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "central.yaml")
	doc := "data_dir: state\ndatabase: {path: db/kinline.db}\nappliances: [{id: a1, block: A, password: longenough}]\n"
	if err := os.WriteFile(path, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	if c, err = Load(path); err != nil {
		t.Fatal(err)
	}
	if c.Database.Path != filepath.Join(dir, "db", "kinline.db") || c.DataDir != filepath.Join(dir, "state") {
		t.Fatalf("relative paths: database %q data_dir %q", c.Database.Path, c.DataDir)
	}
}

func TestInvalid(t *testing.T) {
	for name, doc := range map[string]string{
		"wildcard appliance": "appliances: [{id: 'a/#', block: A, password: longenough}]",
		"short password":     "appliances: [{id: a1, block: A, password: x}]",
		"no block":           "appliances: [{id: a1, password: longenough}]",
		"duplicate":          "appliances: [{id: a1, block: A, password: longenough}, {id: a1, block: B, password: longenough}]",
		"external no url":    "mqtt: {embedded: false}",
		"unknown key":        "colour: blue",
		"unknown driver":     "database: {driver: mysql}",
		"postgres no dsn":    "database: {driver: postgres}",
		"postgres with path": "database: {driver: postgres, dsn: 'host=db', path: /x.db}",
		"sqlite with dsn":    "database: {driver: sqlite, dsn: 'host=db'}",
		"database typo":      "database: {drvier: postgres}",
	} {
		if _, err := Parse([]byte(doc)); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: err = %v, want ErrInvalid", name, err)
		}
	}
}

func TestLogFormatAndMetricsListen(t *testing.T) {
	for _, bad := range []string{
		"log_format: xml\nappliances: [{id: a1, block: A, password: longenough}]\n",
		"http_listen: 127.0.0.1:8080\nmetrics_listen: 127.0.0.1:8080\nappliances: [{id: a1, block: A, password: longenough}]\n",
	} {
		if _, err := Parse([]byte(bad)); !errors.Is(err, ErrInvalid) {
			t.Errorf("%q: %v", bad, err)
		}
	}
	c, err := Parse([]byte("log_format: json\nappliances: [{id: a1, block: A, password: longenough}]\n"))
	if err != nil || c.LogFormat != "json" || c.MetricsListen != "" {
		t.Fatalf("%+v %v", c, err)
	}
}

// TestConsoleSettings: cookies are Secure unless console.secure_cookie is
// false; session durations must be sane.
func TestConsoleSettings(t *testing.T) {
	const apps = "appliances: [{id: a1, block: A, password: longenough}]\n"
	for doc, want := range map[string]bool{"": true, "console: {secure_cookie: true}\n": true, "console: {secure_cookie: false}\n": false} {
		c, err := Parse([]byte(doc + apps))
		if err != nil {
			t.Fatalf("%q: %v", doc, err)
		}
		if c.Console.Secure() != want {
			t.Errorf("%q: Secure() = %v, want %v", doc, c.Console.Secure(), want)
		}
	}
	if c, err := Parse([]byte(apps)); err != nil || c.Console.SignInHint != "" {
		t.Errorf("default sign_in_hint %q (%v), want none", c.Console.SignInHint, err)
	}
	if c, err := Parse([]byte("console: {sign_in_hint: \"Demo: token in .demo/admin-token\"}\n" + apps)); err != nil || c.Console.SignInHint != "Demo: token in .demo/admin-token" {
		t.Errorf("sign_in_hint: %+v %v", c, err)
	}
	for _, doc := range []string{"console: {session_ttl: -1h}\n", "console: {session_idle: -1m}\n",
		"console: {session_ttl: 1h, session_idle: 2h}\n", "console: {secure_cookie: maybe}\n", "console: {securecookie: false}\n"} {
		if _, err := Parse([]byte(doc + apps)); !errors.Is(err, ErrInvalid) {
			t.Errorf("%q: err = %v, want ErrInvalid", doc, err)
		}
	}
}
