//go:build linux

package viz

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"unsafe"

	"golang.org/x/sys/unix"
)

// This file is a small NETLINK_SOCK_DIAG client: it asks the kernel for
// every TCP socket on one local port, the way ss(8) does, without root
// (sock_diag(7)). golang.org/x/sys has the netlink header but not the
// inet_diag structures, so they are written out below from
// include/uapi/linux/inet_diag.h.

// SockInfo is one TCP socket as a sock_diag dump reports it
// (struct inet_diag_msg).
type SockInfo struct {
	Family uint8          // unix.AF_INET or unix.AF_INET6: which dump found it
	State  uint8          // kernel TCP state number; engine.TCPStateName names it
	Local  netip.AddrPort // idiag_src:idiag_sport (IPv4-mapped IPv6 unmapped)
	Remote netip.AddrPort // idiag_dst:idiag_dport
	// Inode is the socket's inode, 0 when no process holds an fd for it:
	// a connection still in the accept queue, an orphan after close(2)
	// (FIN_WAIT1, FIN_WAIT2, LAST_ACK, CLOSING), TIME_WAIT, SYN_RECV.
	Inode uint32
	// RQueue is, for a LISTEN socket, the accept queue's length
	// (sk_ack_backlog); otherwise the bytes received and not yet read.
	RQueue uint32
	// WQueue is, for a LISTEN socket, the backlog (sk_max_ack_backlog);
	// otherwise the bytes sent and not yet acknowledged.
	WQueue uint32
	// Cookie is the kernel's id for the socket: two sockets with the same
	// 4-tuple one after the other (a TIME_WAIT reused by a new SYN) differ.
	Cookie uint64
}

// Dump returns every TCP socket, IPv4 and IPv6, whose local port is port:
// the listener, the connections in its accept queue and those it has
// accepted, and the ones left behind after close(2). It needs no privilege.
//
// The port number is all it matches: sockets of other programs on another
// local address can have the same one (bind(2) refuses a port only on the
// same address, so a client bound to 127.0.0.2 may be given the port of a
// listener on 127.0.0.1). Keep the listener's own with [SockInfo.On].
func Dump(port int) ([]SockInfo, error) {
	d, err := openSockDiag()
	if err != nil {
		return nil, err
	}
	defer d.close()
	return d.dump(nil, port, 0)
}

// On reports whether s is on the local address addr, the address a
// listener is bound to: the listener, the connections it queued and
// accepted, and what they leave behind all have it. An unspecified addr
// (0.0.0.0, ::, or the zero Addr) matches every socket: nothing else can
// have a wildcard listener's port on any address of its family.
func (s *SockInfo) On(addr netip.Addr) bool {
	return !addr.IsValid() || addr.IsUnspecified() || s.Local.Addr() == addr.Unmap()
}

// onAddr keeps, in place, the sockets of socks on addr.
func onAddr(socks []SockInfo, addr netip.Addr) []SockInfo {
	if !addr.IsValid() || addr.IsUnspecified() {
		return socks
	}
	out := socks[:0]
	for i := range socks {
		if socks[i].On(addr) {
			out = append(out, socks[i])
		}
	}
	return out
}

// Kernel TCP states the watcher tells apart, from include/net/tcp_states.h.
const (
	tcpSynRecv    = 3
	tcpTimeWait   = 6
	tcpListen     = 10
	tcpNewSynRecv = 12
)

// inetDiagSockID is struct inet_diag_sockid. Ports and addresses are in
// network byte order; an IPv4 address fills the first 4 bytes of its array.
type inetDiagSockID struct {
	SPort  [2]byte   // __be16 idiag_sport
	DPort  [2]byte   // __be16 idiag_dport
	Src    [16]byte  // __be32 idiag_src[4]
	Dst    [16]byte  // __be32 idiag_dst[4]
	If     uint32    // __u32 idiag_if
	Cookie [2]uint32 // __u32 idiag_cookie[2]: low word first (sock_diag_save_cookie)
}

