//! The calling side: one multiplexed connection per peer address.

use std::collections::HashMap;
use std::fmt;
use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::Instant;
use tokio_rustls::TlsConnector;

use crate::error::RpcError;
use crate::frame::{self, MAX_FRAME_LEN, RequestRef, Response};
use crate::tls::ClientTls;

/// Requests queued per connection before callers wait for the writer.
const REQUEST_QUEUE: usize = 1024;

/// Calls methods on RPC servers.
///
/// Cheap to clone; clones share connections. There is at most one connection per
/// address string, carrying any number of concurrent calls. A connection that failed is
/// replaced on the next call.
#[derive(Clone)]
pub struct RpcClient {
    inner: Arc<Inner>,
}

struct Inner {
    tls: Option<ClientTls>,
    /// One slot per address; the async lock serialises connecting, so concurrent first
    /// calls share one connection instead of racing to open several.
    slots: Mutex<HashMap<String, Arc<Slot>>>,
}

/// Where the connection to one address lives; `None` until the first call.
type Slot = tokio::sync::Mutex<Option<Arc<Conn>>>;

impl fmt::Debug for RpcClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RpcClient")
            .field("tls", &self.inner.tls.is_some())
            .finish_non_exhaustive()
    }
}

impl RpcClient {
    /// A client; with `tls`, every connection is TLS with the given identity and checks.
    pub fn new(tls: Option<ClientTls>) -> Self {
        Self {
            inner: Arc::new(Inner {
                tls,
                slots: Mutex::new(HashMap::new()),
            }),
        }
    }

    /// Calls `method` on the server at `addr` (`host:port`).
    ///
    /// `timeout` bounds everything: resolving, connecting, the handshake and the answer.
    /// A call in flight when its connection dies fails with a retryable `transport` error.
    pub async fn call(
        &self,
        addr: &str,
        method: &str,
        body: Value,
        timeout: Duration,
    ) -> Result<Value, RpcError> {
        let deadline = Instant::now() + timeout;
        match tokio::time::timeout_at(deadline, self.call_inner(addr, method, &body)).await {
            Ok(result) => result,
            Err(_) => Err(RpcError::timeout(format!(
                "calling {method} on {addr}: no answer within {timeout:?}"
            ))),
        }
    }

    /// [`call`](Self::call) with typed request and response.
    pub async fn call_typed<Req: Serialize, Resp: DeserializeOwned>(
        &self,
        addr: &str,
        method: &str,
        req: &Req,
        timeout: Duration,
    ) -> Result<Resp, RpcError> {
        let body = serde_json::to_value(req)
            .map_err(|e| RpcError::bad_request(format!("encoding {method} request: {e}")))?;
        let value = self.call(addr, method, body, timeout).await?;
        serde_json::from_value(value)
            .map_err(|e| RpcError::internal(format!("decoding {method} response: {e}")))
    }

    /// Closes the connection to `addr`, if any; calls in flight on it fail.
    pub fn disconnect(&self, addr: &str) {
        let slot = self.lock_slots().remove(addr);
        if let Some(slot) = slot
            && let Ok(mut conn) = slot.try_lock()
            && let Some(conn) = conn.take()
        {
            conn.close();
        }
    }

    async fn call_inner(&self, addr: &str, method: &str, body: &Value) -> Result<Value, RpcError> {
        // Two attempts: a connection found dead before our request was queued is
        // replaced once; after that the failure is the caller's to see.
        let mut attempt = 0;
        loop {
            attempt += 1;
            let conn = self.connection(addr).await?;
            match conn.call(method, body).await {
                Err(CallError::NotSent(_)) if attempt < 2 => continue,
                Err(CallError::NotSent(e) | CallError::Failed(e)) => return Err(e),
                Ok(v) => return Ok(v),
            }
        }
    }

