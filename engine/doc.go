// Package engine is the server sockscope watches: an HTTP/1.1 server written
// directly on socket syscalls (golang.org/x/sys/unix), with no net.Listen and
// no net/http.Server, that reports every step it takes as an Event.
//
// # A guided tour
//
// The files follow the layers of Go's own stack (seed 000), top to bottom, so
// that each can be read beside the Go source that does the same job:
//
//	layer              ours                         Go's own
//	-----------------  ---------------------------  ------------------------------------
//	Application        any http.Handler             http.Handler
//	HTTP protocol      http_server.go  serve loop   net/http/server.go  conn.serve
//	                   http_request.go parser       net/http/request.go readRequest
//	                   http_body.go    bodies       net/http/transfer.go, internal/chunked.go
//	                   http_response.go writer      net/http/server.go  response
//	                   http_conn.go    buffers      net/http/server.go  conn, bufio
//	TCP connection     listener.go, conn.go         net/tcpsock.go, net/sock_posix.go
//	FD management      fd.go                        internal/poll/fd_unix.go  FD
//	Network poller     poller.go, poller_epoll.go   runtime/netpoll.go, netpoll_epoll.go
//	OS syscalls        sys.go                       syscall, golang.org/x/sys/unix
//
// # One request
//
// Listen runs socket → setsockopt(SO_REUSEADDR) → bind → listen, registers
// the listening fd with the poller, and Serve calls accept4. The accept queue
// is empty, so accept4 returns EAGAIN and the accepting goroutine parks on the
// listener's pollDesc. The poller goroutine sits in epoll_wait.
//
// curl connects. The kernel completes the three-way handshake by itself and
// queues the connection; epoll_wait returns the listener as readable; the
// poller wakes the accepting goroutine; accept4 returns a new fd, which is
// registered with epoll (edge-triggered, for reading and writing, once) and
// handed to a goroutine of its own.
//
// That goroutine reads. If the request has not arrived, read returns EAGAIN:
// the goroutine parks, and the poller wakes it when epoll reports the fd
// readable. It parses the request head, calls the handler, writes the
// response, and reads again for the next request on the same connection
// (keep-alive), parking while the client is quiet, until the client closes
// (read returns 0), the idle timeout passes, or either side asks to close.
//
// # Closing well
//
// When the server closes first it follows RFC 9112 §9.6: shutdown(SHUT_WR)
// sends FIN, the server reads and discards until the client's FIN or a short
// linger, and only then calls close. Closing with unread request bytes in the
// receive buffer would make the kernel send RST (RFC 1122 §4.2.2.13), and the
// client could lose the response: seed 002's "Connection reset by peer".
// CloseImmediately skips this on purpose, to show it.
//
// # What is simplified
//
// Go parks goroutines inside the runtime, where its netpoller is integrated
// with the scheduler (findrunnable polls the network). Ours is an ordinary
// goroutine blocked in epoll_wait that wakes parked goroutines through
// channels: the same protocol — register once, edge-triggered, park on
// EAGAIN, latch readiness that arrives early — in code anyone can step
// through. Only Linux (epoll) is implemented; a kqueue file would implement
// the same five functions.
//
// # Watching
//
// Set Server.Tracer to receive events (docs/EVENTS.md) and Server.Gate to
// hold each syscall for a presenter. With neither set, the instrumentation is
// two nil checks per call and allocates nothing.
package engine
