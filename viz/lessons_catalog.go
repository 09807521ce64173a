package viz

import (
	"context"
	"math"
	"net"
	"strconv"
	"strings"
	"time"
)

// lesson is one scenario: what the page shows about it and the client
// that plays it. Texts may hold placeholders that fill replaces with this
// engine's values: {addr}, {addr1} (its host, port 1), {host}, {port}, {idle}, {idle+1s}, {backlog},
// {queue} (backlog+1), {n} (connections the backlog scenario makes).
type lesson struct {
	name      string
	title     Text
	narration Text
	command   string // the same by hand; several lines are several commands
	limit     func(l *Lessons) time.Duration
	run       func(ctx context.Context, r *run) (summary string, err error)
}

func (ls *lesson) scenario(l *Lessons) Scenario {
	return Scenario{
		Name:      ls.name,
		Title:     Text{EN: l.fill(ls.title.EN), JA: l.fill(ls.title.JA)},
		Narration: Text{EN: l.fill(ls.narration.EN), JA: l.fill(ls.narration.JA)},
		Command:   l.fill(ls.command),
	}
}

// within is a fixed time bound.
func within(d time.Duration) func(*Lessons) time.Duration {
	return func(*Lessons) time.Duration { return d }
}

// The numbers the scenarios use.
const (
	burstConns   = 50        // burst: concurrent connections
	backlogMax   = 64        // backlog: at most this many connections
	rstBody      = 1_000_000 // rst: request body bytes, as in DESIGN.md's curl line
	bigKiB       = 8192      // big-response: 8 MiB
	slowChunk    = 6         // slow-client: bytes per write
	slowPause    = 200 * time.Millisecond
	halfCloseMS  = 1000 // half-close: how long the handler sleeps
	pipelineMS   = 300  // pipeline: the first, slow request
	defaultIdle  = 5 * time.Second
	unknownIdle  = time.Minute // keep-alive: the wait when IdleTimeout is unknown
	backlogHold  = 2 * time.Second
	closeMaxTime = 15 * time.Second
)

