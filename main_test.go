package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

func TestParseFlags(t *testing.T) {
	tests := []struct {
		args    []string
		wantErr bool
		check   func(options) bool
	}{
		{nil, false, func(o options) bool {
			return o.addr == "127.0.0.1:8080" && o.ui == "127.0.0.1:7070" && o.idleTimeout == 5*time.Second && o.backlog == 128
		}},
		{[]string{"-addr", "127.0.0.1:9000", "-idle-timeout", "2s", "-backlog", "4"}, false, func(o options) bool {
			return o.addr == "127.0.0.1:9000" && o.idleTimeout == 2*time.Second && o.backlog == 4
		}},
		{[]string{"-record", "a", "-replay", "b"}, true, nil}, // one or the other
		{[]string{"-backlog", "0"}, true, nil},
		{[]string{"-speed", "-1"}, true, nil},
		{[]string{"stray"}, true, nil},
		{[]string{"-nope"}, true, nil},
	}
	for _, tt := range tests {
		o, err := parseFlags(tt.args)
		if (err != nil) != tt.wantErr {
			t.Errorf("parseFlags(%q) error = %v, want error %v", tt.args, err, tt.wantErr)
			continue
		}
		if tt.check != nil && !tt.check(o) {
			t.Errorf("parseFlags(%q) = %+v", tt.args, o)
		}
	}
}

func TestIsLoopback(t *testing.T) {
	for addr, want := range map[string]bool{
		"127.0.0.1:8080": true, "[::1]:80": true, "localhost:1": true,
		"0.0.0.0:8080": false, ":8080": false, "192.0.2.1:80": false, "junk": false,
	} {
		if got := isLoopback(addr); got != want {
			t.Errorf("isLoopback(%q) = %v, want %v", addr, got, want)
		}
	}
}

// started is a running sockscope, as the banner announced it.
type started struct {
	engine, ui string
	stop       func() error
}

// start runs sockscope on free loopback ports and reads its banner.
func start(t *testing.T, o options) started {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() { done <- run(ctx, o, pw); pw.Close() }()
	urls := map[string]string{}
	re := regexp.MustCompile(`^(sockscope dashboard|engine \(the server being watched\)): http://([^/]+)/`)
	sc := bufio.NewScanner(pr)
	for sc.Scan() {
		if m := re.FindStringSubmatch(sc.Text()); m != nil {
			urls[m[1]] = m[2]
		}
		if strings.HasPrefix(sc.Text(), "Ctrl-C") || strings.HasPrefix(sc.Text(), "replaying") {
			break
		}
	}
	go io.Copy(io.Discard, pr)
	s := started{engine: urls["engine (the server being watched)"], ui: urls["sockscope dashboard"]}
	if s.ui == "" {
		cancel()
		t.Fatalf("no dashboard URL in the banner; run: %v", <-done)
	}
	stopped := false
	s.stop = func() error {
		if stopped {
			return nil
		}
		stopped = true
		cancel()
		select {
		case err := <-done:
			return err
		case <-time.After(10 * time.Second):
			t.Fatal("sockscope did not stop within 10s")
			return nil
		}
	}
	t.Cleanup(func() { s.stop() })
	return s
}

func testOptions() options {
	return options{addr: "127.0.0.1:0", ui: "127.0.0.1:0", backlog: 128,
		idleTimeout: 5 * time.Second, speed: 0, ring: 65536}
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	c := &http.Client{Timeout: 10 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: reading body: %v", url, err)
	}
	return resp.StatusCode, string(b)
}

