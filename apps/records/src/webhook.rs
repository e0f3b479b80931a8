//! Delivering notifications by HTTP POST (`records notify --webhook URL`).
//!
//! A consumer of `notifications` (its own group) posts each one as JSON with an
//! `Idempotency-Key` header (the notification id), retrying with exponential backoff until
//! the endpoint answers 2xx, and commits its offset only after that: a notification is
//! delivered at least once and never skipped, and the key lets the receiver drop repeats.
//! Plain `http://` only.

use crate::model::Notification;
use crate::topics;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::message::Message;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Why a delivery failed.
#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    /// Not an `http://host[:port]/path` URL.
    #[error("webhook URL {0:?} is not http://host[:port]/path")]
    Url(String),
    /// The connection or the exchange failed.
    #[error("posting to {url}: {source}")]
    Io {
        /// Where.
        url: String,
        /// What.
        #[source]
        source: std::io::Error,
    },
    /// The endpoint answered, but not with 2xx.
    #[error("posting to {url}: status {status}")]
    Status {
        /// Where.
        url: String,
        /// The status code.
        status: u16,
    },
}

/// A parsed `http://` URL.
#[derive(Debug, Clone)]
pub struct Endpoint {
    url: String,
    host_port: String,
    host: String,
    path: String,
}

impl Endpoint {
    /// Parses `http://host[:port]/path`.
    pub fn parse(url: &str) -> Result<Endpoint, WebhookError> {
        let rest = url
            .strip_prefix("http://")
            .ok_or_else(|| WebhookError::Url(url.into()))?;
        let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
        if authority.is_empty() {
            return Err(WebhookError::Url(url.into()));
        }
        let host = authority.split(':').next().unwrap_or(authority).to_string();
        let host_port = if authority.contains(':') {
            authority.to_string()
        } else {
            format!("{authority}:80")
        };
        Ok(Endpoint {
            url: url.into(),
            host_port,
            host,
            path: if path.is_empty() {
                "/".into()
            } else {
                path.into()
            },
        })
    }

    /// Posts `body` once.
    pub fn post(&self, idempotency_key: &str, body: &[u8]) -> Result<(), WebhookError> {
        let io = |source| WebhookError::Io {
            url: self.url.clone(),
            source,
        };
        let mut conn = TcpStream::connect(&self.host_port).map_err(io)?;
        conn.set_read_timeout(Some(Duration::from_secs(10)))
            .map_err(io)?;
        // One write: a server that answers as soon as it has the headers must not find
        // the body still on its way.
        let mut request = format!(
            "POST {} HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\nIdempotency-Key: {idempotency_key}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            self.path,
            self.host,
            body.len()
        )
        .into_bytes();
        request.extend_from_slice(body);
        conn.write_all(&request).map_err(io)?;
        // The status line, however the server's writes split it.
        let mut head = Vec::new();
        let mut buf = [0u8; 256];
        while !head.windows(2).any(|w| w == b"\r\n") && head.len() < 4096 {
            let n = conn.read(&mut buf).map_err(io)?;
            if n == 0 {
                break;
            }
            head.extend_from_slice(&buf[..n]);
        }
        let status = std::str::from_utf8(&head)
            .ok()
            .and_then(|s| s.split_whitespace().nth(1))
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        if (200..300).contains(&status) {
            Ok(())
        } else {
            Err(WebhookError::Status {
                url: self.url.clone(),
                status,
            })
        }
    }
}

/// Counters of the deliverer.
#[derive(Debug, Default)]
pub struct Deliveries {
    /// Notifications delivered.
    pub delivered: Arc<AtomicU64>,
    /// Failed attempts (each was retried).
    pub retries: Arc<AtomicU64>,
}

/// Delivers every notification to `endpoint` until `stop`.
pub fn spawn(
    bootstrap: &str,
    endpoint: Endpoint,
    counters: Arc<Deliveries>,
    stop: Arc<AtomicBool>,
) -> Result<std::thread::JoinHandle<()>, Box<dyn std::error::Error>> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", "records-notify-webhook")
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest")
        .create()?;
    consumer.subscribe(&[topics::NOTIFICATIONS])?;
    Ok(std::thread::Builder::new()
        .name("webhook".into())
        .spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                let Some(Ok(m)) = consumer.poll(Duration::from_millis(100)) else {
                    continue;
                };
                let body = m.payload().unwrap_or_default();
                let key = serde_json::from_slice::<Notification>(body)
                    .map(|n| n.notification_id)
                    .unwrap_or_else(|_| format!("{}-{}-{}", m.topic(), m.partition(), m.offset()));
                let mut backoff = Duration::from_millis(100);
                loop {
                    match endpoint.post(&key, body) {
                        Ok(()) => break,
                        Err(e) => {
                            counters.retries.fetch_add(1, Ordering::Relaxed);
                            tracing::warn!(
                                "webhook delivery of {key} failed, retrying in {backoff:?}: {e}"
                            );
                            if stop.load(Ordering::Relaxed) {
                                // Not committed: the next start delivers it.
                                return;
                            }
                            std::thread::sleep(backoff);
                            backoff = (backoff * 2).min(Duration::from_secs(30));
                        }
                    }
                }
                counters.delivered.fetch_add(1, Ordering::Relaxed);
                if let Err(e) = consumer.commit_message(&m, CommitMode::Async) {
                    tracing::warn!("committing webhook progress: {e}");
                }
            }
        })?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let e = Endpoint::parse("http://127.0.0.1:8080/hooks/n").unwrap();
        assert_eq!(
            (e.host_port.as_str(), e.path.as_str()),
            ("127.0.0.1:8080", "/hooks/n")
        );
        let e = Endpoint::parse("http://example.org").unwrap();
        assert_eq!(
            (e.host_port.as_str(), e.path.as_str()),
            ("example.org:80", "/")
        );
        assert!(Endpoint::parse("https://example.org/").is_err());
        assert!(Endpoint::parse("http:///x").is_err());
    }

    #[test]
    fn a_failing_endpoint_gets_the_same_key_again() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let server = std::thread::spawn(move || {
            let mut keys = Vec::new();
            for (i, conn) in listener.incoming().take(2).enumerate() {
                let mut conn = conn.unwrap();
                // Read the whole request (headers, then the 2-byte body) before answering.
                let mut req = Vec::new();
                let mut buf = [0u8; 4096];
                while !String::from_utf8_lossy(&req).ends_with("\r\n\r\n{}") {
                    let n = conn.read(&mut buf).unwrap();
                    assert!(n > 0, "request cut short");
                    req.extend_from_slice(&buf[..n]);
                }
                let req = String::from_utf8_lossy(&req).to_string();
                keys.push(
                    req.lines()
                        .find_map(|l| l.strip_prefix("Idempotency-Key: "))
                        .unwrap_or_default()
                        .to_string(),
                );
                let status = if i == 0 { "503 Unavailable" } else { "200 OK" };
                let response = format!("HTTP/1.1 {status}\r\nContent-Length: 0\r\n\r\n");
                conn.write_all(response.as_bytes()).unwrap();
            }
            keys
        });
        let e = Endpoint::parse(&format!("http://{addr}/n")).unwrap();
        let first = e.post("k1", b"{}");
        assert!(
            matches!(first, Err(WebhookError::Status { status: 503, .. })),
            "{first:?}"
        );
        e.post("k1", b"{}").unwrap();
        assert_eq!(server.join().unwrap(), vec!["k1", "k1"]);
    }
}
