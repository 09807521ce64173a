//go:build !linux

package viz

// queueReport needs NETLINK_SOCK_DIAG; elsewhere the backlog scenario
// shows the queue through the engine's own events only.
func queueReport(addr string) string { return "" }
