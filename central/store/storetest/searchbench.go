package storetest

import (
	"context"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kinline/kinline/central/store"
	"github.com/kinline/kinline/central/store/pgtest"
	"github.com/kinline/kinline/shared/wire"
)

// The call search benchmark's data set: 1,000,000 calls over 2025 by
// 2,000 people in 4 blocks (10 contacts each, 5 officers per block),
// seeded once per test binary run into a database file that every
// benchmark invocation reuses (go test runs a benchmark function several
// times: once to size b.N, then for the measurement) and that
// RemoveBenchDB removes at the end of the run. BenchmarkCallSearch
// (central/store) and BenchmarkCallStats (central/store/reports) run on it.
const (
	benchCalls       = 1_000_000
	benchPeople      = 2_000
	benchContacts    = 10
	benchOfficers    = 5
	benchTerminals   = 20
	benchYearSeconds = 365 * 24 * 3600
)

var (
	benchBlocks   = []string{"A", "B", "C", "D"}
	benchFirst    = []string{"Adam", "Ben", "Carl", "Dan", "Eli", "Finn", "Gus", "Hal", "Ivan", "Joe", "Kai", "Leo", "Max", "Ned", "Oli", "Pat", "Ray", "Sam", "Tom", "Vic"}
	benchLast     = []string{"Smith", "Jones", "Brown", "Taylor", "Wilson", "Davies", "Evans", "Thomas", "Johnson", "Roberts", "Walker", "Wright", "Thompson", "White", "Hughes", "Edwards", "Green", "Hall", "Wood", "Harris", "Lewis", "Martin", "Jackson", "Clarke", "Clark", "Turner", "Hill", "Scott", "Cooper", "Morris", "Ward", "Moore", "King", "Watson", "Baker", "Harrison", "Morgan", "Patel", "Young", "Allen", "Mitchell", "James", "Anderson", "Phillips", "Lee", "Bell", "Parker", "Davis", "Kelly", "Price"}
	benchRefusals = []string{"number not approved", "outside calling hours", "insufficient balance", "daily call limit reached", "person suspended", "number blocked"}
)

var benchDB struct {
	once sync.Once
	dir  string // removed by TestMain
	path string
	err  error
}

// RemoveBenchDB removes the benchmark's database (when it made one in a
// temporary directory); a package that benchmarks on it calls it from its
// TestMain after the run.
func RemoveBenchDB() {
	if benchDB.dir != "" {
		os.RemoveAll(benchDB.dir)
	}
}

// BenchPerson is person i of the data set.
func BenchPerson(i int) (id, prisonNumber, name, block string) {
	block = benchBlocks[i%len(benchBlocks)]
	return fmt.Sprintf("pb%05d", i), fmt.Sprintf("%s%05d", block, i), benchFirst[i%len(benchFirst)] + " " + benchLast[(i/len(benchFirst))%len(benchLast)], block
}

// BenchNumber is contact j of person i's number.
func BenchNumber(i, j int) string { return fmt.Sprintf("+447%04d%05d", j, i) }

// seedSearchDB writes the data set into a new database at path, calls
// with multi-row INSERTs in one transaction. The INSERT uses SQLite's
// positional "?" (as eventlog/events.go does for bulk rows): modernc.org/sqlite
// looks every "$N" up by name when binding, which made seeding 4 minutes.
func seedSearchDB(path string) error {
	ctx := context.Background()
	s, err := store.Open(ctx, path, filepath.Join(filepath.Dir(path), "rec"), nil)
	if err != nil {
		return err
	}
	defer s.Close()
	if _, err := s.ExecUnserialized(ctx, `PRAGMA cache_size = -262144`); err != nil {
		return err
	}
	return s.InTx(ctx, func(tx *sql.Tx) error {
		exec := txExec(ctx, tx)
		if err := seedPeople(exec); err != nil {
			return err
		}
		// The calls indexes are dropped and built again after the rows are
		// in: sorting once is minutes faster than updating nine indexes
		// row by row (SQLite only, like this benchmark's target).
		indexes, err := callIndexes(ctx, tx)
		if err != nil {
			return err
		}
		for _, ix := range indexes {
			if err := exec(`DROP INDEX ` + ix[0]); err != nil {
				return err
			}
		}
		if err := seedCalls(ctx, tx); err != nil {
			return err
		}
		for _, ix := range indexes {
			if err := exec(ix[1]); err != nil {
				return err
			}
		}
		return nil
	})
}

