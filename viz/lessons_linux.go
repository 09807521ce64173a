//go:build linux

package viz

import "fmt"

// tcpEstablished is TCP_ESTABLISHED in include/net/tcp_states.h.
const tcpEstablished = 1

// queueReport describes the engine's accept queue as the kernel sees it
// (a sock_diag dump of port): what the backlog scenario shows while accept
// is held. It returns "" when the dump fails.
func queueReport(port int) string {
	if port == 0 {
		return ""
	}
	socks, err := Dump(port)
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
