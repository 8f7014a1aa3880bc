//! The HTTP transport: our own accept loop instead of `axum::serve`, so that every
//! connection has a header deadline, an idle deadline and a slot under the caps (in
//! total and per source address). Upgraded WebSockets keep their slot until they close.
//! Past a cap a connection is answered `503 server_busy` (`/healthz` still answers) from
//! a small reserve, and closed. The security headers every answer carries live here too.

use std::collections::HashMap;
use std::convert::Infallible;
use std::fmt::Write;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, OnceLock};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use aula_proto::{ApiError, ErrorCode};
use axum::Router;
use axum::body::{Body, HttpBody};
use axum::extract::Request;
use axum::http::{HeaderName, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

use crate::AppState;

/// Connections answered `503` (or `/healthz`) past the caps, at once. Beyond these a new
/// connection is closed without a word.
pub const BUSY_RESERVE: usize = 64;
/// File descriptors kept for everything that is not a client connection: the database
/// and its journal, the media socket, the mail relay, picture files being read, logs.
pub const FD_HEADROOM: usize = 64;
/// Seconds a client is told to wait when the server is full.
pub const RETRY_AFTER_SECS: u64 = 5;
/// A connection in the busy reserve gets this long to send its request.
const BUSY_HEADER_TIMEOUT: Duration = Duration::from_secs(2);

/// What the web client needs and nothing more: its own scripts (no inline ones), its
/// stylesheet and the style attributes it sets, pictures from the server, `data:` (the
/// teacher's thumbnails) and `blob:` (exports), fetch and WebSocket to this server. Media
/// from WebRTC needs no source. No framing by anyone.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; \
     style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; media-src 'self' blob:; \
     font-src 'self' data:; connect-src 'self' ws: wss:; worker-src 'self' blob:; \
     object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// The headers every answer carries (unless the handler set its own, as pictures do).
pub fn security_headers(headers: &mut axum::http::HeaderMap) {
    let set: [(HeaderName, &'static str); 4] = [
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY),
        // Links carry tokens in their query: never send them to another site.
        (header::REFERRER_POLICY, "no-referrer"),
        (header::X_FRAME_OPTIONS, "DENY"),
    ];
    for (name, value) in set {
        headers
            .entry(name)
            .or_insert(HeaderValue::from_static(value));
    }
}

/// Middleware: [`security_headers`] on every response of the router.
pub async fn with_security_headers(req: Request, next: axum::middleware::Next) -> Response {
    let mut res = next.run(req).await;
    security_headers(res.headers_mut());
    res
}

/// The error a request body gets when it is not complete by its deadline.
pub const BODY_TIMEOUT_MESSAGE: &str = "the request body took too long to arrive";

/// Middleware: a request body must arrive in full within `limit` of the request's
/// start (a body trickling in a byte at a time is cut off, not only a silent one).
pub async fn body_deadline(
    axum::extract::State(limit): axum::extract::State<Duration>,
    req: Request,
    next: axum::middleware::Next,
) -> Response {
    if req.body().is_end_stream() {
        return next.run(req).await;
    }
    let deadline = tokio::time::Instant::now() + limit;
    let req = req.map(|body| {
        let stream = body.into_data_stream();
        Body::from_stream(futures_util::stream::unfold(
            Some(stream),
            move |state| async move {
                let mut stream = state?;
                match tokio::time::timeout_at(deadline, stream.next()).await {
                    Ok(Some(item)) => Some((item, Some(stream))),
                    Ok(None) => None,
                    Err(_) => Some((
                        Err(axum::Error::new(io::Error::new(
                            io::ErrorKind::TimedOut,
                            BODY_TIMEOUT_MESSAGE,
                        ))),
                        None,
                    )),
                }
            },
        ))
    });
    let mut res = next.run(req).await;
    // A client that was cut off mid-body is not worth keeping.
    if res.status() == StatusCode::REQUEST_TIMEOUT {
        res.headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    res
}

/// The open-file limit's soft value, raised to the hard one (a server that holds one
/// socket per student wants them all). None where it cannot be read.
#[cfg(unix)]
#[allow(clippy::useless_conversion)] // rlim_t is u64 on most targets, not all
pub fn raise_open_file_limit() -> Option<u64> {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit and setrlimit only read and write the struct we pass.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) != 0 {
            return None;
        }
        if lim.rlim_cur < lim.rlim_max {
            let raised = libc::rlimit {
                rlim_cur: lim.rlim_max,
                rlim_max: lim.rlim_max,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
                lim.rlim_cur = lim.rlim_max;
            }
        }
    }
    Some(u64::from(lim.rlim_cur))
}