    fn lock_slots(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<Slot>>> {
        // A panic while holding this lock cannot leave the map inconsistent (every
        // operation is a single insert, get or remove), so poisoning is ignored.
        self.inner
            .slots
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    async fn connection(&self, addr: &str) -> Result<Arc<Conn>, RpcError> {
        let slot = self
            .lock_slots()
            .entry(addr.to_string())
            .or_default()
            .clone();
        let mut slot = slot.lock().await;
        if let Some(conn) = slot.as_ref()
            && !conn.is_closed()
        {
            return Ok(conn.clone());
        }
        let conn = Arc::new(connect(addr, self.inner.tls.as_ref()).await?);
        *slot = Some(conn.clone());
        Ok(conn)
    }
}

async fn connect(addr: &str, tls: Option<&ClientTls>) -> Result<Conn, RpcError> {
    let addrs = tokio::net::lookup_host(addr)
        .await
        .map_err(|e| RpcError::transport(format!("resolving {addr}: {e}")))?;
    let mut last_err = None;
    let mut stream = None;
    for sa in addrs {
        match TcpStream::connect(sa).await {
            Ok(s) => {
                stream = Some(s);
                break;
            }
            Err(e) => last_err = Some(e),
        }
    }
    let stream = stream.ok_or_else(|| match last_err {
        Some(e) => RpcError::transport(format!("connecting to {addr}: {e}")),
        None => RpcError::transport(format!("resolving {addr}: no addresses")),
    })?;
    if let Err(e) = stream.set_nodelay(true) {
        tracing::debug!(%addr, error = %e, "rpc set_nodelay failed");
    }
    let Some(tls) = tls else {
        return Ok(Conn::spawn(stream));
    };
    let stream = TlsConnector::from(tls.config().clone())
        .connect(tls.server_name().clone(), stream)
        .await
        .map_err(|e| RpcError::tls(format!("tls handshake with {addr}: {}", io_cause(&e))))?;
    Ok(Conn::spawn(stream))
}

/// The message of an I/O error, or of the rustls error inside it.
fn io_cause(e: &io::Error) -> String {
    match e
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
    {
        Some(tls) => tls.to_string(),
        None => e.to_string(),
    }
}

/// A failed call, split by whether the request could have reached the server.
enum CallError {
    /// The connection was already closed; the request was not queued.
    NotSent(RpcError),
    Failed(RpcError),
}

type Waiter = oneshot::Sender<Result<Value, RpcError>>;

/// Calls waiting for an answer, by request id.
struct Pending {
    waiters: HashMap<u64, Waiter>,
    /// Set once, with the reason, when the connection dies; no waiter is added after.
    closed: Option<RpcError>,
}

/// One live connection: a writer task fed by a queue, a reader task that routes answers.
struct Conn {
    tx: mpsc::Sender<Vec<u8>>,
    pending: Arc<Mutex<Pending>>,
    next_id: AtomicU64,
    /// Dropped to stop both I/O tasks.
    _stop: watch::Sender<()>,
}

impl Conn {
    fn spawn<S: AsyncRead + AsyncWrite + Send + 'static>(stream: S) -> Self {
        let (mut rd, wr) = tokio::io::split(stream);
        let (tx, rx) = mpsc::channel(REQUEST_QUEUE);
        let (stop, stop_rx) = watch::channel(());
        let pending = Arc::new(Mutex::new(Pending {
            waiters: HashMap::new(),
            closed: None,
        }));
        let io_pending = pending.clone();
        tokio::spawn(async move {
            let mut stop_rx = stop_rx;
            let reader = async {
                loop {
                    let payload = match frame::read_frame(&mut rd).await {
                        Ok(Some(p)) => p,
                        Ok(None) => return RpcError::transport("connection closed by the server"),
                        Err(e) => return read_error(&e),
                    };
                    let resp: Response = match serde_json::from_slice(&payload) {
                        Ok(r) => r,
                        Err(e) => {
                            return RpcError::transport(format!("undecodable response: {e}"));
                        }
                    };
                    let waiter = lock(&io_pending).waiters.remove(&resp.id);
                    // No waiter: the call timed out or was cancelled; drop the answer.
                    if let Some(w) = waiter {
                        let _ = w.send(resp.into_result());
                    }
                }
            };
            let writer = frame::write_loop(wr, rx);
            let reason = tokio::select! {
                e = reader => e,
                res = writer => match res {
                    Ok(()) => RpcError::transport("connection closed"),
                    Err(e) => RpcError::transport(format!("writing request: {e}")),
                },
                _ = stop_rx.changed() => RpcError::transport("connection closed"),
            };
            tracing::debug!(error = %reason, "rpc client connection ended");
            let waiters = {
                let mut p = lock(&io_pending);
                p.closed = Some(reason.clone());
                std::mem::take(&mut p.waiters)
            };
            for (_, w) in waiters {
                let _ = w.send(Err(reason.clone()));
            }
        });
        Self {
            tx,
            pending,
            next_id: AtomicU64::new(1),
            _stop: stop,
        }
    }

    fn is_closed(&self) -> bool {
        lock(&self.pending).closed.is_some()
    }

    fn close(&self) {
        let mut p = lock(&self.pending);
        if p.closed.is_none() {
            p.closed = Some(RpcError::transport("connection closed by the client"));
        }
        for (_, w) in p.waiters.drain() {
            let _ = w.send(Err(RpcError::transport("connection closed by the client")));
        }
    }

    async fn call(&self, method: &str, body: &Value) -> Result<Value, CallError> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let payload = serde_json::to_vec(&RequestRef { id, method, body }).map_err(|e| {
            CallError::Failed(RpcError::bad_request(format!("encoding request: {e}")))
        })?;
        if payload.len() > MAX_FRAME_LEN {
            return Err(CallError::Failed(RpcError::bad_request(format!(
                "request of {} bytes exceeds the {MAX_FRAME_LEN}-byte frame limit",
                payload.len()
            ))));
        }
        let (wtx, wrx) = oneshot::channel();
        {
            let mut p = lock(&self.pending);
            if let Some(reason) = &p.closed {
                return Err(CallError::NotSent(reason.clone()));
            }
            p.waiters.insert(id, wtx);
        }
        // Removes the waiter if this future is dropped (timeout, caller gave up).
        let _guard = WaiterGuard {
            pending: &self.pending,
            id,
        };
        if self.tx.send(payload).await.is_err() {
            // The writer is gone, so the request never left: safe to send elsewhere.
            return Err(CallError::NotSent(RpcError::transport("connection closed")));
        }
        match wrx.await {
            Ok(result) => result.map_err(CallError::Failed),
            Err(_) => Err(CallError::Failed(RpcError::transport("connection closed"))),
        }
    }
}

struct WaiterGuard<'a> {
    pending: &'a Mutex<Pending>,
    id: u64,
}

impl Drop for WaiterGuard<'_> {
    fn drop(&mut self) {
        lock(self.pending).waiters.remove(&self.id);
    }
}

fn lock(p: &Mutex<Pending>) -> std::sync::MutexGuard<'_, Pending> {
    // Every critical section is a single map operation; poisoning leaves nothing torn.
    p.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// A read failure; a TLS alert from the server (our certificate refused) is `tls`.
fn read_error(e: &io::Error) -> RpcError {
    match e
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
    {
        Some(tls) => RpcError::tls(format!("connection refused by the server: {tls}")),
        None => RpcError::transport(format!("reading response: {e}")),
    }
}