// inetDiagReqV2 is struct inet_diag_req_v2, the request of a
// SOCK_DIAG_BY_FAMILY message. For a dump, id is ignored except by the
// bytecode filter.
type inetDiagReqV2 struct {
	Family   uint8  // __u8 sdiag_family: AF_INET or AF_INET6
	Protocol uint8  // __u8 sdiag_protocol: IPPROTO_TCP
	Ext      uint8  // __u8 idiag_ext: extra attributes wanted (none)
	Pad      uint8  // __u8 pad
	States   uint32 // __u32 idiag_states: bit 1<<state for each state wanted
	ID       inetDiagSockID
}

// inetDiagMsg is struct inet_diag_msg, one socket of the reply.
// Attributes (struct nlattr) may follow it; the watcher needs none.
type inetDiagMsg struct {
	Family  uint8 // __u8 idiag_family
	State   uint8 // __u8 idiag_state
	Timer   uint8 // __u8 idiag_timer
	Retrans uint8 // __u8 idiag_retrans
	ID      inetDiagSockID
	Expires uint32 // __u32 idiag_expires: ms until the timer fires
	RQueue  uint32 // __u32 idiag_rqueue
	WQueue  uint32 // __u32 idiag_wqueue
	UID     uint32 // __u32 idiag_uid
	Inode   uint32 // __u32 idiag_inode
}

// inetDiagBcOp is struct inet_diag_bc_op, one instruction of the filter
// bytecode (INET_DIAG_REQ_BYTECODE). After a condition, the kernel moves
// yes bytes forward if it holds and no bytes if not; landing exactly at
// the end accepts the socket, jumping past it rejects it
// (inet_diag_bc_run in net/ipv4/inet_diag.c).
type inetDiagBcOp struct {
	Code uint8  // __u8 code
	Yes  uint8  // __u8 yes
	No   uint16 // __u16 no
}

// From include/uapi/linux/inet_diag.h.
const (
	inetDiagReqBytecode = 1 // INET_DIAG_REQ_BYTECODE, request attribute
	inetDiagBcSGE       = 2 // INET_DIAG_BC_S_GE: local port >= next op's no
	inetDiagBcSLE       = 3 // INET_DIAG_BC_S_LE: local port <= next op's no
)

// diagRequest is one whole request message as sent: the netlink header,
// the inet_diag request, and the filter "local port == P" written as
// S_GE P, S_LE P (the form ss(8) uses, accepted by every kernel since
// 2.6; INET_DIAG_BC_S_EQ is newer).
type diagRequest struct {
	Hdr  unix.NlMsghdr
	Req  inetDiagReqV2
	Attr unix.NlAttr
	BC   [4]inetDiagBcOp
}

// The structures must have exactly the kernel's sizes: a mismatch fails
// to compile here rather than to parse at run time.
var (
	_ [56]byte = [unsafe.Sizeof(inetDiagReqV2{})]byte{}
	_ [72]byte = [unsafe.Sizeof(inetDiagMsg{})]byte{}
	_ [92]byte = [unsafe.Sizeof(diagRequest{})]byte{}
)

const sizeofInetDiagMsg = int(unsafe.Sizeof(inetDiagMsg{}))

// sockDiag is an open NETLINK_SOCK_DIAG socket, reused from dump to dump
// so that polling costs two request/reply round trips and no allocation
// beyond the result.
type sockDiag struct {
	fd       int
	seq      uint32
	buf      []byte
	noFilter bool // the kernel refused the bytecode: filter in user space only
}

// recvBufSize holds a whole dump datagram: the kernel fills at most 32 KiB
// per recvmsg(2) (netlink_dump), so nothing is ever truncated.
const recvBufSize = 64 << 10