#[cfg(not(unix))]
pub fn raise_open_file_limit() -> Option<u64> {
    None
}

/// The open-file limit as it is now.
#[cfg(unix)]
#[allow(clippy::useless_conversion)]
fn open_file_limit() -> Option<u64> {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit only writes the struct we pass.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
        return None;
    }
    Some(u64::from(lim.rlim_cur))
}

#[cfg(not(unix))]
fn open_file_limit() -> Option<u64> {
    None
}

/// The connection cap: the configured one, lowered so that connections, the busy
/// reserve and the headroom fit under the open-file limit.
pub fn effective_max_connections(configured: usize) -> usize {
    match open_file_limit() {
        Some(nofile) => {
            let fit = usize::try_from(nofile)
                .unwrap_or(usize::MAX)
                .saturating_sub(FD_HEADROOM + BUSY_RESERVE)
                .max(1);
            if fit < configured {
                tracing::warn!(
                    "max_connections lowered from {configured} to {fit} by the open-file limit ({nofile}); raise it with `ulimit -n`"
                );
            }
            configured.min(fit)
        }
        None => configured,
    }
}

/// Where a connection counts: one IPv4 address, or one IPv6 /64 (what one household or
/// one machine usually gets).
fn source_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let s = v6.segments();
                IpAddr::V6(std::net::Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
            }
        },
    }
}

#[derive(Default)]
struct Counts {
    open: usize,
    busy: usize,
    per_source: HashMap<IpAddr, usize>,
}

/// Open connections, in total and per source, under their caps.
pub struct ConnLimits {
    max_total: usize,
    max_per_source: usize,
    counts: Mutex<Counts>,
    /// Connections answered 503 because a cap was reached.
    pub busy_total: AtomicU64,
    /// Connections closed unanswered because the busy reserve was full too.
    pub dropped_total: AtomicU64,
    /// accept() failures (out of file descriptors, mostly).
    pub accept_errors_total: AtomicU64,
    /// Connections closed for a missing request head, silence or a late body.
    pub timeouts_total: AtomicU64,
    /// TLS handshakes that failed (a browser refusing the certificate, a scanner).
    pub tls_failures_total: AtomicU64,
}

pub enum Admission {
    /// Under the caps: served normally while the slot lives.
    Slot(Slot),
    /// Over a cap: answered 503 (or health) from the reserve, then closed.
    Busy(Slot),
    /// Over the caps and the reserve: close at once.
    Refused,
}

/// A connection's place under the caps, given back when it drops (for an upgraded
/// WebSocket, when the socket closes).
pub struct Slot {
    limits: Arc<ConnLimits>,
    source: Option<IpAddr>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut c = self.limits.lock();
        match self.source {
            Some(ip) => {
                c.open -= 1;
                if let Some(n) = c.per_source.get_mut(&ip) {
                    *n -= 1;
                    if *n == 0 {
                        c.per_source.remove(&ip);
                    }
                }
            }
            None => c.busy -= 1,
        }
    }
}

