// why.js — one line per event op: what the kernel or the runtime is doing
// at this step, and where Go's own stack does the same thing. Pure data.

const W = {
  // --- syscall: every call into the kernel --------------------------------
  'syscall:socket': {
    en: 'The kernel creates a socket and hands back the lowest free fd number. Go: sysSocket in net/sock_cloexec.go, called from socket() in net/sock_posix.go.',
    ja: 'カーネルがソケットを作り、空いている最小のfd番号を返す。Go: net/sock_posix.go の socket() から net/sock_cloexec.go の sysSocket。',
  },
  'syscall:setsockopt': {
    en: 'SO_REUSEADDR lets a restarted server bind its port while old connections still sit in TIME_WAIT. Go: setDefaultListenerSockopts in net/sockopt_linux.go.',
    ja: 'SO_REUSEADDR: 古い接続が TIME_WAIT に残っていても再起動したサーバーが同じポートに bind できる。Go: net/sockopt_linux.go の setDefaultListenerSockopts。',
  },
  'syscall:bind': {
    en: 'Attach the socket to an address and port. Go: syscall.Bind in netFD.listenStream (net/sock_posix.go).',
    ja: 'ソケットをアドレスとポートに紐付ける。Go: net/sock_posix.go の netFD.listenStream 内の syscall.Bind。',
  },
  'syscall:listen': {
    en: 'Make it a listening socket: from now on the kernel completes handshakes itself and queues them, up to the backlog. Go: listenFunc in netFD.listenStream.',
    ja: '待ち受けソケットにする。以後カーネルが自分でハンドシェイクを完了させ、backlog まで接続待ち行列に積む。Go: netFD.listenStream の listenFunc。',
  },
  'syscall:epoll_create1': {
    en: 'Create the epoll instance the poller will sleep on. Go: netpollinit in runtime/netpoll_epoll.go.',
    ja: 'ポーラーが待つ epoll インスタンスを作る。Go: runtime/netpoll_epoll.go の netpollinit。',
  },
  'syscall:eventfd2': {
    en: 'An fd to poke the poller with, so epoll_wait can be woken for shutdown. Go: the eventfd of netpollBreak in runtime/netpoll_epoll.go.',
    ja: 'ポーラーを起こすための fd。シャットダウン時に epoll_wait を起こせる。Go: runtime/netpoll_epoll.go の netpollBreak が使う eventfd。',
  },
  'syscall:epoll_ctl': {
    en: 'Register the fd once, edge-triggered, for IN|OUT|RDHUP. Go: netpollopen in runtime/netpoll_epoll.go, from pollDesc.init.',
    ja: 'fd を一度だけ、エッジトリガーで IN|OUT|RDHUP に登録する。Go: pollDesc.init から runtime/netpoll_epoll.go の netpollopen。',
  },
  'syscall:epoll_wait': {
    en: 'The poller slept in the kernel until some fd became ready; it returns the ready list. Go: netpoll() in runtime/netpoll_epoll.go, called by the scheduler.',
    ja: 'ポーラーはどれかの fd が準備できるまでカーネル内で眠り、準備できた fd の一覧を返す。Go: スケジューラが呼ぶ runtime/netpoll_epoll.go の netpoll()。',
  },
  'syscall:accept4': {
    en: 'Take one finished connection off the accept queue: a new fd just for it. Go: accept() in internal/poll/sock_cloexec.go, via FD.Accept.',
    ja: '接続待ち行列から完了済みの接続を一つ取り出す。その接続専用の新しい fd が返る。Go: FD.Accept から internal/poll/sock_cloexec.go の accept()。',
  },
  'syscall:read': {
    en: 'Copy bytes the kernel already received into our buffer. Non-blocking: it never waits. Go: FD.Read in internal/poll/fd_unix.go.',
    ja: 'カーネルが受信済みのバイトをバッファにコピーする。非ブロッキングなので待たない。Go: internal/poll/fd_unix.go の FD.Read。',
  },
  'syscall:read:EAGAIN': {
    en: 'Nothing to read yet: a non-blocking read says EAGAIN instead of sleeping. Go: FD.Read sees syscall.EAGAIN and calls fd.pd.waitRead.',
    ja: 'まだ読むものがない。非ブロッキングの read は眠らずに EAGAIN を返す。Go: FD.Read が syscall.EAGAIN を見て fd.pd.waitRead を呼ぶ。',
  },
  'syscall:read:EOF': {
    en: 'read returned 0: end of file — the client closed its side (its FIN arrived).',
    ja: 'read が 0 を返した: EOF。クライアントが自分の側を閉じた (FIN が届いた)。',
  },
  'syscall:write': {
    en: 'Copy bytes into the socket’s send buffer; the kernel sends them on its own time. Go: FD.Write in internal/poll/fd_unix.go.',
    ja: 'バイトをソケットの送信バッファにコピーする。実際の送信はカーネルが行う。Go: internal/poll/fd_unix.go の FD.Write。',
  },
  'syscall:write:EAGAIN': {
    en: 'The send buffer is full: write says EAGAIN; the goroutine will park until EPOLLOUT. Go: FD.Write calls fd.pd.waitWrite.',
    ja: '送信バッファが満杯で write が EAGAIN。EPOLLOUT までゴルーチンはパークする。Go: FD.Write が fd.pd.waitWrite を呼ぶ。',
  },
  'syscall:writev': {
    en: 'Header and body in one gathered write. Go: FD.Writev in internal/poll/writev.go (net.Buffers).',
    ja: 'ヘッダーとボディを一回の書き込みで送る (writev)。Go: internal/poll/writev.go の FD.Writev (net.Buffers)。',
  },
  'syscall:shutdown': {
    en: 'SHUT_WR sends our FIN but keeps reading, so unread request bytes do not turn close into a RST (RFC 9112 §9.6). Go: closeWriteAndWait in net/http/server.go.',
    ja: 'SHUT_WR で FIN を送りつつ読み続ける。未読のリクエストが close を RST に変えないように (RFC 9112 §9.6)。Go: net/http/server.go の closeWriteAndWait。',
  },
  'syscall:close': {
    en: 'Give the fd back to the kernel; the next accept may get the same number. Go: FD.Close in internal/poll/fd_unix.go (after netpollclose).',
    ja: 'fd をカーネルに返す。次の accept が同じ番号を受け取るかもしれない。Go: internal/poll/fd_unix.go の FD.Close (netpollclose の後)。',
  },
  'syscall:getsockopt': {
    en: 'Ask the kernel for TCP_INFO (state, queues). Only observing — Go’s net package never asks this.',
    ja: 'カーネルに TCP_INFO (状態・キュー) を尋ねる。観察のためだけで、Go の net パッケージはこれを使わない。',
  },
  // --- poller -------------------------------------------------------------
  'poller:wait': {
    en: 'The poller goroutine blocks in epoll_wait: no CPU until the kernel reports readiness. Go: the scheduler calls netpoll(delay) when it has nothing to run.',
    ja: 'ポーラーのゴルーチンが epoll_wait でブロック。カーネルが準備完了を知らせるまで CPU を使わない。Go: 実行するものがないときスケジューラが netpoll(delay) を呼ぶ。',
  },
  'poller:ready': {
    en: 'epoll says this fd is ready; the goroutine parked on it becomes runnable. Go: netpollready → netpollunblock in runtime/netpoll.go.',
    ja: 'epoll がこの fd の準備完了を報告。そこでパークしていたゴルーチンが実行可能になる。Go: runtime/netpoll.go の netpollready → netpollunblock。',
  },
  'poller:stale': {
    en: 'A readiness report for an fd that was closed (and maybe reused) since: ignored. Go guards this with pollDesc.fdseq in runtime/netpoll.go.',
    ja: '閉じられた (再利用されたかもしれない) fd への準備完了通知なので無視する。Go は runtime/netpoll.go の pollDesc.fdseq で防いでいる。',
  },
  // --- fd -----------------------------------------------------------------
  'fd:park': {
    en: 'The call said EAGAIN, so the goroutine sleeps on its poll descriptor. Like internal/poll’s fd.pd.waitRead → runtime.netpollblock (gopark).',
    ja: '呼び出しが EAGAIN だったので、ゴルーチンはポーリング記述子の上で眠る。internal/poll の fd.pd.waitRead → runtime.netpollblock (gopark) と同じ。',
  },
  'fd:wake': {
    en: 'The poller saw the fd ready and woke the goroutine; it retries the call. Like runtime.netpollunblock readying the G parked in netpollblock.',
    ja: 'ポーラーが fd の準備完了を見てゴルーチンを起こした。呼び出しをやり直す。runtime.netpollunblock が netpollblock で眠る G を起こすのと同じ。',
  },
  'fd:timeout': {
    en: 'A deadline passed while parked: the call fails with a timeout. Go: SetReadDeadline → netpolldeadlineimpl → os.ErrDeadlineExceeded.',
    ja: 'パーク中に期限を過ぎ、呼び出しはタイムアウトで失敗する。Go: SetReadDeadline → netpolldeadlineimpl → os.ErrDeadlineExceeded。',
  },
  // --- tcp ----------------------------------------------------------------
  'tcp:listen': {
    en: 'The listener is ready: the kernel completes handshakes and queues them until accept. Go: net.Listen returns a *TCPListener (net/tcpsock.go).',
    ja: 'リスナーの準備完了。カーネルがハンドシェイクを完了させ accept まで行列に積む。Go: net.Listen が *TCPListener を返す (net/tcpsock.go)。',
  },
  'tcp:accept': {
    en: 'A new connection gets its id and its own goroutine. Go: TCPListener.Accept, then Server.Serve starts go c.serve(ctx).',
    ja: '新しい接続に id と専用のゴルーチンが割り当てられる。Go: TCPListener.Accept の後、Server.Serve が go c.serve(ctx) を起動。',
  },
  'tcp:state': {
    en: 'The kernel’s TCP state changed (RFC 9293 §3.3.2). Go never shows this; we read it from TCP_INFO or sock_diag.',
    ja: 'カーネル内の TCP 状態が変わった (RFC 9293 §3.3.2)。Go は見せてくれないので TCP_INFO や sock_diag から読む。',
  },
  'tcp:queue': {
    en: 'Handshakes the kernel finished, waiting for accept(). When it is full, new SYNs wait. Go caps the backlog at somaxconn (maxListenerBacklog, net/sock_linux.go).',
    ja: 'カーネルがハンドシェイクを終え accept() を待つ接続。満杯だと新しい SYN は待たされる。Go は backlog を somaxconn に合わせる (net/sock_linux.go の maxListenerBacklog)。',
  },
  'tcp:close': {
    en: 'The connection is gone from the server; the bytes it moved in and out. Go: TCPConn.Close, then the fd is released.',
    ja: '接続がサーバーから消えた。送受信したバイト数。Go: TCPConn.Close の後 fd が解放される。',
  },
  'tcp:backoff': {
    en: 'Out of fds (EMFILE): accept sleeps instead of spinning, and tries again. Go: the tempDelay back-off in Server.Serve (net/http/server.go).',
    ja: 'fd が尽きた (EMFILE)。accept は空回りせずに眠ってから再試行する。Go: net/http/server.go の Server.Serve の tempDelay。',
  },
  // --- http ---------------------------------------------------------------
  'http:request': {
    en: 'A request head was parsed from the bytes read. Go: c.readRequest → http.ReadRequest (net/http/server.go, request.go).',
    ja: '読んだバイトからリクエストヘッダーをパースした。Go: c.readRequest → http.ReadRequest (net/http/server.go, request.go)。',
  },
  'http:continue': {
    en: 'The handler read the body, so Expect: 100-continue is answered now. Go: expectContinueReader in net/http/server.go.',
    ja: 'ハンドラーがボディを読んだので Expect: 100-continue に答える。Go: net/http/server.go の expectContinueReader。',
  },
  'http:response': {
    en: 'The status line and headers go out with the body. Go: response.finishRequest and chunkWriter in net/http/server.go.',
    ja: 'ステータス行とヘッダーがボディと一緒に送られる。Go: net/http/server.go の response.finishRequest と chunkWriter。',
  },
  'http:error': {
    en: 'A malformed request: the server answers the error itself and closes. Go: conn.serve answers e.g. 431 Request Header Fields Too Large.',
    ja: '不正なリクエスト。サーバー自身がエラーを返して閉じる。Go: conn.serve が 431 Request Header Fields Too Large などを返す。',
  },
  'http:idle': {
    en: 'Keep-alive: the connection waits for the next request, until the idle timeout. Go: the loop in conn.serve, StateIdle and Server.IdleTimeout.',
    ja: 'Keep-Alive: 次のリクエストをアイドルタイムアウトまで待つ。Go: conn.serve のループ、StateIdle と Server.IdleTimeout。',
  },
  'http:drain': {
    en: 'Unread body bytes are read and thrown away, so closing does not send a RST. Go: closeWriteAndWait and the body discard in net/http/server.go.',
    ja: '未読のボディを読んで捨てる。close で RST を送らないように。Go: net/http/server.go の closeWriteAndWait とボディの読み捨て。',
  },
  'http:close': {
    en: 'The server decided to close this connection, and why. Go: conn.serve returns and its deferred c.close() runs.',
    ja: 'サーバーがこの接続を閉じると決めた。その理由。Go: conn.serve が戻り、defer の c.close() が走る。',
  },
  // --- app ----------------------------------------------------------------
  'app:handler_start': {
    en: 'Your http.Handler runs: ServeHTTP(w, r). Go: serverHandler{c.server}.ServeHTTP(w, w.req) in conn.serve.',
    ja: 'あなたの http.Handler が動く: ServeHTTP(w, r)。Go: conn.serve 内の serverHandler{c.server}.ServeHTTP(w, w.req)。',
  },
  'app:handler_end': {
    en: 'ServeHTTP returned; what it wrote is flushed to the connection. Go: w.finishRequest() in conn.serve.',
    ja: 'ServeHTTP が戻った。書かれた内容が接続に送り出される。Go: conn.serve 内の w.finishRequest()。',
  },
  'app:panic': {
    en: 'The handler panicked: a 500, a log line, the connection closed — the server survives. Go: the deferred recover in conn.serve.',
    ja: 'ハンドラーが panic した。500 を返しログを書き接続を閉じる。サーバーは生き残る。Go: conn.serve の defer 内の recover。',
  },
};

/**
 * whyKey picks the line for an event: `syscall:read:EAGAIN` before
 * `syscall:read`, `syscall:read:EOF` for a read of 0.
 */
export function whyKey(ev) {
  const base = `${ev.layer}:${ev.op}`;
  if (ev.layer === 'syscall') {
    if (ev.errno && W[`${base}:${ev.errno}`]) return `${base}:${ev.errno}`;
    if (ev.op === 'read' && ev.ret === 0 && !ev.errno) return `${base}:EOF`;
  }
  return base;
}

/** why returns the one-line explanation of an event in lang ('en' or 'ja'), or ''. */
export function why(ev, lang = 'en') {
  const w = W[whyKey(ev)];
  if (!w) return '';
  return w[lang] ?? w.en;
}

/** WHY is the table itself, for tests: every entry must have en and ja. */
export const WHY = W;
