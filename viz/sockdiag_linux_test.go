//go:build linux

package viz

import (
	"bytes"
	"encoding/binary"
	"errors"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
	"unsafe"

	"github.com/sockscope/sockscope/engine"
	"golang.org/x/sys/unix"
)

// listenLoopback listens on 127.0.0.1 with a kernel-chosen port.
func listenLoopback(t testing.TB) (net.Listener, int) {
	t.Helper()
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln, ln.Addr().(*net.TCPAddr).Port
}

// listenOn listens on host:port, or skips the test if that address cannot
// be bound (a loopback other than 127.0.0.1 may be missing elsewhere).
func listenOn(t testing.TB, host string, port int) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp4", net.JoinHostPort(host, strconv.Itoa(port)))
	if err != nil {
		t.Skipf("cannot listen on %s port %d: %v", host, port, err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln
}

func dial(t testing.TB, addr string) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func addrPort(a net.Addr) netip.AddrPort {
	ap := a.(*net.TCPAddr).AddrPort()
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
}

// lo is 127.0.0.1:port.
func lo(port int) netip.AddrPort {
	return netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 0, 0, 1}), uint16(port))
}

// waitDump dumps at's port until ok accepts the sockets on at's address,
// or fails the test after a deadline. Handshakes and FINs on loopback are
// quick but asynchronous.
func waitDump(t *testing.T, at netip.AddrPort, what string, ok func([]SockInfo) bool) []SockInfo {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		socks := mustDump(t, at)
		if ok(socks) {
			return socks
		}
		if time.Now().After(deadline) {
			skipIfNoTimeWait(t)
			t.Fatalf("no %s in dumps of %v; last: %s", what, at, describe(socks))
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func describe(socks []SockInfo) string {
	var b strings.Builder
	for _, s := range socks {
		b.WriteString("\n  " + engine.TCPStateName(s.State) + " " + s.Local.String() + " " + s.Remote.String())
	}
	return b.String()
}

func find(socks []SockInfo, state uint8, remote netip.AddrPort) *SockInfo {
	for i := range socks {
		if socks[i].State == state && socks[i].Remote == remote {
			return &socks[i]
		}
	}
	return nil
}

func listener(socks []SockInfo) *SockInfo {
	for i := range socks {
		if socks[i].State == tcpListen {
			return &socks[i]
		}
	}
	return nil
}

func TestDumpListenerOnly(t *testing.T) {
	ln, port := listenLoopback(t)
	_, other := listenLoopback(t)
	// A client socket elsewhere must not show up: its local port differs.
	c := dial(t, ln.Addr().String())
	a, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	// Another program's listener with the same port number on another
	// address, with a connection in its queue: bind(2) allows it, and it
	// does happen (a client bound to 127.0.0.2 may be given the port of
	// a 127.0.0.1 listener). Dump returns its sockets too; On leaves them
	// out.
	foreign := listenOn(t, "127.0.0.2", port)
	fc := dial(t, foreign.Addr().String())

	all, err := Dump(port)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range all {
		if int(s.Local.Port()) != port {
			t.Errorf("dump of port %d returned %v", port, s.Local)
		}
	}
	if find(all, 1, addrPort(fc.LocalAddr())) == nil {
		t.Errorf("dump of port %d lacks the connection queued on 127.0.0.2: %s", port, describe(all))
	}
	socks := onAddr(all, lo(port).Addr())
	l := listener(socks)
	if l == nil || l.Local != addrPort(ln.Addr()) {
		t.Fatalf("no LISTEN on %v: %s", ln.Addr(), describe(socks))
	}
	if l.Inode == 0 || l.WQueue == 0 {
		t.Errorf("listener inode %d backlog %d, want both > 0", l.Inode, l.WQueue)
	}
	e := find(socks, 1, addrPort(c.LocalAddr()))
	if e == nil || e.Inode == 0 || e.Cookie == 0 {
		t.Fatalf("accepted connection missing or without inode/cookie: %s", describe(socks))
	}
	if len(socks) != 2 {
		t.Errorf("want the listener and one connection, got %s", describe(socks))
	}
	for _, s := range mustDump(t, lo(other)) {
		if s.State != tcpListen {
			t.Errorf("other port: unexpected %s", describe([]SockInfo{s}))
		}
	}
}

// mustDump returns the sockets on at's port and address. Other programs'
// sockets on other local addresses may have the same port number (a
// client bound to 127.0.0.2 may be given it, as TestDumpListenerOnly
// shows): they are not the test's, and are left out.
func mustDump(t testing.TB, at netip.AddrPort) []SockInfo {
	t.Helper()
	socks, err := Dump(int(at.Port()))
	if err != nil {
		t.Fatal(err)
	}
	return onAddr(socks, at.Addr())
}

// The kernel completes handshakes on its own: connections nobody accepted
// wait in the accept queue, ESTABLISHED, with no inode (no fd yet).
func TestDumpAcceptQueue(t *testing.T) {
	ln, port := listenLoopback(t)
	var clients []netip.AddrPort
	for range 3 {
		clients = append(clients, addrPort(dial(t, ln.Addr().String()).LocalAddr()))
	}
	socks := waitDump(t, lo(port), "accept queue of 3", func(s []SockInfo) bool {
		l := listener(s)
		return l != nil && l.RQueue == 3
	})
	for _, c := range clients {
		s := find(socks, 1, c)
		if s == nil {
			t.Fatalf("client %v not ESTABLISHED in the queue: %s", c, describe(socks))
		}
		if s.Inode != 0 {
			t.Errorf("unaccepted %v has inode %d, want 0", c, s.Inode)
		}
	}

	a, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	socks = mustDump(t, lo(port))
	if l := listener(socks); l == nil || l.RQueue != 2 {
		t.Fatalf("after one accept: %s (queue %v)", describe(socks), l)
	}
	if s := find(socks, 1, addrPort(a.RemoteAddr())); s == nil || s.Inode == 0 {
		t.Errorf("accepted connection should have an inode: %s", describe(socks))
	}
}

// The side that closes first goes through FIN_WAIT1 and FIN_WAIT2 to
// TIME_WAIT, where it stays 2*MSL (60 s on Linux) with no fd.
func TestDumpTimeWait(t *testing.T) {
	needTimeWait(t)
	ln, port := listenLoopback(t)
	c := dial(t, ln.Addr().String())
	a, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	a.Close() // the server closes first
	client := addrPort(c.LocalAddr())
	waitDump(t, lo(port), "FIN_WAIT2", func(s []SockInfo) bool { return find(s, 5, client) != nil })
	if _, err := c.Read(make([]byte, 1)); err == nil {
		t.Fatal("client read data, want EOF")
	}
	c.Close()
	socks := waitDump(t, lo(port), "TIME_WAIT", func(s []SockInfo) bool { return find(s, tcpTimeWait, client) != nil })
	if s := find(socks, tcpTimeWait, client); s.Inode != 0 {
		t.Errorf("TIME_WAIT socket has inode %d", s.Inode)
	}
}

// With listen(fd, 1) Linux queues backlog+1 completed connections
// (sk_acceptq_is_full tests ">"), then drops further SYNs or final ACKs;
// a SYN_RECV may or may not be caught, depending on timing.
func TestDumpSmallBacklog(t *testing.T) {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	if err := unix.Bind(fd, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	if err := unix.Listen(fd, 1); err != nil {
		t.Fatal(err)
	}
	sa, err := unix.Getsockname(fd)
	if err != nil {
		t.Fatal(err)
	}
	port := sa.(*unix.SockaddrInet4).Port
	for range 4 {
		// Non-blocking connects: the ones the full queue refuses would
		// otherwise block for SYN retransmissions.
		c, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer unix.Close(c)
		err = unix.Connect(c, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}, Port: port})
		if err != nil && err != unix.EINPROGRESS {
			t.Fatal(err)
		}
	}
	socks := waitDump(t, lo(port), "a full accept queue", func(s []SockInfo) bool {
		l := listener(s)
		return l != nil && l.RQueue == 2
	})
	if l := listener(socks); l.WQueue != 1 {
		t.Errorf("backlog %d, want 1", l.WQueue)
	}
	for _, s := range socks {
		if s.State == tcpSynRecv {
			t.Logf("caught a SYN_RECV: %v", s.Remote)
		}
	}
}

func TestDumpIPv6(t *testing.T) {
	ln, err := net.Listen("tcp6", "[::1]:0")
	if err != nil {
		t.Skip("no IPv6 loopback:", err)
	}
	defer ln.Close()
	c := dial(t, ln.Addr().String())
	socks := waitDump(t, addrPort(ln.Addr()), "IPv6 connection", func(s []SockInfo) bool {
		return find(s, 1, addrPort(c.LocalAddr())) != nil
	})
	if l := listener(socks); l == nil || l.Local != addrPort(ln.Addr()) {
		t.Errorf("no LISTEN on %v: %s", ln.Addr(), describe(socks))
	}
}

// Without the kernel-side bytecode filter the result is the same.
func TestDumpUserspaceFilter(t *testing.T) {
	ln, port := listenLoopback(t)
	for range 3 {
		dial(t, ln.Addr().String())
	}
	waitDump(t, lo(port), "queue of 3", func(s []SockInfo) bool { l := listener(s); return l != nil && l.RQueue == 3 })
	d, err := openSockDiag()
	if err != nil {
		t.Fatal(err)
	}
	defer d.close()
	filtered, err := d.dump(nil, port, 0)
	if err != nil {
		t.Fatal(err)
	}
	if d.noFilter {
		t.Error("the kernel refused the port filter's bytecode")
	}
	d.noFilter = true
	all, err := d.dump(nil, port, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range append(filtered, all...) {
		if int(s.Local.Port()) != port {
			t.Errorf("dump of port %d returned %v", port, s.Local)
		}
	}
	// Other programs' sockets with this port number on other addresses
	// come and go between the two dumps; the test's own do not.
	filtered, all = onAddr(filtered, lo(port).Addr()), onAddr(all, lo(port).Addr())
	if len(filtered) != 4 || len(all) != 4 {
		t.Errorf("filtered %s\nunfiltered %s", describe(filtered), describe(all))
	}
	if _, err := d.dump(nil, 0, 0); err == nil {
		t.Error("port 0 accepted")
	}
}

// nlmsg builds one netlink message as the kernel sends it.
func nlmsg(typ uint16, seq uint32, payload []byte) []byte {
	l := unix.NLMSG_HDRLEN + len(payload)
	b := make([]byte, (l+3)&^3)
	ne := binary.NativeEndian
	ne.PutUint32(b[0:], uint32(l))
	ne.PutUint16(b[4:], typ)
	ne.PutUint16(b[6:], unix.NLM_F_MULTI)
	ne.PutUint32(b[8:], seq)
	copy(b[unix.NLMSG_HDRLEN:], payload)
	return b
}

func diagMsg(state uint8, lport, rport uint16) []byte {
	m := inetDiagMsg{Family: unix.AF_INET, State: state, Inode: 0}
	binary.BigEndian.PutUint16(m.ID.SPort[:], lport)
	binary.BigEndian.PutUint16(m.ID.DPort[:], rport)
	copy(m.ID.Src[:], []byte{127, 0, 0, 1})
	copy(m.ID.Dst[:], []byte{127, 0, 0, 2})
	m.ID.Cookie = [2]uint32{7, 1}
	return append([]byte(nil), unsafe.Slice((*byte)(unsafe.Pointer(&m)), unsafe.Sizeof(m))...)
}

func errno(e unix.Errno) []byte {
	b := make([]byte, 4+unix.SizeofNlMsghdr)
	binary.NativeEndian.PutUint32(b, uint32(-int32(e)))
	return b
}

func TestParseDiag(t *testing.T) {
	cat := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	for _, tc := range []struct {
		name string
		in   []byte
		n    int  // sockets returned
		done bool // NLMSG_DONE seen
		err  error
	}{
		{"two sockets, more to come", cat(nlmsg(unix.SOCK_DIAG_BY_FAMILY, 5, diagMsg(10, 80, 0)), nlmsg(unix.SOCK_DIAG_BY_FAMILY, 5, diagMsg(12, 80, 4000))), 2, false, nil},
		{"other port filtered", nlmsg(unix.SOCK_DIAG_BY_FAMILY, 5, diagMsg(1, 81, 4000)), 0, false, nil},
		{"stale sequence skipped", cat(nlmsg(unix.SOCK_DIAG_BY_FAMILY, 4, diagMsg(1, 80, 1)), nlmsg(unix.NLMSG_DONE, 4, make([]byte, 4))), 0, false, nil},
		{"done", cat(nlmsg(unix.SOCK_DIAG_BY_FAMILY, 5, diagMsg(6, 80, 1)), nlmsg(unix.NLMSG_DONE, 5, make([]byte, 4))), 1, true, nil},
		{"error", nlmsg(unix.NLMSG_ERROR, 5, errno(unix.EINVAL)), 0, true, unix.EINVAL},
		{"done with error", nlmsg(unix.NLMSG_DONE, 5, errno(unix.ENOBUFS)[:4]), 0, true, unix.ENOBUFS},
		{"length past the end", nlmsg(unix.SOCK_DIAG_BY_FAMILY, 5, diagMsg(1, 80, 1))[:40], 0, false, errMalformed},
		{"short inet_diag_msg", nlmsg(unix.SOCK_DIAG_BY_FAMILY, 5, make([]byte, 20)), 0, false, errMalformed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			socks, done, err := parseDiag(nil, tc.in, 5, 80)
			switch {
			case tc.err == errMalformed:
				if err == nil {
					t.Fatal("no error")
				}
			case !errors.Is(err, tc.err):
				t.Fatalf("err %v, want %v", err, tc.err)
			}
			if len(socks) != tc.n || done != tc.done {
				t.Errorf("got %d sockets done=%v, want %d done=%v", len(socks), done, tc.n, tc.done)
			}
		})
	}
	socks, _, _ := parseDiag(nil, nlmsg(unix.SOCK_DIAG_BY_FAMILY, 5, diagMsg(12, 80, 4000)), 5, 80)
	want := SockInfo{Family: unix.AF_INET, State: tcpSynRecv, Local: netip.MustParseAddrPort("127.0.0.1:80"),
		Remote: netip.MustParseAddrPort("127.0.0.2:4000"), Cookie: 1<<32 | 7}
	if len(socks) != 1 || socks[0] != want {
		t.Errorf("decoded %+v, want %+v", socks, want)
	}
}

var errMalformed = errors.New("any error")

// BenchmarkDump measures one dump of a port with 100 sockets on it: the
// listener and 99 connections in its accept queue (plus their 99 client
// ends on other ports, which the kernel filters out).
func BenchmarkDump(b *testing.B) {
	ln, port := listenLoopback(b)
	for range 99 {
		dial(b, ln.Addr().String())
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		if l := listener(mustDump(b, lo(port))); l != nil && l.RQueue == 99 {
			break
		}
		if time.Now().After(deadline) {
			b.Fatal("accept queue never reached 99")
		}
		time.Sleep(5 * time.Millisecond)
	}
	b.Run("open-each", func(b *testing.B) {
		for b.Loop() {
			if _, err := Dump(port); err != nil {
				b.Fatal(err)
			}
		}
	})
	for _, noFilter := range []bool{false, true} {
		name := "reused-ipv4"
		if noFilter {
			name = "reused-ipv4-userspace-filter"
		}
		b.Run(name, func(b *testing.B) {
			d, err := openSockDiag()
			if err != nil {
				b.Fatal(err)
			}
			defer d.close()
			d.noFilter = noFilter
			var socks []SockInfo
			for b.Loop() {
				if socks, err = d.dump(socks[:0], port, unix.AF_INET); err != nil {
					b.Fatal(err)
				}
			}
			if len(socks) != 100 {
				b.Fatalf("%d sockets, want 100", len(socks))
			}
		})
	}
}

// The backlog scenario's report counts the engine's queue, not that of
// another program's listener with the same port on another address.
func TestQueueReportOwnAddress(t *testing.T) {
	ln, port := listenLoopback(t)
	foreign := listenOn(t, "127.0.0.2", port)
	for range 2 {
		dial(t, foreign.Addr().String())
	}
	dial(t, ln.Addr().String())
	waitDump(t, lo(port), "queue of 1", func(s []SockInfo) bool { l := listener(s); return l != nil && l.RQueue == 1 })
	waitDump(t, addrPort(foreign.Addr()), "queue of 2", func(s []SockInfo) bool { l := listener(s); return l != nil && l.RQueue == 2 })
	got := queueReport(ln.Addr().String())
	if !strings.HasPrefix(got, "sock_diag: accept queue 1, backlog ") || !strings.Contains(got, "; 1 connections ESTABLISHED without an fd") {
		t.Errorf("report %q", got)
	}
}

// A socket that closed first lives on without an fd, in FIN_WAIT2 and then
// TIME_WAIT, only while the kernel has room for such sockets: at most
// net.ipv4.tcp_max_tw_buckets, for every program on the machine. Beyond
// that the kernel closes it at once and counts it (TcpExt
// TCPTimeWaitOverflow in /proc/net/netstat). A load test running next to
// the tests can fill the table; there is then no TIME_WAIT to watch, and a
// test waiting for one skips, saying why, instead of failing.

var twBaseline sync.Map // test name → TCPTimeWaitOverflow when it began

// needTimeWait notes that t expects the kernel to keep a socket in
// FIN_WAIT2 or TIME_WAIT (see skipIfNoTimeWait).
func needTimeWait(t testing.TB) {
	if n, ok := timeWaitOverflows(); ok {
		twBaseline.Store(t.Name(), n)
		t.Cleanup(func() { twBaseline.Delete(t.Name()) })
	}
}

// skipIfNoTimeWait skips t, which is about to fail for want of a socket in
// FIN_WAIT2 or TIME_WAIT, if since needTimeWait the kernel closed sockets
// instead of keeping them in those states.
func skipIfNoTimeWait(t testing.TB) {
	t.Helper()
	b, ok := twBaseline.Load(t.Name())
	if !ok {
		return
	}
	if n, ok := timeWaitOverflows(); ok && n > b.(uint64) {
		t.Skipf("the kernel's TIME_WAIT table was full while this test ran: it closed %d sockets at once instead of keeping them in FIN_WAIT2 or TIME_WAIT (TcpExt TCPTimeWaitOverflow; net.ipv4.tcp_max_tw_buckets is for the whole machine, another program's load may have filled it), so there was none to watch", n-b.(uint64))
	}
}

// timeWaitOverflows reads TcpExt TCPTimeWaitOverflow; ok is false where
// there is no /proc/net/netstat.
func timeWaitOverflows() (uint64, bool) {
	b, err := os.ReadFile("/proc/net/netstat")
	if err != nil {
		return 0, false
	}
	// Pairs of lines: "TcpExt: Name1 Name2 …" then "TcpExt: 1 2 …".
	lines := strings.Split(string(b), "\n")
	for i := 0; i+1 < len(lines); i++ {
		names, values := strings.Fields(lines[i]), strings.Fields(lines[i+1])
		if len(names) == 0 || names[0] != "TcpExt:" || len(values) != len(names) || values[0] != "TcpExt:" {
			continue
		}
		for j, name := range names {
			if name == "TCPTimeWaitOverflow" {
				n, err := strconv.ParseUint(values[j], 10, 64)
				return n, err == nil
			}
		}
	}
	return 0, false
}