func openSockDiag() (*sockDiag, error) {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, unix.NETLINK_SOCK_DIAG)
	if err != nil {
		return nil, fmt.Errorf("viz: sock_diag socket: %w", err)
	}
	// The kernel answers a dump at once; the timeout only keeps a
	// misbehaving kernel (or an emulation of one) from hanging the watcher.
	tv := unix.Timeval{Sec: 1}
	if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("viz: sock_diag SO_RCVTIMEO: %w", err)
	}
	return &sockDiag{fd: fd, buf: make([]byte, recvBufSize)}, nil
}

func (d *sockDiag) close() error { return unix.Close(d.fd) }

// dump appends to out the TCP sockets whose local port is port, of one
// family (AF_INET, AF_INET6) or, when family is 0, of both, IPv4 first.
// Asking for one family halves the cost: each dump walks the kernel's
// whole established-socket hash table, whatever the filter.
func (d *sockDiag) dump(out []SockInfo, port int, family uint8) ([]SockInfo, error) {
	if port <= 0 || port > 0xffff {
		return out, fmt.Errorf("viz: sock_diag: bad port %d", port)
	}
	for _, f := range [...]uint8{unix.AF_INET, unix.AF_INET6} {
		if family != 0 && family != f {
			continue
		}
		var err error
		out, err = d.dumpFamily(out, f, uint16(port))
		if err != nil && !d.noFilter && errors.Is(err, unix.EINVAL) {
			// A kernel that rejects the bytecode still dumps without
			// it; the port is then checked in user space alone.
			d.noFilter = true
			out, err = d.dumpFamily(out, f, uint16(port))
		}
		if err != nil {
			return out, err
		}
	}
	return out, nil
}

func (d *sockDiag) dumpFamily(out []SockInfo, family uint8, port uint16) ([]SockInfo, error) {
	d.seq++
	req := diagRequest{
		Hdr: unix.NlMsghdr{
			Len:   uint32(unsafe.Sizeof(diagRequest{})),
			Type:  unix.SOCK_DIAG_BY_FAMILY,
			Flags: unix.NLM_F_REQUEST | unix.NLM_F_DUMP,
			Seq:   d.seq,
		},
		Req: inetDiagReqV2{
			Family:   family,
			Protocol: unix.IPPROTO_TCP,
			States:   ^uint32(0), // every state, SYN_RECV and TIME_WAIT included
		},
		Attr: unix.NlAttr{Len: unix.SizeofNlAttr + 16, Type: inetDiagReqBytecode},
		BC: [4]inetDiagBcOp{
			// 16 bytes of bytecode. A failed test jumps 4 bytes past the
			// end of the program: reject.
			{Code: inetDiagBcSGE, Yes: 8, No: 16 + 4},
			{No: port},
			{Code: inetDiagBcSLE, Yes: 8, No: 8 + 4},
			{No: port},
		},
	}
	msg := unsafe.Slice((*byte)(unsafe.Pointer(&req)), unsafe.Sizeof(req))
	if d.noFilter {
		req.Hdr.Len = uint32(unix.SizeofNlMsghdr + unsafe.Sizeof(inetDiagReqV2{}))
		msg = msg[:req.Hdr.Len]
	}
	if err := unix.Sendto(d.fd, msg, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return out, fmt.Errorf("viz: sock_diag send: %w", err)
	}
	for {
		n, _, err := unix.Recvfrom(d.fd, d.buf, 0)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return out, fmt.Errorf("viz: sock_diag recv: %w", err)
		}
		var done bool
		out, done, err = parseDiag(out, d.buf[:n], d.seq, port)
		if err != nil || done {
			return out, err
		}
	}
}

