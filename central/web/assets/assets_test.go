package assets

import (
	"math"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// The design tokens' text colours meet WCAG AA (4.5:1) on the
// backgrounds they are used on, in the light and the dark theme.
func TestTokenContrastWCAGAA(t *testing.T) {
	css := string(all["console.css"].body)
	dark := strings.Index(css, "@media (prefers-color-scheme: dark)")
	if dark < 0 {
		t.Fatal("no dark theme")
	}
	pairs := [][2]string{{"fg", "bg"}, {"fg", "surface"}, {"muted", "bg"}, {"muted", "surface"}, {"accent", "bg"}, {"accent", "surface"},
		{"accent-fg", "accent"}, {"danger-fg", "danger"}, {"danger", "danger-soft"}, {"warn", "warn-soft"}, {"ok", "ok-soft"},
		{"fg", "accent-soft"}, {"muted", "accent-soft"}, {"accent", "accent-soft"}, {"header-fg", "header-bg"}, {"header-link", "header-bg"},
		{"fg", "warn-soft"}, {"danger", "surface"}, {"warn", "surface"}}
	for theme, block := range map[string]string{"light": css[:dark], "dark": css[dark:]} {
		tok := tokens(block)
		for _, p := range pairs {
			fg, ok1 := tok[p[0]]
			bg, ok2 := tok[p[1]]
			if !ok1 || !ok2 {
				t.Fatalf("%s theme lacks --%s or --%s", theme, p[0], p[1])
			}
			if r := contrast(fg, bg); r < 4.5 {
				t.Errorf("%s theme: --%s on --%s is %.2f:1, under 4.5:1", theme, p[0], p[1], r)
			}
		}
	}
}

// tokens reads the first :root block's --name: #rrggbb tokens.
func tokens(css string) map[string]string {
	i := strings.Index(css, ":root {")
	j := strings.Index(css[i:], "}")
	out := map[string]string{}
	for _, m := range regexp.MustCompile(`--([a-z-]+):\s*(#[0-9a-fA-F]{6})`).FindAllStringSubmatch(css[i:i+j], -1) {
		out[m[1]] = m[2]
	}
	return out
}

func luminance(hex string) float64 {
	var c [3]float64
	for k := range c {
		v, _ := strconv.ParseUint(hex[1+2*k:3+2*k], 16, 8)
		s := float64(v) / 255
		if s <= 0.04045 {
			c[k] = s / 12.92
		} else {
			c[k] = math.Pow((s+0.055)/1.055, 2.4)
		}
	}
	return 0.2126*c[0] + 0.7152*c[1] + 0.0722*c[2]
}

func contrast(a, b string) float64 {
	la, lb := luminance(a), luminance(b)
	return (math.Max(la, lb) + 0.05) / (math.Min(la, lb) + 0.05)
}

func TestHandler(t *testing.T) {
	srv := httptest.NewServer(Handler())
	defer srv.Close()
	for _, n := range Names() {
		resp, err := http.Get(srv.URL + Path(n))
		if err != nil || resp.StatusCode != 200 || resp.Header.Get("Cache-Control") != "public, max-age=31536000, immutable" {
			t.Fatalf("%s: %v %v", n, resp, err)
		}
		resp.Body.Close()
	}
	if resp, _ := http.Get(srv.URL + "/static/nothing.css"); resp.StatusCode != 404 {
		t.Fatalf("unknown file: %d", resp.StatusCode)
	}
	if !strings.Contains(Path("calls_live.js"), "?v=") || all["calls_live.js"].ctype != "text/javascript; charset=utf-8" {
		t.Fatal("script path or type")
	}
}