// catalog is every scenario in teaching order (issue 5).
var catalog = []lesson{
	{
		name: "close",
		title: Text{
			EN: "Connection: close — the server closes first",
			JA: "Connection: close — サーバーが先に閉じる",
		},
		narration: Text{
			EN: "One GET /hello with “Connection: close”. After the response the server calls shutdown(SHUT_WR), so its FIN goes out first: " +
				"its socket walks FIN_WAIT1 → FIN_WAIT2, and once the client closes too, TIME_WAIT. " +
				"The fd is gone by then, yet the kernel keeps the socket for 60 s (the sock_diag rows): whoever closes first pays the TIME_WAIT.",
			JA: "「Connection: close」を付けた GET /hello を1回送ります。レスポンスの後、サーバーは shutdown(SHUT_WR) を呼ぶので、先に FIN を送るのはサーバーです。" +
				"サーバー側のソケットは FIN_WAIT1 → FIN_WAIT2 と進み、クライアントも閉じると TIME_WAIT になります。" +
				"そのとき fd はもうありませんが、カーネルはソケットを 60 秒間保持します（sock_diag の行）。先に閉じた側が TIME_WAIT を引き受けるのです。",
		},
		command: "curl -v -H 'Connection: close' http://{addr}/hello",
		limit:   within(closeMaxTime),
		run:     runClose,
	},
	{
		name: "keep-alive",
		title: Text{
			EN: "Keep-alive: three requests on one connection",
			JA: "Keep-Alive：1本の接続で3つのリクエスト",
		},
		narration: Text{
			EN: "Three GET /hello, one after another, on one TCP connection: one accept, one fd, one client port, three requests " +
				"(seeds 001 and 004: the handshake's 1.5 RTT is paid once). Then the client goes quiet. The server waits in epoll " +
				"for a fourth request until its idle timeout ({idle}) passes, and then closes the connection itself.",
			JA: "1本の TCP 接続で GET /hello を3回続けて送ります。accept は1回、fd もクライアントのポートも1つのまま、リクエストだけが3つ" +
				"（シード 001・004：ハンドシェイクの 1.5 RTT を払うのは最初の1回だけ）。その後クライアントは黙ります。" +
				"サーバーは4つ目のリクエストを epoll で待ち続け、アイドルタイムアウト（{idle}）が過ぎると自分から接続を閉じます。",
		},
		command: `{ for i in 1 2 3; do printf 'GET /hello HTTP/1.1\r\nHost: {addr}\r\n\r\n'; sleep 0.3; done; sleep {idle+1s}; } | nc {host} {port}`,
		limit: func(l *Lessons) time.Duration {
			if l.IdleTimeout > 0 {
				return l.IdleTimeout + 15*time.Second
			}
			return unknownIdle + 15*time.Second
		},
		run: runKeepAlive,
	},
	{
		name: "http10",
		title: Text{
			EN: "HTTP/1.0: one request per connection",
			JA: "HTTP/1.0：1つの接続に1つのリクエスト",
		},
		narration: Text{
			EN: "A GET /hello in HTTP/1.0, which closes the connection after every response unless the client asks for keep-alive " +
				"(seed 004's first server). The server answers and closes at once; the reason it gives is “HTTP/1.0 without keep-alive”. " +
				"Compare with the keep-alive scenario: here every request pays for its own handshake.",
			JA: "HTTP/1.0 で GET /hello を送ります。HTTP/1.0 では、クライアントが keep-alive を求めない限り、レスポンスごとに接続を閉じます" +
				"（シード 004 の最初のサーバー）。サーバーは応答してすぐ閉じ、理由として「HTTP/1.0 without keep-alive」が表示されます。" +
				"keep-alive のシナリオと比べてみてください。こちらはリクエストのたびにハンドシェイクが必要です。",
		},
		command: "curl -v --http1.0 http://{addr}/hello",
		limit:   within(closeMaxTime),
		run:     runHTTP10,
	},
	{
		name: "rst",
		title: Text{
			EN: "Closing without reading: RST (seed 002)",
			JA: "読まずに閉じると RST（シード 002）",
		},
		narration: Text{
			EN: "POST 1,000,000 bytes to /rst, which answers without reading the body and closes at once. The unread bytes are still in the " +
				"server's receive buffer, so close(2) makes the kernel send RST instead of FIN (RFC 1122 §4.2.2.13): the client gets " +
				"ECONNRESET — curl exits 56, “Connection reset by peer”. Then the same body to /echo, which reads all of it: " +
				"shutdown, FIN, a clean EOF (RFC 9112 §9.6).",
			JA: "1,000,000 バイトを /rst に POST します。/rst は本文を読まずに応答し、すぐに閉じます。読まれなかったバイトがサーバーの受信バッファに" +
				"残っているため、close(2) でカーネルは FIN ではなく RST を送ります（RFC 1122 §4.2.2.13）。クライアントが受け取るのは ECONNRESET — " +
				"curl なら終了コード 56「Connection reset by peer」です。続いて同じ本文を、全部読む /echo に送ると、" +
				"shutdown → FIN で、きれいに EOF で終わります（RFC 9112 §9.6）。",
		},
		command: "head -c 1000000 /dev/zero | curl -sS -o /dev/null --data-binary @- http://{addr}/rst; echo \"exit $?\"\n" +
			"head -c 1000000 /dev/zero | curl -sS -o /dev/null --data-binary @- http://{addr}/echo; echo \"exit $?\"",
		limit: within(20 * time.Second),
		run:   runRST,
	},
	{
		name: "half-close",
		title: Text{
			EN: "Half-close: the client shuts down its sending side",
			JA: "ハーフクローズ：クライアントが送信側だけを閉じる",
		},
		narration: Text{
			EN: "The client sends GET /slow?ms=1000 and at once calls shutdown(SHUT_WR). Its FIN arrives while the handler sleeps, so the " +
				"server's socket is in CLOSE_WAIT: the peer has finished sending, we have not. The other direction is still open and the " +
				"response gets through. Then the server reads EOF (read returns 0) and closes; its socket passes through LAST_ACK until " +
				"the client's ACK comes back — on loopback, within microseconds.",
			JA: "クライアントは GET /slow?ms=1000 を送り、すぐに shutdown(SHUT_WR) を呼びます。ハンドラーが sleep している間に FIN が届くので、" +
				"サーバー側のソケットは CLOSE_WAIT になります。相手は送り終えたけれど、こちらはまだ、という状態です。逆方向はまだ開いているので、" +
				"レスポンスは届きます。その後サーバーは EOF（read が 0 を返す）を読んで close し、ソケットはクライアントの ACK が戻るまで " +
				"LAST_ACK を通ります — ループバックでは数マイクロ秒です。",
		},
		command: `printf 'GET /slow?ms=1000 HTTP/1.1\r\nHost: {addr}\r\n\r\n' | nc -N {host} {port}`,
		limit:   within(20 * time.Second),
		run:     runHalfClose,
	},
	{
		name: "slow-client",
		title: Text{
			EN: "A slow client: EAGAIN, park, wake, again",
			JA: "遅いクライアント：EAGAIN → park → wake の繰り返し",
		},
		narration: Text{
			EN: "The request arrives a few bytes at a time, 200 ms apart. Each time, the server reads what is there, reads again, gets " +
				"EAGAIN, and its goroutine parks; epoll reports the fd readable and wakes it. A goroutine waits, no thread blocks: the " +
				"heart of Go's netpoller (seed 000). The header timeout bounds how long a client may dribble (slowloris).",
			JA: "リクエストが数バイトずつ、200 ms おきに届きます。サーバーはそのたびに届いた分を read し、もう一度 read して EAGAIN を受け取り、" +
				"ゴルーチンを park します。epoll が fd の読み込み可能を知らせると、ゴルーチンが wake します。待つのはゴルーチンで、スレッドは" +
				"ブロックしません — Go のネットポーラーの核心です（シード 000）。少しずつ送り続けるクライアント（slowloris）は、" +
				"ヘッダータイムアウトが打ち切ります。",
		},
		command: `for p in 'GET /hel' 'lo HTTP/1.1\r\n' 'Host: {addr}\r\n' 'Connection: close\r\n' '\r\n'; do printf "$p"; sleep 0.3; done | nc {host} {port}`,
		limit:   within(20 * time.Second),
		run:     runSlowClient,
	},
	{
		name: "pipeline",
		title: Text{
			EN: "Pipelining: two requests in one write",
			JA: "パイプライン：1回の write に2つのリクエスト",
		},
		narration: Text{
			EN: "GET /slow?ms=300 and GET /hello leave in one write, so one read(2) brings both. The server parses and answers them in " +
				"order on the same fd: /hello waits behind the slow one, because HTTP/1.1 responses come back in the order of the " +
				"requests (RFC 9112 §9.3.2). That is head-of-line blocking.",
			JA: "GET /slow?ms=300 と GET /hello を1回の write で送るので、1回の read(2) で両方が届きます。サーバーは同じ fd の上で、" +
				"順番に解析して応答します。HTTP/1.1 のレスポンスはリクエストの順に返す決まりなので（RFC 9112 §9.3.2）、/hello は遅い" +
				"リクエストの後ろで待たされます。これが Head-of-Line ブロッキングです。",
		},
		command: `printf 'GET /slow?ms=300 HTTP/1.1\r\nHost: {addr}\r\n\r\nGET /hello HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n' | nc {host} {port}`,
		limit:   within(15 * time.Second),
		run:     runPipeline,
	},
	{
		name: "burst",
		title: Text{
			EN: "A burst of 50 connections",
			JA: "50 本の接続が一度に",
		},
		narration: Text{
			EN: "50 clients connect at the same moment, then send their requests at the same moment. The kernel completes handshakes " +
				"faster than accept4 takes them, so the accept queue fills and drains; one epoll_wait returns several ready fds, and one " +
				"poller wakes many goroutines. Every connection gets its own fd and its own id.",
			JA: "50 のクライアントが同時に接続し、同時にリクエストを送ります。カーネルは accept4 が取り出すより速くハンドシェイクを済ませるので、" +
				"accept キューが溜まっては減っていきます。1回の epoll_wait が複数の fd を返し、1つのポーラーがたくさんのゴルーチンを起こします。" +
				"接続ごとに別々の fd と id が割り当てられます。",
		},
		command: "seq 50 | xargs -P 50 -I{} curl -s -o /dev/null http://{addr}/hello",
		limit:   within(20 * time.Second),
		run:     runBurst,
	},
	{
		name: "backlog",
		title: Text{
			EN: "The accept queue and the backlog",
			JA: "accept キューとバックログ",
		},
		narration: Text{
			EN: "The engine stops calling accept4, then {n} clients connect. Their connect() calls return anyway: the kernel completes " +
				"the three-way handshake by itself and puts each connection in the listener's accept queue, before any fd exists. " +
				"The queue holds backlog+1 ({queue} here, listen backlog {backlog}); past that, new SYNs are dropped and their clients " +
				"send them again 1 s later, and a handshake whose last ACK finds the queue full stays in SYN_RECV. Then accept resumes and the " +
				"queue drains.",
			JA: "エンジンが accept4 を呼ぶのを止めてから、{n} 個のクライアントが接続します。それでも connect() は返ります。" +
				"3ウェイハンドシェイクはカーネルが自分で済ませ、接続をリスナーの accept キューに入れるからです — fd はまだありません。" +
				"キューに入るのは backlog+1 個（ここでは listen の backlog が {backlog} なので {queue} 個）まで。それを超えると新しい SYN は" +
				"捨てられ、クライアントは 1 秒後に SYN を再送します。最後の ACK が満杯のキューに当たったハンドシェイクは SYN_RECV のまま残ります。" +
				"その後 accept を再開すると、キューは空になっていきます。",
		},
		command: "for i in $(seq {n}); do curl -s -o /dev/null http://{addr}/hello & done; ss -ltn 'sport = :{port}'; wait\n" +
			"# a shell cannot pause accept(); ss shows the accept queue (Recv-Q) and the backlog (Send-Q)",
		limit: within(30 * time.Second),
		run:   runBacklog,
	},
	{
		name: "big-response",
		title: Text{
			EN: "A big response: write meets EAGAIN",
			JA: "大きなレスポンス：write が EAGAIN に出会う",
		},
		narration: Text{
			EN: "GET /big?kb=8192: 8 MiB, more than the socket's send buffer holds, read slowly by the client. The server's write fills " +
				"the send buffer and returns EAGAIN, and the goroutine parks on write. Each time the client reads, the window opens " +
				"again, epoll reports EPOLLOUT, and the writer wakes up to write the next piece.",
			JA: "GET /big?kb=8192（8 MiB。ソケットの送信バッファに収まらない大きさ）を、クライアントがゆっくり読みます。サーバーの write は" +
				"送信バッファを満たして EAGAIN を返し、ゴルーチンは write で park します。クライアントが読むたびにウィンドウが開き、" +
				"epoll が EPOLLOUT を知らせ、書き手が起きて続きを書きます。",
		},
		command: "curl -s -o /dev/null --limit-rate 2M 'http://{addr}/big?kb=8192'",
		limit:   within(30 * time.Second),
		run:     runBigResponse,
	},
	{
		name: "refused",
		title: Text{
			EN: "Connection refused: nobody listens",
			JA: "接続拒否：誰も listen していない",
		},
		narration: Text{
			EN: "A connect to a port where no socket listens. The kernel answers the SYN with RST by itself, connect() fails with " +
				"ECONNREFUSED (curl exits 7), and nothing reaches the engine: no accept, no fd, no event in any layer. The silence is " +
				"the lesson (the first cause of RST in seed 002's list).",
			JA: "どのソケットも listen していないポートに connect します。カーネル自身が SYN に RST で応え、connect() は ECONNREFUSED で失敗し" +
				"（curl なら終了コード 7）、エンジンには何も届きません。accept も fd もなく、どの層にもイベントは出ません。" +
				"この静けさが教訓です（シード 002 の RST が送られる場合の一覧、その [1]）。",
		},
		command: "curl -v http://{addr1}/",
		limit:   within(10 * time.Second),
		run:     runRefused,
	},
}

