package web

import (
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sockscope/sockscope/static"
)

func get(t *testing.T, h http.Handler, method, target, host string, hdr map[string]string) *http.Response {
	t.Helper()
	req := httptest.NewRequest(method, target, nil)
	if host != "" {
		req.Host = host
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec.Result()
}

func TestContentTypes(t *testing.T) {
	h := Handler("")
	tests := []struct {
		path string // requested
		ct   string // Content-Type expected
		has  string // a piece of the body
	}{
		{"/", "text/html; charset=utf-8", `<script type="module" src="app.js">`},
		{"/index.html", "text/html; charset=utf-8", "<!doctype html>"},
		{"/app.js", "text/javascript; charset=utf-8", "import"},
		{"/layers.js", "text/javascript; charset=utf-8", "export class LayersView"},
		{"/style.css", "text/css; charset=utf-8", ":root"},
		{"/favicon.svg", "image/svg+xml", "<svg"},
	}
	for _, tt := range tests {
		res := get(t, h, "GET", tt.path, "127.0.0.1:7070", nil)
		body, _ := io.ReadAll(res.Body)
		if res.StatusCode != 200 {
			t.Errorf("GET %s: status %d", tt.path, res.StatusCode)
			continue
		}
		if got := res.Header.Get("Content-Type"); got != tt.ct {
			t.Errorf("GET %s: Content-Type %q, want %q", tt.path, got, tt.ct)
		}
		if !strings.Contains(string(body), tt.has) {
			t.Errorf("GET %s: body lacks %q", tt.path, tt.has)
		}
	}
}

// Every module the page imports must be served as JavaScript: a module
// served with another type (or missing) is a blank page in the browser.
func TestEveryModuleServed(t *testing.T) {
	h := Handler("")
	names, err := fsGlob("*.js")
	if err != nil || len(names) < 10 {
		t.Fatalf("embedded modules: %v %v", names, err)
	}
	for _, n := range names {
		res := get(t, h, "GET", "/"+n, "", nil)
		if res.StatusCode != 200 || res.Header.Get("Content-Type") != "text/javascript; charset=utf-8" {
			t.Errorf("GET /%s: %d %q", n, res.StatusCode, res.Header.Get("Content-Type"))
		}
	}
}

func TestSecurityHeaders(t *testing.T) {
	h := Handler("")
	for _, p := range []string{"/", "/app.js", "/style.css", "/nope.js"} {
		res := get(t, h, "GET", p, "127.0.0.1:7070", nil)
		csp := res.Header.Get("Content-Security-Policy")
		for _, want := range []string{
			"default-src 'self'",
			"script-src 'self'",
			"style-src 'self'",
			"connect-src 'self' ws://127.0.0.1:7070 wss://127.0.0.1:7070",
			"object-src 'none'",
			"base-uri 'none'",
			"frame-ancestors 'none'",
		} {
			if !strings.Contains(csp, want) {
				t.Errorf("GET %s: CSP %q lacks %q", p, csp, want)
			}
		}
		if strings.Contains(csp, "unsafe-inline") || strings.Contains(csp, "unsafe-eval") {
			t.Errorf("GET %s: CSP allows inline code: %q", p, csp)
		}
		if got := res.Header.Get("X-Content-Type-Options"); got != "nosniff" {
			t.Errorf("GET %s: X-Content-Type-Options %q", p, got)
		}
		if got := res.Header.Get("X-Frame-Options"); got != "DENY" {
			t.Errorf("GET %s: X-Frame-Options %q", p, got)
		}
	}
}

// A Host header is the client's to choose; it must never add a source or
// a directive to the policy.
func TestCSPHostInjection(t *testing.T) {
	for _, host := range []string{
		"evil.example; script-src *",
		"a b",
		"x,'unsafe-inline'",
		"",
		strings.Repeat("a", 300),
	} {
		csp := CSP(host)
		if strings.Contains(csp, "*") || strings.Contains(csp, "unsafe") || strings.Contains(csp, "evil") {
			t.Errorf("CSP(%q) = %q", host, csp)
		}
		if !strings.Contains(csp, "connect-src 'self';") {
			t.Errorf("CSP(%q): connect-src should be 'self' alone: %q", host, csp)
		}
	}
	if csp := CSP("[::1]:7070"); !strings.Contains(csp, "ws://[::1]:7070") {
		t.Errorf("IPv6 host: %q", csp)
	}
}

func TestNotServed(t *testing.T) {
	h := Handler("")
	for _, p := range []string{
		"/embed.go",     // the Go file beside the page
		"/package.json", // for node's test runner only
		"/test/",        // the node tests
		"/test/format.test.js",
		"/../web/web.go",
		"/nope.html",
		"/.hidden.js",
	} {
		res := get(t, h, "GET", p, "", nil)
		if res.StatusCode != http.StatusNotFound {
			t.Errorf("GET %s: status %d, want 404", p, res.StatusCode)
		}
		if ct := res.Header.Get("Content-Type"); strings.Contains(ct, "javascript") {
			t.Errorf("GET %s: served as %q", p, ct)
		}
	}
}

func TestMethods(t *testing.T) {
	h := Handler("")
	res := get(t, h, "POST", "/", "", nil)
	if res.StatusCode != http.StatusMethodNotAllowed || res.Header.Get("Allow") != "GET, HEAD" {
		t.Errorf("POST /: %d Allow=%q", res.StatusCode, res.Header.Get("Allow"))
	}
	res = get(t, h, "HEAD", "/app.js", "", nil)
	body, _ := io.ReadAll(res.Body)
	if res.StatusCode != 200 || len(body) != 0 || res.Header.Get("Content-Type") != "text/javascript; charset=utf-8" {
		t.Errorf("HEAD /app.js: %d, %d bytes, %q", res.StatusCode, len(body), res.Header.Get("Content-Type"))
	}
}

func TestETag(t *testing.T) {
	h := Handler("")
	res := get(t, h, "GET", "/app.js", "", nil)
	etag := res.Header.Get("ETag")
	if etag == "" || res.Header.Get("Cache-Control") != "no-cache" {
		t.Fatalf("ETag %q, Cache-Control %q", etag, res.Header.Get("Cache-Control"))
	}
	res = get(t, h, "GET", "/app.js", "", map[string]string{"If-None-Match": etag})
	if res.StatusCode != http.StatusNotModified {
		t.Errorf("If-None-Match: status %d, want 304", res.StatusCode)
	}
}

// In dev mode the files come from disk on every request: an edit shows on
// reload, without rebuilding.
func TestDevServesFromDisk(t *testing.T) {
	dir := t.TempDir()
	write := func(name, s string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("index.html", "<!doctype html><p>one</p>")
	write("app.js", "export const v = 1;")
	h := Handler(dir)
	res := get(t, h, "GET", "/", "", nil)
	body, _ := io.ReadAll(res.Body)
	if !strings.Contains(string(body), "one") || res.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("dev GET /: %q, Cache-Control %q", body, res.Header.Get("Cache-Control"))
	}
	write("index.html", "<!doctype html><p>two</p>")
	res = get(t, h, "GET", "/", "", nil)
	body, _ = io.ReadAll(res.Body)
	if !strings.Contains(string(body), "two") {
		t.Errorf("dev GET / after edit: %q", body)
	}
	res = get(t, h, "GET", "/app.js", "", nil)
	if res.Header.Get("Content-Type") != "text/javascript; charset=utf-8" || res.Header.Get("Content-Security-Policy") == "" {
		t.Errorf("dev GET /app.js: %q, CSP %q", res.Header.Get("Content-Type"), res.Header.Get("Content-Security-Policy"))
	}
	if res := get(t, h, "GET", "/style.css", "", nil); res.StatusCode != 404 {
		t.Errorf("dev GET of a missing file: %d", res.StatusCode)
	}
}

// The page must keep to its own policy: no inline scripts, no style
// attributes, no inline event handlers in the HTML.
func TestIndexHasNoInlineCode(t *testing.T) {
	b, err := static.FS.ReadFile("index.html")
	if err != nil {
		t.Fatal(err)
	}
	s := strings.ToLower(string(b))
	for _, bad := range []string{"<script>", "<style", " style=", " onclick=", " onload=", " onerror=", "javascript:"} {
		if strings.Contains(s, bad) {
			t.Errorf("index.html contains %q", bad)
		}
	}
	if strings.Count(s, "<script") != 1 || !strings.Contains(s, `<script type="module" src="app.js"></script>`) {
		t.Errorf("index.html should load exactly one module script, app.js")
	}
}

// No module may build markup from strings: request data goes into text
// nodes only (the page's rule, checked where it would be broken).
func TestModulesUseNoHTMLSinks(t *testing.T) {
	names, err := fsGlob("*.js")
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range names {
		b, err := static.FS.ReadFile(n)
		if err != nil {
			t.Fatal(err)
		}
		for _, sink := range []string{"innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function", "setAttribute('style'", "setAttribute(\"style\""} {
			if strings.Contains(string(b), sink) {
				t.Errorf("%s uses %s", n, sink)
			}
		}
	}
}

func fsGlob(pattern string) ([]string, error) {
	entries, err := static.FS.ReadDir(".")
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range entries {
		if ok, _ := filepath.Match(pattern, e.Name()); ok {
			out = append(out, e.Name())
		}
	}
	return out, nil
}
