// Package assets serves the console's static files: its one stylesheet
// (console.css, the design system docs/CONSOLE-STYLE.md describes) and
// its small same-origin scripts, embedded in the binary. Pages link them
// by Path, which carries a hash of the content, so a browser may cache
// them for a year: a new build changes the address. The console's
// Content-Security-Policy (style-src 'self', script-src 'self') allows
// them and nothing inline.
package assets

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
	"net/http"
	"path"
	"strings"
	"time"
)

//go:embed files
var files embed.FS

// Prefix is where the files are served.
const Prefix = "/static/"

type asset struct {
	body  []byte
	ctype string
	hash  string // the first 12 hex digits of the content's SHA-256
}

var all = load()

func load() map[string]asset {
	out := map[string]asset{}
	names, err := fs.Glob(files, "files/*")
	if err != nil {
		panic(err) // the pattern is constant
	}
	for _, n := range names {
		b, err := files.ReadFile(n)
		if err != nil {
			panic(err) // embedded at build time
		}
		sum := sha256.Sum256(b)
		ct := "text/css; charset=utf-8"
		if strings.HasSuffix(n, ".js") {
			ct = "text/javascript; charset=utf-8"
		}
		out[path.Base(n)] = asset{body: b, ctype: ct, hash: hex.EncodeToString(sum[:6])}
	}
	return out
}

// Path is the address of the file name, versioned by its content (for
// the templates' "asset" function). An unknown name panics at template
// execution, which the console's tests catch.
func Path(name string) string {
	a, ok := all[name]
	if !ok {
		panic("assets: no file " + name)
	}
	return Prefix + name + "?v=" + a.hash
}

// Names lists the files served.
func Names() []string {
	out := make([]string, 0, len(all))
	for n := range all {
		out = append(out, n)
	}
	return out
}

// Handler serves the files under Prefix to anyone (they hold nothing
// private: the sign-in page needs the stylesheet too). A request with
// the current version is cacheable for a year; any other for a minute.
func Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a, ok := all[strings.TrimPrefix(r.URL.Path, Prefix)]
		if !ok {
			http.NotFound(w, r)
			return
		}
		h := w.Header()
		h.Set("Content-Type", a.ctype)
		h.Set("ETag", `"`+a.hash+`"`)
		if r.URL.Query().Get("v") == a.hash {
			h.Set("Cache-Control", "public, max-age=31536000, immutable")
		} else {
			h.Set("Cache-Control", "public, max-age=60")
		}
		http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(a.body))
	})
}
