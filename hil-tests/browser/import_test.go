package browsertests

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/kinline/kinline/internal/testkit"
	"github.com/kinline/kinline/tools/stack"
)

// importRows is the size of the uploaded file: large enough that the job
// is still running when the page following it is first shown.
const importRows = 6000

// TestImportCSVWithErrors: an administrator uploads a people CSV in which
// two rows are wrong (a missing name, an unknown block), to be imported
// for real. The page follows the job's progress to 100 %, then shows the
// per-row error report; nothing was imported (all or nothing), as the
// People search confirms.
func TestImportCSVWithErrors(t *testing.T) {
	b := newTab(t)
	b.loginOK("ada")

	var sb strings.Builder
	sb.WriteString("prison_number,name,block,language\n")
	for i := 1; i <= importRows; i++ {
		switch i {
		case 4: // spreadsheet row 5
			fmt.Fprintf(&sb, "IMP%05d,,%s,en\n", i, stack.Block)
		case 4500: // row 4501
			fmt.Fprintf(&sb, "IMP%05d,Person %d,Z9,en\n", i, i)
		default:
			fmt.Fprintf(&sb, "IMP%05d,Person %d,%s,en\n", i, i, stack.Block)
		}
	}
	file := filepath.Join(t.TempDir(), "people.csv")
	if err := os.WriteFile(file, []byte(sb.String()), 0o600); err != nil {
		t.Fatal(err)
	}

	if st := b.submit("open Import from the menu", `nav a[href="/import"]`); st != 200 {
		b.failf("Import: HTTP %d", st)
	}
	b.run("choose the file and the mode",
		chromedp.SetValue(chromedp.CSS("#i-kind"), "people"),
		chromedp.SetValue(chromedp.CSS("#i-mode"), "apply"),
		chromedp.SetUploadFiles(chromedp.CSS("#i-file"), []string{file}),
	)
	b.watch("/import/jobs/")
	if st := b.submit("upload", `form[action="/import"] button[type=submit]`); st != 200 {
		b.failf("upload: HTTP %d", st)
	}
	if !b.exists("#import-progress") {
		b.failf("the page shows no progress bar for the running import (the job finished before the page was shown: make the file larger)")
	}
	// The page's script polls the job and reloads when it has finished.
	b.waitFor("wait for the report", `document.readyState === "complete" && document.querySelector("table caption") !== null &&
		document.querySelector("table caption").innerText.includes("Rows with errors")`)

	// What the page's script saw of the progress: non-decreasing, ending
	// at 100 % with the job refused.
	var seen []int
	var last struct {
		State   string `json:"state"`
		Percent int    `json:"percent"`
	}
	// Not a failure on its own if it takes longer: the checks below say
	// what the page saw.
	testkit.Within(stepTimeout, 50*time.Millisecond, func() bool {
		seen = seen[:0]
		for _, body := range b.watchedBodies() {
			if err := json.Unmarshal([]byte(body), &last); err != nil {
				b.failf("progress answer %q: %v", body, err)
			}
			seen = append(seen, last.Percent)
		}
		return len(seen) > 0 && last.State != "running"
	})
	if len(seen) == 0 {
		b.failf("the page never polled the job's progress")
	}
	for i := 1; i < len(seen); i++ {
		if seen[i] < seen[i-1] {
			b.failf("progress went backwards: %v", seen)
		}
	}
	if last.Percent != 100 || last.State != "refused" {
		b.failf("last progress answer: %+v (seen %v)", last, seen)
	}
	t.Logf("progress seen by the page: %v", seen)

	b.wantText(fmt.Sprintf("%d rows read; 2 with errors", importRows), "Nothing was imported")
	rows := b.rows()
	if len(rows) != 2 {
		b.failf("error report rows: %q", rows)
	}
	if !strings.HasPrefix(rows[0], "5\tname") {
		t.Errorf("first error row: %q, want row 5, column name", rows[0])
	}
	if !strings.HasPrefix(rows[1], "4501\tblock") {
		t.Errorf("second error row: %q, want row 4501, column block", rows[1])
	}

	// All or nothing: not even the good rows are there.
	b.open("/people?q=IMP0")
	b.wantText("Nobody matches.")
}
