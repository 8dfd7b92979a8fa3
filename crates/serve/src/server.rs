//! Connections: accepting, HTTP/1.1, the per-request guards (concurrency limit,
//! timeout, metrics) and the graceful drain.

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderValue, Request, Response, StatusCode, header};
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use std::convert::Infallible;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tower_service::Service;

use crate::api::{self, App, Peer};
use crate::log;
use crate::metrics::Route;

/// How long an admin request may take.
const ADMIN_TIMEOUT: Duration = Duration::from_secs(300);

/// A connection whose writes fail once they have waited `limit` for the client to read:
/// hyper has no write timeout, and a client that sends requests but never reads the
/// answers would otherwise hold its connection forever.
struct WriteTimeout {
    inner: TcpStream,
    limit: Duration,
    /// Started when a write first has to wait; cleared when one goes through.
    timer: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl WriteTimeout {
    /// Maps a write's `Pending` to a timeout error once the timer has run out.
    fn wait<T>(
        &mut self,
        cx: &mut Context<'_>,
        polled: Poll<io::Result<T>>,
    ) -> Poll<io::Result<T>> {
        match polled {
            Poll::Ready(r) => {
                self.timer = None;
                Poll::Ready(r)
            }
            Poll::Pending => {
                let limit = self.limit;
                let timer = self
                    .timer
                    .get_or_insert_with(|| Box::pin(tokio::time::sleep(limit)));
                match timer.as_mut().poll(cx) {
                    Poll::Ready(()) => Poll::Ready(Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        "the client does not read its answers",
                    ))),
                    Poll::Pending => Poll::Pending,
                }
            }
        }
    }
}

impl AsyncRead for WriteTimeout {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for WriteTimeout {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.inner).poll_write(cx, buf);
        this.wait(cx, polled)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.inner).poll_write_vectored(cx, bufs);
        this.wait(cx, polled)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.inner).poll_flush(cx);
        this.wait(cx, polled)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

/// A slot under the concurrency limit, given back when dropped.
struct Slot<'a>(&'a std::sync::atomic::AtomicU64);

impl<'a> Slot<'a> {
    fn take(counter: &'a std::sync::atomic::AtomicU64, max: usize) -> Option<Slot<'a>> {
        let before = counter.fetch_add(1, Relaxed);
        if before >= max as u64 {
            counter.fetch_sub(1, Relaxed);
            None
        } else {
            Some(Slot(counter))
        }
    }
}

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Relaxed);
    }
}

/// Answers one request: the concurrency limit, the time limit, the route, the metrics.
async fn handle(
    app: Arc<App>,
    mut router: Router,
    peer: SocketAddr,
    mut request: Request<Incoming>,
) -> Response<Body> {
    let started = Instant::now();
    let route = Route::of(request.uri().path());
    let slot = match route.is_limited() {
        true => Slot::take(app.metrics.in_flight(), app.limits.max_in_flight),
        false => None,
    };
    let response = if route.is_limited() && slot.is_none() {
        let mut r = api::error(
            StatusCode::SERVICE_UNAVAILABLE,
            "overloaded",
            format!(
                "{} requests are in flight, the limit; try again shortly",
                app.limits.max_in_flight
            ),
        );
        r.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        r
    } else {
        request.extensions_mut().insert(Peer(peer));
        let request = request.map(Body::new);
        // An admin swap may load a large model: it gets longer (its client is trusted,
        // and a swap cut off still completes in its own task).
        // A generation has its own limit (and reads its body under the request limit).
        let limit = match route {
            Route::Activate | Route::Rollback => app.limits.request_timeout.max(ADMIN_TIMEOUT),
            r if r.generates() => {
                app.limits.request_timeout + app.limits.generation_timeout + ADMIN_TIMEOUT
            }
            _ => app.limits.request_timeout,
        };
        match tokio::time::timeout(limit, router.call(request)).await {
            Ok(Ok(response)) => response,
            Ok(Err(never)) => match never {},
            Err(_) => {
                // Most likely a client that never finished its body: answer and close.
                let mut r = api::error(
                    StatusCode::REQUEST_TIMEOUT,
                    "timeout",
                    format!("the request was not complete within {limit:?}"),
                );
                r.headers_mut()
                    .insert(header::CONNECTION, HeaderValue::from_static("close"));
                r
            }
        }
    };
    drop(slot);
    app.metrics
        .observe(route, response.status().as_u16(), started.elapsed());
    response
}

/// Accepts connections until `shutdown` fires, then drains: no new connections, idle
/// ones closed, requests in flight answered (for up to `drain_timeout`).
pub(crate) async fn serve(
    listener: TcpListener,
    app: Arc<App>,
    drain_timeout: std::time::Duration,
    shutdown: impl Future<Output = ()> + Send,
) {
    let router = api::router(Arc::clone(&app));
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(app.limits.request_timeout)
        .keep_alive(true)
        .max_buf_size(64 * 1024)
        .max_headers(64);
    let graceful = GracefulShutdown::new();
    let slots = Arc::new(tokio::sync::Semaphore::new(app.limits.max_connections));
    tokio::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            permit = Arc::clone(&slots).acquire_owned() => permit.expect("never closed"),
            () = &mut shutdown => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of file descriptors and the like: wait a little, go on.
                    if app.log {
                        log(format_args!("accept: {e}"));
                    }
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let service = {
            let app = Arc::clone(&app);
            let router = router.clone();
            hyper::service::service_fn(move |request| {
                let app = Arc::clone(&app);
                let router = router.clone();
                async move { Ok::<_, Infallible>(handle(app, router, peer, request).await) }
            })
        };
        let stream = WriteTimeout {
            inner: stream,
            limit: app.limits.request_timeout,
            timer: None,
        };
        let connection = graceful.watch(http.serve_connection(TokioIo::new(stream), service));
        let metrics = Arc::clone(&app.metrics);
        metrics.connection_opened();
        tokio::spawn(async move {
            let _ = connection.await;
            metrics.connection_closed();
            drop(permit);
        });
    }
    drop(listener);
    app.draining.store(true, Relaxed);
    app.metrics.set_ready(false);
    let open = app.metrics.connections_now();
    if app.log {
        log(format_args!(
            "stopping: no new connections; draining {open} open connection(s)"
        ));
    }
    tokio::select! {
        () = graceful.shutdown() => {
            if app.log {
                log(format_args!("drained; bye"));
            }
        }
        () = tokio::time::sleep(drain_timeout) => {
            if app.log {
                log(format_args!(
                    "drain timeout ({drain_timeout:?}): closing {} connection(s)",
                    app.metrics.connections_now()
                ));
            }
        }
    }
}
