package api

import (
	"net/http"
	"net/url"
	"strings"
)

// sameOrigin reports whether r may drive or read the dashboard: it carries
// no Origin (curl, a same-origin GET), or its Origin's host is the host the
// request was sent to. Browsers always send Origin on cross-origin requests
// and WebSocket handshakes, and a page cannot forge it, so this keeps other
// sites from using the visitor's browser to reach a local dashboard.
func sameOrigin(r *http.Request) bool {
	origin := r.Header["Origin"]
	if len(origin) == 0 {
		return true
	}
	if len(origin) > 1 {
		return false
	}
	u, err := url.Parse(origin[0])
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return false // includes the opaque origin "null"
	}
	return strings.EqualFold(u.Host, r.Host)
}

// sameOriginOnly refuses cross-origin requests with 403.
func sameOriginOnly(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !sameOrigin(r) {
			writeError(w, http.StatusForbidden, "cross-origin request refused")
			return
		}
		next.ServeHTTP(w, r)
	})
}