// txExec runs a statement in tx, the error naming it.
func txExec(ctx context.Context, tx *sql.Tx) func(q string, args ...any) error {
	return func(q string, args ...any) error {
		if _, err := tx.ExecContext(ctx, q, args...); err != nil {
			return fmt.Errorf("%s: %w", q, err)
		}
		return nil
	}
}

// seedPeople writes the blocks, their appliances and officers, the people
// and their contacts.
func seedPeople(exec func(q string, args ...any) error) error {
	for _, b := range benchBlocks {
		if err := exec(`INSERT INTO blocks (name, policy_version, created_ns) VALUES ($1, 1, 0)`, b); err != nil {
			return err
		}
		if err := exec(`INSERT INTO appliances (id, block, created_ns) VALUES ($1, $2, 0)`, "app"+b, b); err != nil {
			return err
		}
		for o := 0; o < benchOfficers; o++ {
			if err := exec(`INSERT INTO people (id, prison_number, name, block, status, officer, created_ns, updated_ns) VALUES ($1, $2, $3, $4, 'active', 1, 0, 0)`,
				fmt.Sprintf("off%s%d", b, o), fmt.Sprintf("S%s%d", b, o), "Officer "+benchLast[o], b); err != nil {
				return err
			}
		}
	}
	for i := 0; i < benchPeople; i++ {
		id, pn, name, block := BenchPerson(i)
		if err := exec(`INSERT INTO people (id, prison_number, name, block, status, created_ns, updated_ns) VALUES ($1, $2, $3, $4, 'active', 0, 0)`, id, pn, name, block); err != nil {
			return err
		}
		for j := 0; j < benchContacts; j++ {
			if err := exec(`INSERT INTO contacts (id, person_id, number, name, relationship, status, privileged, created_ns) VALUES ($1, $2, $3, $4, 'family', 'approved', $5, 0)`,
				fmt.Sprintf("k%05d_%d", i, j), id, BenchNumber(i, j), benchFirst[(i+j)%len(benchFirst)]+" "+benchLast[(i+7*j)%len(benchLast)], store.BoolInt(j == 9)); err != nil {
				return err
			}
		}
	}
	return nil
}

// callIndexes are the calls table's indexes: name and CREATE statement.
func callIndexes(ctx context.Context, tx *sql.Tx) ([][2]string, error) {
	rows, err := tx.QueryContext(ctx, `SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'calls' AND sql IS NOT NULL`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var indexes [][2]string
	for rows.Next() {
		var ix [2]string
		if err := rows.Scan(&ix[0], &ix[1]); err != nil {
			return nil, err
		}
		indexes = append(indexes, ix)
	}
	return indexes, nil
}

// benchCallCols is the number of columns of a seeded call row.
const benchCallCols = 24

// seedCalls writes the benchCalls calls, 20 rows a statement.
func seedCalls(ctx context.Context, tx *sql.Tx) error {
	const perStmt = 20
	var head strings.Builder
	head.WriteString(`INSERT INTO calls (call_id, appliance_id, seq, block, person_id, prison_number, card_uid, terminal, number,
			start_ns, answer_ns, end_ns, disposition, reason, recording_id, recording_sha256, recording_bytes, recording_format,
			officer_id, confirm_method, ended_by, privileged, hidden, cost) VALUES `)
	for r := 0; r < perStmt; r++ {
		if r > 0 {
			head.WriteByte(',')
		}
		head.WriteByte('(')
		for c := 0; c < benchCallCols; c++ {
			if c > 0 {
				head.WriteByte(',')
			}
			head.WriteByte('?')
		}
		head.WriteByte(')')
	}
	stmt, err := tx.PrepareContext(ctx, head.String())
	if err != nil {
		return err
	}
	defer stmt.Close()
	g := &benchCallGen{rng: rand.New(rand.NewPCG(1, 2)), seq: map[string]int64{},
		base: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC), step: int64(benchYearSeconds) * int64(time.Second) / benchCalls}
	args := make([]any, 0, benchCallCols*perStmt)
	for n := 0; n < benchCalls; n++ {
		args = g.appendCall(args, n)
		if len(args) == benchCallCols*perStmt {
			if _, err := stmt.ExecContext(ctx, args...); err != nil {
				return err
			}
			args = args[:0]
		}
	}
	return nil
}

