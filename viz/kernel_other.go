//go:build !linux

package viz

import (
	"context"
	"errors"
	"net/netip"

	"github.com/sockscope/sockscope/engine"
)

// errNoSockDiag is what the kernel watcher says outside Linux: other
// kernels have no NETLINK_SOCK_DIAG (on macOS, netstat -p tcp reads the
// same tables through sysctl, which sockscope does not do yet).
var errNoSockDiag = errors.New("viz: the kernel watcher needs Linux (NETLINK_SOCK_DIAG)")

// KernelWatcher reports the TCP states of sockets the engine holds no fd
// for. It works on Linux only; elsewhere Run returns an error at once and
// the page shows the states TCP_INFO reports.
type KernelWatcher struct {
	Addr   string        // the engine's address, "127.0.0.1:8080"
	Port   int           // the engine's port
	Tracer engine.Tracer // receives the events
}

// Run returns an error: there is no NETLINK_SOCK_DIAG on this system.
func (w *KernelWatcher) Run(ctx context.Context) error { return errNoSockDiag }

// Learn does nothing outside Linux.
func (w *KernelWatcher) Learn(e engine.Event) {}

// Poke does nothing outside Linux.
func (w *KernelWatcher) Poke() {}

// SockInfo is one TCP socket as a sock_diag dump reports it (Linux only).
type SockInfo struct {
	Family uint8          // AF_INET or AF_INET6
	State  uint8          // kernel TCP state number
	Local  netip.AddrPort // local address and port
	Remote netip.AddrPort // peer address and port
	Inode  uint32         // 0 when no process holds an fd for it
	RQueue uint32         // LISTEN: accept-queue length; else unread bytes
	WQueue uint32         // LISTEN: backlog; else unacknowledged bytes
	Cookie uint64         // the kernel's id for the socket
}

// On reports whether s is on the local address addr; an unspecified addr
// matches every socket.
func (s *SockInfo) On(addr netip.Addr) bool {
	return !addr.IsValid() || addr.IsUnspecified() || s.Local.Addr() == addr.Unmap()
}

// Dump returns an error: there is no NETLINK_SOCK_DIAG on this system.
func Dump(port int) ([]SockInfo, error) { return nil, errNoSockDiag }
