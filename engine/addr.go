package engine

import (
	"fmt"
	"net"
	"net/netip"

	"golang.org/x/sys/unix"
)

// resolve turns "127.0.0.1:8080", "[::1]:0", ":8080" or "localhost:8080"
// into a socket address and its family.
func resolve(addr string) (unix.Sockaddr, int, *net.TCPAddr, error) {
	ta, err := net.ResolveTCPAddr("tcp", addr)
	if err != nil {
		return nil, 0, nil, fmt.Errorf("engine: bad address %q: %w", addr, err)
	}
	ip, ok := netip.AddrFromSlice(ta.IP)
	if !ok {
		ip = netip.IPv4Unspecified() // ":8080" binds every IPv4 address
	}
	ip = ip.Unmap()
	if ip.Is4() {
		return &unix.SockaddrInet4{Port: ta.Port, Addr: ip.As4()}, unix.AF_INET, tcpAddr(ip, ta.Port), nil
	}
	return &unix.SockaddrInet6{Port: ta.Port, Addr: ip.As16()}, unix.AF_INET6, tcpAddr(ip, ta.Port), nil
}

func tcpAddr(ip netip.Addr, port int) *net.TCPAddr {
	return net.TCPAddrFromAddrPort(netip.AddrPortFrom(ip, uint16(port)))
}

// sockaddrTCP converts what accept4 and getsockname return.
func sockaddrTCP(sa unix.Sockaddr) *net.TCPAddr {
	switch sa := sa.(type) {
	case *unix.SockaddrInet4:
		return tcpAddr(netip.AddrFrom4(sa.Addr), sa.Port)
	case *unix.SockaddrInet6:
		return tcpAddr(netip.AddrFrom16(sa.Addr), sa.Port)
	}
	return &net.TCPAddr{}
}

func sockaddrString(sa unix.Sockaddr) string {
	return sockaddrTCP(sa).String()
}
