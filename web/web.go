// Package web serves the dashboard page (package static) with the headers a
// page that shows untrusted request bytes needs: a strict Content Security
// Policy, nosniff, and exact content types for ES modules.
//
// The page itself never turns request data into markup (it uses textContent
// only); the policy is the second wall: even if a bug did, no inline script,
// no foreign script and no plugin could run.
package web

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io/fs"
	"net/http"
	"os"
	"path"
	"strings"
	"sync"
	"time"

	"github.com/sockscope/sockscope/static"
)

// contentTypes maps the extensions the page uses to their types. They are
// fixed here rather than taken from mime.TypeByExtension, whose answer
// depends on the host's /etc/mime.types: a browser refuses to run an ES
// module served as text/plain, and nosniff forbids it from guessing.
var contentTypes = map[string]string{
	".html": "text/html; charset=utf-8",
	".css":  "text/css; charset=utf-8",
	".js":   "text/javascript; charset=utf-8",
	".mjs":  "text/javascript; charset=utf-8",
	".json": "application/json",
	".svg":  "image/svg+xml",
	".png":  "image/png",
	".ico":  "image/x-icon",
	".txt":  "text/plain; charset=utf-8",
}

// Handler returns the handler for the dashboard page. With dev == "" it
// serves the files embedded in the binary (static.FS). With dev naming a
// directory (the repository's static/), it reads them from disk on every
// request, so the page can be edited and reloaded without rebuilding.
// Only GET and HEAD are served; "/" is index.html; there are no directory
// listings.
func Handler(dev string) http.Handler {
	h := &handler{fsys: static.FS, etags: map[string]string{}}
	if dev != "" {
		h.fsys = os.DirFS(dev)
		h.dev = true
	}
	return h
}

type handler struct {
	fsys fs.FS
	dev  bool // reading from disk: no caching of ETags, no-store

	mu    sync.Mutex
	etags map[string]string // embedded file name -> strong ETag
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	setSecurityHeaders(w.Header(), r.Host)
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "web: method not allowed", http.StatusMethodNotAllowed)
		return
	}
	name, ok := fileName(r.URL.Path)
	if !ok {
		http.Error(w, "web: not found", http.StatusNotFound)
		return
	}
	b, err := fs.ReadFile(h.fsys, name)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) || isDirErr(h.fsys, name) {
			http.Error(w, "web: not found", http.StatusNotFound)
			return
		}
		http.Error(w, "web: cannot read "+name, http.StatusInternalServerError)
		return
	}
	ct, ok := contentTypes[path.Ext(name)]
	if !ok {
		ct = "application/octet-stream"
	}
	hd := w.Header()
	hd.Set("Content-Type", ct)
	if h.dev {
		hd.Set("Cache-Control", "no-store")
	} else {
		// Revalidate every time: the files are small, and a presenter who
		// upgrades the binary must not get yesterday's modules.
		hd.Set("Cache-Control", "no-cache")
		hd.Set("ETag", h.etag(name, b))
	}
	// ServeContent answers If-None-Match, HEAD and Range; the zero modtime
	// of embedded files makes it rely on the ETag alone.
	http.ServeContent(w, r, name, time.Time{}, bytes.NewReader(b))
}

// fileName maps a URL path to a file name in the page's FS, refusing
// anything that is not a plain file name in it.
func fileName(p string) (string, bool) {
	p = path.Clean("/" + p)
	if p == "/" || p == "/index.html" {
		return "index.html", true
	}
	name := strings.TrimPrefix(p, "/")
	// Tests, package.json and the Go file are in the directory but not
	// part of the page.
	if !fs.ValidPath(name) || strings.HasPrefix(name, ".") || strings.Contains(name, "/") {
		return "", false
	}
	if _, ok := contentTypes[path.Ext(name)]; !ok || path.Ext(name) == ".json" {
		return "", false
	}
	return name, true
}

func isDirErr(fsys fs.FS, name string) bool {
	st, err := fs.Stat(fsys, name)
	return err == nil && st.IsDir()
}

func (h *handler) etag(name string, b []byte) string {
	h.mu.Lock()
	defer h.mu.Unlock()
	if e, ok := h.etags[name]; ok {
		return e
	}
	sum := sha256.Sum256(b)
	e := `"` + hex.EncodeToString(sum[:12]) + `"`
	h.etags[name] = e
	return e
}

// setSecurityHeaders sets the headers every response of the page carries.
func setSecurityHeaders(h http.Header, host string) {
	h.Set("Content-Security-Policy", CSP(host))
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
	h.Set("Cross-Origin-Resource-Policy", "same-origin")
	h.Set("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
}

// CSP returns the Content-Security-Policy for the page served to host (the
// request's Host header). Scripts, styles, images and fetches are limited
// to the page's own origin; connect-src names the WebSocket of the same
// host explicitly, because older browsers do not let 'self' cover ws:.
// Inline scripts and style attributes are refused: the page has none, and
// a request path shown on the page must never become either.
func CSP(host string) string {
	connect := "'self'"
	if validHost(host) {
		connect += " ws://" + host + " wss://" + host
	}
	return strings.Join([]string{
		"default-src 'self'",
		"script-src 'self'",
		"style-src 'self'",
		"img-src 'self' data:",
		"font-src 'self'",
		"connect-src " + connect,
		"object-src 'none'",
		"base-uri 'none'",
		"form-action 'none'",
		"frame-ancestors 'none'",
	}, "; ")
}

// validHost reports whether host (from the request) is safe to copy into
// the policy: a host name or IP literal and an optional port, nothing that
// could end a directive or add a source.
func validHost(host string) bool {
	if host == "" || len(host) > 255 {
		return false
	}
	for i := 0; i < len(host); i++ {
		c := host[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case c == '.', c == '-', c == ':', c == '[', c == ']', c == '_':
		default:
			return false
		}
	}
	return true
}