func TestDemoRoutes(t *testing.T) {
	s := start(t, testOptions())
	base := "http://" + s.engine
	for _, path := range []string{"/", "/hello"} {
		if code, body := get(t, base+path); code != 200 || body != "Hello World\n" {
			t.Errorf("GET %s = %d %q", path, code, body)
		}
	}
	if code, body := get(t, base+"/slow?ms=20"); code != 200 || body != "slept 20 ms\n" {
		t.Errorf("GET /slow = %d %q", code, body)
	}
	if code, _ := get(t, base+"/slow?ms=-5"); code != 400 {
		t.Errorf("GET /slow?ms=-5 = %d, want 400", code)
	}
	if code, body := get(t, base+"/big?kb=300"); code != 200 || len(body) != 300*1024 {
		t.Errorf("GET /big?kb=300 = %d, %d bytes", code, len(body))
	}
	if code, _ := get(t, base+"/big?kb=x"); code != 400 {
		t.Errorf("GET /big?kb=x = %d, want 400", code)
	}
	if code, _ := get(t, base+"/nope"); code != 404 {
		t.Errorf("GET /nope = %d, want 404", code)
	}

	payload := bytes.Repeat([]byte("sockscope "), 5000)
	for _, method := range []string{"POST", "PUT"} {
		req, _ := http.NewRequest(method, base+"/echo", bytes.NewReader(payload))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		got, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !bytes.Equal(got, payload) {
			t.Errorf("%s /echo = %d, %d bytes back of %d", method, resp.StatusCode, len(got), len(payload))
		}
	}

	if code, body := get(t, "http://"+s.ui+"/healthz"); code != 200 || !strings.HasPrefix(body, "ok") {
		t.Errorf("GET /healthz = %d %q", code, body)
	}
	if err := s.stop(); err != nil {
		t.Errorf("run returned %v after its context ended", err)
	}
}

// TestRSTversusFIN is the contract of DESIGN.md: the same 1 MB body sent to
// /rst makes curl fail with "Connection reset by peer" (exit 56), and sent
// to /echo succeeds (exit 0).
func TestRSTversusFIN(t *testing.T) {
	if _, err := exec.LookPath("curl"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("curl is not installed (make test installs it)")
		}
		t.Skip("curl is not installed")
	}
	s := start(t, testOptions())
	curl := func(path string) int {
		cmd := exec.Command("sh", "-c", "head -c 1000000 /dev/zero | curl -sS -o /dev/null --max-time 10 --data-binary @- http://"+s.engine+path)
		out, err := cmd.CombinedOutput()
		if ee, ok := err.(*exec.ExitError); ok {
			t.Logf("curl %s: %s", path, strings.TrimSpace(string(out)))
			return ee.ExitCode()
		}
		if err != nil {
			t.Fatal(err)
		}
		return 0
	}
	if code := curl("/echo"); code != 0 {
		t.Errorf("curl /echo exit %d, want 0 (graceful close)", code)
	}
	if code := curl("/rst"); code != 56 {
		t.Errorf("curl /rst exit %d, want 56 (connection reset)", code)
	}
}

// TestRecordThenReplay records a session with -record, then serves it with
// -replay and finds the same request in the replayed events.
func TestRecordThenReplay(t *testing.T) {
	file := filepath.Join(t.TempDir(), "trace.jsonl")
	o := testOptions()
	o.record = file
	s := start(t, o)
	get(t, "http://"+s.engine+"/hello?recorded=1")
	time.Sleep(100 * time.Millisecond) // let the connection's close be recorded too
	if err := s.stop(); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(data, []byte(`"target":"/hello?recorded=1"`)) {
		t.Fatalf("the trace file does not hold the request; %d bytes", len(data))
	}

	o = testOptions()
	o.replay = file
	r := start(t, o)
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, body := get(t, "http://"+r.ui+"/api/v1/events?since=0&limit=10000")
		var got struct {
			Events []struct {
				Op     string `json:"op"`
				Target string `json:"target"`
			} `json:"events"`
		}
		if err := json.Unmarshal([]byte(body), &got); err != nil {
			t.Fatalf("events: %v: %s", err, body[:min(len(body), 200)])
		}
		events := got.Events
		for _, e := range events {
			if e.Op == "request" && e.Target == "/hello?recorded=1" {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("the replay never showed the recorded request (%d events)", len(events))
		}
		time.Sleep(50 * time.Millisecond)
	}
}
