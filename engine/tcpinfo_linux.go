//go:build linux

package engine

// tcpStates names the kernel's TCP states by their number in
// include/net/tcp_states.h, the values tcpi_state and inet_diag_msg's
// idiag_state carry. The names are RFC 9293's (§3.3.2) where it has one.
var tcpStates = [...]string{
	1:  "ESTABLISHED",
	2:  "SYN_SENT",
	3:  "SYN_RECV",
	4:  "FIN_WAIT1",
	5:  "FIN_WAIT2",
	6:  "TIME_WAIT",
	7:  "CLOSED", // TCP_CLOSE
	8:  "CLOSE_WAIT",
	9:  "LAST_ACK",
	10: "LISTEN",
	11: "CLOSING",
	12: "SYN_RECV", // TCP_NEW_SYN_RECV: a request socket, shown as RFC 9293's SYN-RECEIVED
}

// TCPStateName returns the name of a kernel TCP state number, as reported by
// TCP_INFO (tcpi_state) and sock_diag (idiag_state).
func TCPStateName(state uint8) string {
	if int(state) < len(tcpStates) && tcpStates[state] != "" {
		return tcpStates[state]
	}
	return "UNKNOWN"
}

// Kernel state numbers the engine tests for (include/net/tcp_states.h).
const (
	tcpEstablished = 1
	tcpFinWait1    = 4
	tcpFinWait2    = 5
	tcpClose       = 7
	tcpClosing     = 11
)
