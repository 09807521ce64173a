package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/sockscope/sockscope/engine"
)

// TestLoopbackByDefault: with no flags, both the engine and the dashboard
// bind loopback, so nothing is reachable from another machine unless asked.
func TestLoopbackByDefault(t *testing.T) {
	o, err := parseFlags(nil)
	if err != nil {
		t.Fatal(err)
	}
	if !isLoopback(o.addr) || !isLoopback(o.ui) {
		t.Fatalf("defaults -addr %s -ui %s: want both on loopback", o.addr, o.ui)
	}
}

// TestBannerWarnsOffLoopback: a dashboard or engine bound to anything but
// loopback is announced with a WARNING line naming the address; on loopback
// there is none. (Nothing here binds a non-loopback address: the banner is
// given the address as run would.)
func TestBannerWarnsOffLoopback(t *testing.T) {
	warnings := func(ui string, srv *engine.Server) []string {
		var b bytes.Buffer
		o := options{replay: "t.jsonl", speed: 1}
		if srv != nil {
			o.replay = ""
		}
		banner(&b, o, ui, srv)
		var w []string
		for _, line := range strings.Split(b.String(), "\n") {
			if strings.HasPrefix(line, "WARNING") {
				w = append(w, line)
			}
		}
		return w
	}
	for _, ui := range []string{"0.0.0.0:7070", "[::]:7070", ":7070", "192.0.2.1:7070"} {
		w := warnings(ui, nil)
		if len(w) != 1 || !strings.Contains(w[0], ui) || !strings.Contains(w[0], "anyone") {
			t.Errorf("dashboard on %s: warnings %q, want one naming the address and who can reach it", ui, w)
		}
	}
	for _, ui := range []string{"127.0.0.1:7070", "[::1]:7070", "localhost:7070"} {
		if w := warnings(ui, nil); len(w) != 0 {
			t.Errorf("dashboard on %s: unexpected warnings %q", ui, w)
		}
	}

	// A real engine on loopback: no warning for it either.
	srv := &engine.Server{Addr: "127.0.0.1:0", Logf: t.Logf}
	if _, err := srv.Listen(); err != nil {
		t.Fatal(err)
	}
	defer srv.Shutdown(t.Context())
	if w := warnings("127.0.0.1:7070", srv); len(w) != 0 {
		t.Errorf("engine on %s: unexpected warnings %q", srv.Info().Addr, w)
	}
}
