//go:build linux

package viz

import (
	"fmt"
	"net/netip"
)

// tcpEstablished is TCP_ESTABLISHED in include/net/tcp_states.h.
const tcpEstablished = 1

// queueReport describes the accept queue of the engine listening on addr
// ("127.0.0.1:8080") as the kernel sees it (a sock_diag dump of its port,
// other programs' sockets on other local addresses left out): what the
// backlog scenario shows while accept is held. It returns "" when the dump
// fails.
func queueReport(addr string) string {
	ap, err := netip.ParseAddrPort(addr)
	if err != nil || ap.Port() == 0 {
		return ""
	}
	socks, err := Dump(int(ap.Port()))
	if err != nil {
		return ""
	}
	var (
		listen          *SockInfo
		queued, synRecv int
	)
	for i := range socks {
		s := &socks[i]
		switch {
		case !s.On(ap.Addr()):
			// Another program's socket that has the same port number.
		case s.State == tcpListen:
			listen = s
		case s.State == tcpSynRecv:
			synRecv++
		case s.State == tcpEstablished && s.Inode == 0:
			queued++ // no process holds an fd for it: not accepted yet
		}
	}
	if listen == nil {
		return ""
	}
	return fmt.Sprintf("sock_diag: accept queue %d, backlog %d (ss -ltn shows them as Recv-Q and Send-Q); "+
		"%d connections ESTABLISHED without an fd, %d handshakes in SYN_RECV",
		listen.RQueue, listen.WQueue, queued, synRecv)
}
