package api

import (
	"net"
	"net/http"
	"strings"
)

// allowedHost refuses, with 403, a request whose Host header names the
// dashboard by a DNS name other than localhost. This is the defense against
// DNS rebinding, which the Origin check cannot stop on its own: a page on
// evil.example makes its own name resolve to 127.0.0.1 once it has loaded,
// and the browser then sends that page's requests to the dashboard as
// same-origin ones, Host and Origin both "evil.example:7070". A person
// opening the dashboard names it by an IP address or localhost, which no
// other site can take over; an IP literal cannot be rebound.
func allowedHost(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !hostAllowed(r.Host) {
			writeError(w, http.StatusForbidden, "host not allowed: open the dashboard by IP address (http://127.0.0.1:port/) or as localhost; other names are refused against DNS rebinding")
			return
		}
		next.ServeHTTP(w, r)
	})
}

// hostAllowed reports whether host (a Host header: name or IP, optional
// port) is an IP literal, "localhost", or a name under .localhost, which
// browsers resolve to loopback themselves (RFC 6761 §6.3). An empty Host
// (an HTTP/1.0 client) is allowed: browsers always send one.
func hostAllowed(host string) bool {
	if host == "" {
		return true
	}
	h := host
	if name, _, err := net.SplitHostPort(host); err == nil {
		h = name
	} else if strings.HasPrefix(h, "[") && strings.HasSuffix(h, "]") {
		h = h[1 : len(h)-1]
	}
	if net.ParseIP(h) != nil {
		return true
	}
	h = strings.ToLower(strings.TrimSuffix(h, "."))
	return h == "localhost" || strings.HasSuffix(h, ".localhost")
}