func findLesson(name string) *lesson {
	for i := range catalog {
		if catalog[i].name == name {
			return &catalog[i]
		}
	}
	return nil
}

func lessonNames() []string {
	names := make([]string, len(catalog))
	for i := range catalog {
		names[i] = catalog[i].name
	}
	return names
}

// idle is the idle timeout the texts show: the engine's, or the flag's
// default when unknown.
func (l *Lessons) idle() time.Duration {
	if l.IdleTimeout > 0 {
		return l.IdleTimeout
	}
	return defaultIdle
}

// backlogConns is how many connections the backlog scenario makes: four
// more than the queue's bound (Linux queues backlog+1: sk_acceptq_is_full
// in include/net/sock.h tests ack_backlog > max_ack_backlog), so that it
// overflows, but never more than
// backlogMax — with the default backlog of 128 they all fit, and the
// scenario says to start sockscope with a small -backlog to see overflow.
func (l *Lessons) backlogConns() int { return min(l.backlog()+4, backlogMax) }

// fill replaces the texts' placeholders with this engine's values.
func (l *Lessons) fill(s string) string {
	if !strings.Contains(s, "{") {
		return s
	}
	host, port := l.hostPort()
	return strings.NewReplacer(
		"{addr}", l.target(),
		"{addr1}", net.JoinHostPort(host, "1"),
		"{host}", host,
		"{port}", port,
		"{idle}", l.idle().String(),
		"{idle+1s}", strconv.Itoa(int(math.Ceil(l.idle().Seconds()))+1),
		"{backlog}", strconv.Itoa(l.backlog()),
		"{queue}", strconv.Itoa(l.backlog()+1),
		"{n}", strconv.Itoa(l.backlogConns()),
	).Replace(s)
}