// benchCallGen makes the seeded calls: random (from a fixed seed) people,
// numbers, dispositions and officers, spread over the year from base.
type benchCallGen struct {
	rng  *rand.Rand
	seq  map[string]int64 // the appliances' last seq
	base time.Time
	step int64 // nanoseconds between calls
}

// appendCall appends call n's row (benchCallCols values) to args.
func (g *benchCallGen) appendCall(args []any, n int) []any {
	rng := g.rng
	i := rng.IntN(benchPeople)
	id, pn, _, block := BenchPerson(i)
	if rng.IntN(50) == 0 {
		id = "" // a record that names only the prison number
	}
	j := rng.IntN(benchContacts)
	num := BenchNumber(i, j)
	disp, reason := wire.DispCompleted, ""
	switch d := rng.IntN(100); {
	case d < 12:
		disp, reason = wire.DispRefused, benchRefusals[rng.IntN(len(benchRefusals))]
		if rng.IntN(3) == 0 {
			num = fmt.Sprintf("+449%09d", rng.IntN(1_000_000_000))
		}
	case d < 20:
		disp = wire.DispNoAnswer
	case d < 25:
		disp = wire.DispBusy
	case d < 27:
		disp = wire.DispLimited
	case d < 28:
		disp = wire.DispEnded
	}
	start := g.base.UnixNano() + int64(n)*g.step + rng.Int64N(g.step)
	var answer any
	end := start + int64(2*time.Second)
	var recSHA, recFmt, officer, endedBy string
	var recBytes, cost int64
	priv := j == 9
	if disp == wire.DispCompleted || disp == wire.DispLimited || disp == wire.DispEnded {
		a := start + int64(8*time.Second)
		answer = a
		talk := int64(30+rng.IntN(870)) * int64(time.Second)
		end = a + talk
		cost = talk / int64(time.Minute) * 10
		if !priv {
			recSHA, recFmt, recBytes = fmt.Sprintf("%064x", n), "wav/pcmu-stereo", talk/int64(time.Second)*16000
		}
	}
	if rng.IntN(10) == 0 {
		officer = fmt.Sprintf("off%s%d", block, rng.IntN(benchOfficers))
	}
	if disp == wire.DispEnded {
		endedBy = fmt.Sprintf("off%s%d", block, rng.IntN(benchOfficers))
	}
	app := "app" + block
	g.seq[app]++
	return append(args, fmt.Sprintf("bc%07d", n), app, g.seq[app], block, id, pn, fmt.Sprintf("04%08X", i),
		fmt.Sprintf("t%d", rng.IntN(benchTerminals)+1), num, start, answer, end, disp, reason,
		"", recSHA, recBytes, recFmt, officer, "", endedBy, store.BoolInt(priv), store.BoolInt(rng.IntN(200) == 0), cost)
}

// BenchStore opens the seeded database, seeding it at the first call.
func BenchStore(b *testing.B) *store.Store {
	b.Helper()
	if pgtest.Enabled() {
		b.Skip("the 100 ms target and the bulk seeding (sqlite_master, \"?\" placeholders) are SQLite's")
	}
	benchDB.once.Do(func() {
		// KINLINE_SEARCH_BENCH_DIR keeps the database there across runs
		// (seeded when missing), for working on the queries.
		dir := os.Getenv("KINLINE_SEARCH_BENCH_DIR")
		if dir == "" {
			if dir, benchDB.err = os.MkdirTemp("", "kinline-search-bench-"); benchDB.err != nil {
				return
			}
			benchDB.dir = dir
		}
		benchDB.path = filepath.Join(dir, "central.db")
		if _, err := os.Stat(benchDB.path); err == nil {
			return
		}
		start := time.Now()
		if benchDB.err = seedSearchDB(benchDB.path + ".seed"); benchDB.err == nil {
			benchDB.err = os.Rename(benchDB.path+".seed", benchDB.path)
		}
		b.Logf("seeded %d calls in %v", benchCalls, time.Since(start).Round(time.Millisecond))
	})
	if benchDB.err != nil {
		b.Fatal(benchDB.err)
	}
	s, err := store.Open(context.Background(), benchDB.path, filepath.Join(filepath.Dir(benchDB.path), "rec"), nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	return s
}