// parseDiag appends the sockets on port found in one datagram of a dump
// reply. A dump is multi-part (NLM_F_MULTI): datagrams follow one another
// until NLMSG_DONE, and each holds several messages. Messages of another
// sequence number (left over from an earlier, abandoned dump) are skipped.
func parseDiag(out []SockInfo, b []byte, seq uint32, port uint16) (_ []SockInfo, done bool, _ error) {
	ne := binary.NativeEndian
	for len(b) >= unix.NLMSG_HDRLEN {
		// struct nlmsghdr: len, type, flags, seq, pid (netlink(7)).
		l := int(ne.Uint32(b[0:4]))
		typ := ne.Uint16(b[4:6])
		mseq := ne.Uint32(b[8:12])
		if l < unix.NLMSG_HDRLEN || l > len(b) {
			return out, false, fmt.Errorf("viz: sock_diag: malformed netlink message (len %d of %d)", l, len(b))
		}
		payload := b[unix.NLMSG_HDRLEN:l]
		if next := (l + unix.NLMSG_ALIGNTO - 1) &^ (unix.NLMSG_ALIGNTO - 1); next < len(b) {
			b = b[next:]
		} else {
			b = nil
		}
		if mseq != seq {
			continue
		}
		switch typ {
		case unix.NLMSG_DONE:
			// The payload is an int, a negative errno if the dump failed
			// part way (netlink_dump_done).
			if len(payload) >= 4 {
				if e := int32(ne.Uint32(payload)); e < 0 {
					return out, true, fmt.Errorf("viz: sock_diag dump: %w", unix.Errno(-e))
				}
			}
			return out, true, nil
		case unix.NLMSG_ERROR:
			// struct nlmsgerr: a negative errno, then the request's header.
			if len(payload) < 4 {
				return out, true, errors.New("viz: sock_diag: short NLMSG_ERROR")
			}
			if e := int32(ne.Uint32(payload)); e < 0 {
				return out, true, fmt.Errorf("viz: sock_diag dump: %w", unix.Errno(-e))
			}
			return out, true, nil // an acknowledgement; a dump does not ask for one
		case unix.SOCK_DIAG_BY_FAMILY:
			if len(payload) < sizeofInetDiagMsg {
				return out, false, fmt.Errorf("viz: sock_diag: short inet_diag_msg (%d bytes)", len(payload))
			}
			// Netlink messages are 4-byte aligned within a buffer that
			// is itself aligned, as inetDiagMsg needs.
			m := (*inetDiagMsg)(unsafe.Pointer(&payload[0]))
			s, ok := m.info()
			if ok && s.Local.Port() == port {
				out = append(out, s)
			}
		}
	}
	return out, false, nil
}

// info converts m; ok is false for a family other than AF_INET/AF_INET6.
func (m *inetDiagMsg) info() (SockInfo, bool) {
	var src, dst netip.Addr
	switch m.Family {
	case unix.AF_INET:
		src = netip.AddrFrom4([4]byte(m.ID.Src[:4]))
		dst = netip.AddrFrom4([4]byte(m.ID.Dst[:4]))
	case unix.AF_INET6:
		// A dual-stack socket reports IPv4 peers as ::ffff:a.b.c.d; unmap
		// them so that they compare equal to the engine's addresses.
		src = netip.AddrFrom16(m.ID.Src).Unmap()
		dst = netip.AddrFrom16(m.ID.Dst).Unmap()
	default:
		return SockInfo{}, false
	}
	state := m.State
	if state == tcpNewSynRecv {
		state = tcpSynRecv // a request socket is SYN-RECEIVED (RFC 9293 §3.3.2)
	}
	return SockInfo{
		Family: m.Family,
		State:  state,
		Local:  netip.AddrPortFrom(src, binary.BigEndian.Uint16(m.ID.SPort[:])),
		Remote: netip.AddrPortFrom(dst, binary.BigEndian.Uint16(m.ID.DPort[:])),
		Inode:  m.Inode,
		RQueue: m.RQueue,
		WQueue: m.WQueue,
		Cookie: uint64(m.ID.Cookie[0]) | uint64(m.ID.Cookie[1])<<32,
	}, true
}