impl ConnLimits {
    pub fn new(max_total: usize, max_per_source: usize) -> Arc<Self> {
        Arc::new(ConnLimits {
            max_total,
            max_per_source,
            counts: Mutex::new(Counts::default()),
            busy_total: AtomicU64::new(0),
            dropped_total: AtomicU64::new(0),
            accept_errors_total: AtomicU64::new(0),
            timeouts_total: AtomicU64::new(0),
            tls_failures_total: AtomicU64::new(0),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Counts> {
        self.counts.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn admit(self: &Arc<Self>, peer: IpAddr) -> Admission {
        let key = source_key(peer);
        let mut c = self.lock();
        let from_source = c.per_source.get(&key).copied().unwrap_or(0);
        if c.open < self.max_total && from_source < self.max_per_source {
            c.open += 1;
            *c.per_source.entry(key).or_default() += 1;
            return Admission::Slot(Slot {
                limits: self.clone(),
                source: Some(key),
            });
        }
        if c.busy < BUSY_RESERVE {
            c.busy += 1;
            self.busy_total.fetch_add(1, Relaxed);
            return Admission::Busy(Slot {
                limits: self.clone(),
                source: None,
            });
        }
        self.dropped_total.fetch_add(1, Relaxed);
        Admission::Refused
    }

    pub fn open(&self) -> usize {
        self.lock().open
    }

    pub fn prometheus(&self) -> String {
        let mut out = String::new();
        let rows = [
            (
                "aula_http_connections",
                "gauge",
                "open HTTP connections, upgraded WebSockets included",
                self.open() as u64,
            ),
            (
                "aula_http_connections_max",
                "gauge",
                "the connection cap in force",
                self.max_total as u64,
            ),
            (
                "aula_http_busy_total",
                "counter",
                "connections answered 503 server_busy at a cap",
                self.busy_total.load(Relaxed),
            ),
            (
                "aula_http_dropped_total",
                "counter",
                "connections closed unanswered (caps and busy reserve full)",
                self.dropped_total.load(Relaxed),
            ),
            (
                "aula_http_accept_errors_total",
                "counter",
                "failed accepts (e.g. out of file descriptors)",
                self.accept_errors_total.load(Relaxed),
            ),
            (
                "aula_http_timeouts_total",
                "counter",
                "HTTP connections closed for slow headers or silence",
                self.timeouts_total.load(Relaxed),
            ),
            (
                "aula_tls_handshake_failures_total",
                "counter",
                "TLS handshakes that failed (certificate refused, not TLS, scanners)",
                self.tls_failures_total.load(Relaxed),
            ),
        ];
        for (name, kind, help, v) in rows {
            let _ = write!(
                out,
                "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {v}\n"
            );
        }
        out
    }
}

fn clock_ms() -> u64 {
    static START: OnceLock<Instant> = OnceLock::new();
    START.get_or_init(Instant::now).elapsed().as_millis() as u64
}

/// A TCP stream that remembers when a byte last went either way, and holds the
/// connection's slot (which an upgrade carries along with the stream).
struct Tracked {
    io: TcpStream,
    last_ms: Arc<AtomicU64>,
    _slot: Slot,
}

impl Tracked {
    fn touch(&self) {
        self.last_ms.store(clock_ms(), Relaxed);
    }
}

impl AsyncRead for Tracked {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let r = Pin::new(&mut self.io).poll_read(cx, buf);
        if matches!(r, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.touch();
        }
        r
    }
}

impl AsyncWrite for Tracked {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let r = Pin::new(&mut self.io).poll_write(cx, buf);
        if matches!(r, Poll::Ready(Ok(n)) if n > 0) {
            self.touch();
        }
        r
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let r = Pin::new(&mut self.io).poll_write_vectored(cx, bufs);
        if matches!(r, Poll::Ready(Ok(n)) if n > 0) {
            self.touch();
        }
        r
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

/// The answer past a cap: 503 with `Retry-After` and `server_busy`, and the connection
/// closes. `/healthz` is answered for real, so a monitor never mistakes "full" for "down".
fn busy_answer(state: &AppState, req: &Request<Incoming>) -> Response {
    let mut res = if req.method() == Method::GET && req.uri().path() == "/healthz" {
        crate::http::health(state)
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            [(header::RETRY_AFTER, RETRY_AFTER_SECS.to_string())],
            axum::Json(ApiError {
                code: ErrorCode::ServerBusy,
                message: "the server is full; try again in a few seconds".into(),
            }),
        )
            .into_response()
    };
    res.headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    security_headers(res.headers_mut());
    res
}

/// Accepts connections until `stop` fires, then lets open HTTP connections finish
/// (WebSockets close on the state's shutdown signal) and returns.
pub async fn serve(
    listener: TcpListener,
    state: Arc<AppState>,
    app: Router,
    stop: impl std::future::Future<Output = ()>,
) {
    let limits = state.conns.clone();
    // Every connection task holds a receiver; when all are gone, all have finished.
    let (all_done, done_rx) = watch::channel(());
    let mut stop = std::pin::pin!(stop);
    let mut backoff = Duration::from_millis(10);
    loop {
        let (tcp, peer) = tokio::select! {
            _ = &mut stop => break,
            accepted = listener.accept() => match accepted {
                Ok(a) => {
                    backoff = Duration::from_millis(10);
                    a
                }
                Err(e) => {
                    limits.accept_errors_total.fetch_add(1, Relaxed);
                    if is_connection_error(&e) {
                        continue;
                    }
                    // Out of file descriptors (or memory): wait for some to come back
                    // instead of spinning on the error.
                    if backoff >= Duration::from_secs(1) {
                        tracing::debug!("accept: {e}");
                    } else {
                        tracing::warn!("accept: {e}; backing off");
                    }
                    tokio::select! {
                        _ = &mut stop => break,
                        _ = tokio::time::sleep(backoff) => {}
                    }
                    backoff = (backoff * 2).min(Duration::from_secs(1));
                    continue;
                }
            },
        };
        let _ = tcp.set_nodelay(true);
        let (slot, busy) = match limits.admit(peer.ip()) {
            Admission::Slot(s) => (s, false),
            Admission::Busy(s) => (s, true),
            Admission::Refused => {
                drop(tcp);
                continue;
            }
        };
        let state = state.clone();
        let app = app.clone();
        let done = done_rx.clone();
        tokio::spawn(async move {
            let last_ms = Arc::new(AtomicU64::new(clock_ms()));
            if state.tls.is_some() {
                serve_tls_port(tcp, peer, slot, busy, state, app).await;
            } else {
                let io = Tracked {
                    io: tcp,
                    last_ms: last_ms.clone(),
                    _slot: slot,
                };
                if busy {
                    serve_busy(io, state).await;
                } else {
                    serve_connection(io, last_ms, peer, state, app).await;
                }
            }
            drop(done);
        });
    }
    drop(listener);
    drop(done_rx);
    all_done.closed().await;
}

/// Errors of one connection that says nothing about the listener.
fn is_connection_error(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    )
}

/// A connection to the port when TLS is on: a TLS handshake gets HTTPS; plain HTTP from
/// loopback is served as it is without TLS; plain HTTP from elsewhere is redirected to
/// `https://` on the same port. The first byte tells which, and must arrive within the
/// header deadline, as must the handshake. A handshake that negotiated `acme-tls/1` was
/// an ACME CA's TLS-ALPN-01 validation (see [`crate::acme`]): it is closed at once.
async fn serve_tls_port(
    tcp: TcpStream,
    peer: SocketAddr,
    slot: Slot,
    busy: bool,
    state: Arc<AppState>,
    app: Router,
) {
    let Some(tls) = state.tls.as_ref() else {
        return;
    };
    let deadline = if busy {
        BUSY_HEADER_TIMEOUT
    } else {
        Duration::from_secs(state.cfg.http_header_timeout_secs)
    };
    let mut first = [0u8; 1];
    let handshake = match tokio::time::timeout(deadline, tcp.peek(&mut first)).await {
        Ok(Ok(1)) => first[0] == crate::tls::HANDSHAKE,
        Ok(_) => return,
        Err(_) => {
            state.conns.timeouts_total.fetch_add(1, Relaxed);
            return;
        }
    };
    let last_ms = Arc::new(AtomicU64::new(clock_ms()));
    let io = Tracked {
        io: tcp,
        last_ms: last_ms.clone(),
        _slot: slot,
    };
    if !handshake {
        if busy {
            serve_busy(io, state).await;
        } else if crate::tls::plain_http_allowed(peer.ip()) {
            serve_connection(io, last_ms, peer, state, app).await;
        } else {
            serve_redirect(io, state).await;
        }
        return;
    }
    let mut stream = match tokio::time::timeout(deadline, tls.acceptor.accept(io)).await {
        Ok(Ok(stream)) => stream,
        Ok(Err(e)) => {
            state.conns.tls_failures_total.fetch_add(1, Relaxed);
            tracing::debug!(%peer, "TLS handshake: {e}");
            return;
        }
        Err(_) => {
            state.conns.timeouts_total.fetch_add(1, Relaxed);
            return;
        }
    };
    if crate::tls::is_acme_validation(stream.get_ref().1) {
        // An ACME CA checking TLS-ALPN-01: the certificate resolver has already answered
        // it with the challenge certificate. Nothing is served on such a connection.
        tracing::info!(%peer, "answered an ACME TLS-ALPN-01 validation");
        let _ =
            tokio::time::timeout(deadline, tokio::io::AsyncWriteExt::shutdown(&mut stream)).await;
        return;
    }
    if busy {
        serve_busy(stream, state).await;
    } else {
        serve_connection(stream, last_ms, peer, state, app).await;
    }
}

/// Plain HTTP from another machine while TLS is on: `308` to the same address over
/// HTTPS (a browser follows it with the same method and body), and the connection closes.
async fn serve_redirect(io: Tracked, state: Arc<AppState>) {
    let svc = hyper::service::service_fn(move |req: Request<Incoming>| {
        let host = req
            .headers()
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .map(str::to_owned);
        let path = req
            .uri()
            .path_and_query()
            .map_or("/".to_owned(), |p| p.as_str().to_owned());
        let mut res = match crate::tls::redirect_target(host.as_deref(), &path)
            .and_then(|to| HeaderValue::from_str(&to).ok())
        {
            Some(to) => (StatusCode::PERMANENT_REDIRECT, [(header::LOCATION, to)]).into_response(),
            None => (
                StatusCode::BAD_REQUEST,
                axum::Json(ApiError {
                    code: ErrorCode::InvalidRequest,
                    message: "this server speaks HTTPS; use an https:// address".into(),
                }),
            )
                .into_response(),
        };
        res.headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
        security_headers(res.headers_mut());
        async move { Ok::<_, Infallible>(res) }
    });
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(Duration::from_secs(state.cfg.http_header_timeout_secs))
        .keep_alive(false);
    let conn = builder.serve_connection(TokioIo::new(io), svc);
    if tokio::time::timeout(
        Duration::from_secs(state.cfg.http_header_timeout_secs) * 2,
        conn,
    )
    .await
    .is_err()
    {
        state.conns.timeouts_total.fetch_add(1, Relaxed);
    }
}

async fn serve_busy<I>(io: I, state: Arc<AppState>)
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let st = state.clone();
    let svc = hyper::service::service_fn(move |req: Request<Incoming>| {
        let res = busy_answer(&st, &req);
        async move { Ok::<_, Infallible>(res) }
    });
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(BUSY_HEADER_TIMEOUT)
        .keep_alive(false);
    let conn = builder.serve_connection(TokioIo::new(io), svc);
    // The header timeout bounds the wait for a request; this bounds a client that
    // does not read the answer.
    if tokio::time::timeout(BUSY_HEADER_TIMEOUT * 2, conn)
        .await
        .is_err()
    {
        state.conns.timeouts_total.fetch_add(1, Relaxed);
    }
}

/// `io` is the connection (plain, or TLS over it); `last_ms` is its [`Tracked`] clock,
/// which also sees TLS records, so the idle deadline holds under TLS too.
async fn serve_connection<I>(
    io: I,
    last_ms: Arc<AtomicU64>,
    peer: SocketAddr,
    state: Arc<AppState>,
    app: Router,
) where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let idle = Duration::from_secs(state.cfg.http_idle_timeout_secs);
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        // hyper starts this clock whenever it waits for a request head: on a new
        // connection and after every answer, so it also ends idle keep-alives.
        .header_read_timeout(Duration::from_secs(state.cfg.http_header_timeout_secs))
        .keep_alive(true);
    let conn = builder
        .serve_connection(
            TokioIo::new(io),
            TowerToHyperService::new(app.layer(axum::Extension(axum::extract::ConnectInfo(peer)))),
        )
        // An upgrade ends this future and hands the stream (and its slot) to the
        // WebSocket, which lives on in its own task.
        .with_upgrades();
    let mut conn = std::pin::pin!(conn);
    let mut shutdown = state.shutdown.clone();
    let mut stopping = false;
    loop {
        let quiet_ms = clock_ms().saturating_sub(last_ms.load(Relaxed));
        let left = idle.saturating_sub(Duration::from_millis(quiet_ms));
        tokio::select! {
            r = conn.as_mut() => {
                if let Err(e) = r {
                    if e.is_timeout() {
                        state.conns.timeouts_total.fetch_add(1, Relaxed);
                    }
                    tracing::debug!(%peer, "HTTP connection: {e}");
                }
                break;
            }
            _ = shutdown.changed(), if !stopping => {
                stopping = true;
                conn.as_mut().graceful_shutdown();
            }
            _ = tokio::time::sleep(left) => {
                let quiet_ms = clock_ms().saturating_sub(last_ms.load(Relaxed));
                if Duration::from_millis(quiet_ms) >= idle {
                    state.conns.timeouts_total.fetch_add(1, Relaxed);
                    tracing::debug!(%peer, "HTTP connection idle; closing it");
                    break;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caps_count_per_source_and_in_total_and_give_slots_back() {
        let limits = ConnLimits::new(3, 2);
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        let s1 = limits.admit(a);
        let s2 = limits.admit(a);
        assert!(matches!(s1, Admission::Slot(_)) && matches!(s2, Admission::Slot(_)));
        assert!(matches!(limits.admit(a), Admission::Busy(_)));
        let s3 = limits.admit(b);
        assert!(matches!(s3, Admission::Slot(_)));
        assert!(matches!(limits.admit(b), Admission::Busy(_)), "total cap");
        assert_eq!(limits.open(), 3);
        drop(s1);
        assert_eq!(limits.open(), 2);
        assert!(matches!(limits.admit(a), Admission::Slot(_)));
        assert_eq!(limits.busy_total.load(Relaxed), 2);
    }

    #[test]
    fn the_busy_reserve_is_bounded() {
        let limits = ConnLimits::new(1, 1);
        let ip: IpAddr = "10.0.0.1".parse().unwrap();
        let _held = limits.admit(ip);
        let busy: Vec<_> = (0..BUSY_RESERVE).map(|_| limits.admit(ip)).collect();
        assert!(busy.iter().all(|a| matches!(a, Admission::Busy(_))));
        assert!(matches!(limits.admit(ip), Admission::Refused));
        drop(busy);
        assert!(matches!(limits.admit(ip), Admission::Busy(_)));
    }

    #[test]
    fn ipv6_counts_per_64_and_mapped_v4_as_v4() {
        let k = |s: &str| source_key(s.parse().unwrap());
        assert_eq!(k("2001:db8:1:2::5"), k("2001:db8:1:2:ffff::9"));
        assert_ne!(k("2001:db8:1:2::5"), k("2001:db8:1:3::5"));
        assert_eq!(k("::ffff:10.0.0.1"), k("10.0.0.1"));
    }
}
