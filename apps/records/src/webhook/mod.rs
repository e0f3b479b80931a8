//! Delivering notifications by HTTP POST (`records notify --webhook URL`).
//!
//! A consumer of `notifications` (its own group) posts each one as JSON with an
//! `Idempotency-Key` header (the notification id) and the operator's headers, through
//! [`ureq`] (http and https, rustls), with a connect timeout and a timeout on the whole
//! exchange. It commits a notification's offset only once that notification is done:
//!
//! - **delivered**: the endpoint answered 2xx;
//! - **retried without end** (exponential backoff, capped) while the endpoint answers 5xx,
//!   408 or 429, times out or cannot be reached: a notification is delivered at least once
//!   and never skipped for an outage, and the key lets the receiver drop repeats;
//! - **rejected**: the endpoint refused it with another 4xx (or a redirect, which is not
//!   followed) [`WebhookConfig::client_error_attempts`] times. Such a notification will not
//!   become acceptable by waiting; it is logged at error level with its topic, partition,
//!   offset and id, counted in `webhook_rejected`, and committed, so that the ones behind
//!   it go on.
//!
//! A stop ends the retries; the notification in hand is not committed, so the next start
//! delivers it.

use crate::metrics::{counter, Counter};
use crate::model::Notification;
use crate::topics;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::message::{BorrowedMessage, Message};
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use ureq::http::header::{HeaderName, HeaderValue, CONTENT_TYPE};
use ureq::http::Uri;

/// Default time to set up a connection (TCP and TLS).
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Default time for a whole exchange: connecting, sending, and reading the answer.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
/// Default attempts at a notification the endpoint refuses with 4xx.
pub const DEFAULT_CLIENT_ERROR_ATTEMPTS: u32 = 3;
/// The deliverer's consumer group.
pub const GROUP_ID: &str = "records-notify-webhook";

/// Headers records sets itself, which `--webhook-header` may not give.
const RESERVED: [&str; 6] = [
    "host",
    "content-length",
    "content-type",
    "transfer-encoding",
    "connection",
    "idempotency-key",
];

/// Why the webhook could not be set up, or why a delivery attempt failed.
#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    /// The URL is not an absolute `http://` or `https://` URL.
    #[error("webhook URL {url:?}: {reason}")]
    Url {
        /// The URL as given.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A header the operator gave is malformed (a CR or LF, an invalid name or value, no
    /// `:`) or one records sets itself. Only its name is shown: values may be secrets.
    #[error("webhook header {name:?}: {reason}")]
    Header {
        /// The header's name as given (before the `:`).
        name: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A setting out of range (a zero timeout or attempt count).
    #[error("webhook settings: {0}")]
    Settings(String),
    /// The endpoint did not answer in time.
    #[error("posting to {endpoint}: timed out ({phase})")]
    Timeout {
        /// Scheme, host and port of the URL (its path and query may hold secrets).
        endpoint: String,
        /// Which timeout ran out.
        phase: ureq::Timeout,
    },
    /// The endpoint could not be reached, or the exchange broke off.
    #[error("posting to {endpoint}: {source}")]
    Transport {
        /// Scheme, host and port of the URL.
        endpoint: String,
        /// ureq's error.
        #[source]
        source: ureq::Error,
    },
    /// The endpoint answered, but not with 2xx.
    #[error("posting to {endpoint}: status {status}")]
    Status {
        /// Scheme, host and port of the URL.
        endpoint: String,
        /// The status code.
        status: u16,
    },
    /// The consumer of `notifications` could not be made.
    #[error("starting the webhook consumer: {0}")]
    Consumer(#[source] rdkafka::error::KafkaError),
    /// The deliverer's thread could not be started.
    #[error("starting the webhook thread: {0}")]
    Thread(#[source] std::io::Error),
}

impl WebhookError {
    /// Whether waiting may help: 5xx, 408 and 429 answers, timeouts and transport errors.
    /// Other 4xx answers (and redirects) say the request itself is refused.
    pub fn is_transient(&self) -> bool {
        match self {
            WebhookError::Status { status, .. } => {
                !(300..500).contains(status) || *status == 408 || *status == 429
            }
            WebhookError::Timeout { .. } | WebhookError::Transport { .. } => true,
            _ => false,
        }
    }
}

/// How the webhook is reached and how hard it is tried.
#[derive(Clone)]
pub struct WebhookConfig {
    /// `http://` or `https://` URL the notifications are posted to.
    pub url: String,
    /// Extra headers of every request, as name and value.
    pub headers: Vec<(String, String)>,
    /// Time to set up a connection (TCP and TLS).
    pub connect_timeout: Duration,
    /// Time for a whole exchange, connecting included.
    pub timeout: Duration,
    /// Attempts at a notification the endpoint refuses with 4xx (other than 408 and 429)
    /// or a redirect, before it is rejected (logged, counted and committed).
    pub client_error_attempts: u32,
    /// Wait before the first retry; it doubles with each retry up to `max_backoff`.
    pub initial_backoff: Duration,
    /// Longest wait between retries.
    pub max_backoff: Duration,
    /// The consumer group of the deliverer.
    pub group_id: String,
}

impl WebhookConfig {
    /// Posting to `url` with the defaults: 5 s to connect, 10 s per exchange, 3 attempts
    /// on 4xx, backoff from 100 ms to 30 s, group [`GROUP_ID`].
    pub fn new(url: impl Into<String>) -> Self {
        WebhookConfig {
            url: url.into(),
            headers: Vec::new(),
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            timeout: DEFAULT_TIMEOUT,
            client_error_attempts: DEFAULT_CLIENT_ERROR_ATTEMPTS,
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(30),
            group_id: GROUP_ID.to_string(),
        }
    }
}

impl fmt::Debug for WebhookConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Header values (tokens) and the URL's path (some services put a secret there)
        // stay out of logs.
        let names: Vec<&str> = self.headers.iter().map(|(n, _)| n.as_str()).collect();
        f.debug_struct("WebhookConfig")
            .field("endpoint", &endpoint_of(&self.url))
            .field("headers", &names)
            .field("connect_timeout", &self.connect_timeout)
            .field("timeout", &self.timeout)
            .field("client_error_attempts", &self.client_error_attempts)
            .field("initial_backoff", &self.initial_backoff)
            .field("max_backoff", &self.max_backoff)
            .field("group_id", &self.group_id)
            .finish()
    }
}

/// Parses a `Name: value` header as `--webhook-header` takes it. A CR or LF anywhere is
/// refused (it would end the header and start another), and so is a line without `:`.
pub fn parse_header(line: &str) -> Result<(String, String), WebhookError> {
    let (name, value) = line.split_once(':').ok_or_else(|| WebhookError::Header {
        name: String::new(),
        reason: "expected `Name: value`".into(),
    })?;
    let (name, value) = (name.trim(), value.trim_matches([' ', '\t']));
    if line.contains(['\r', '\n']) {
        return Err(WebhookError::Header {
            name: name.to_string(),
            reason: "contains a CR or LF".into(),
        });
    }
    Ok((name.to_string(), value.to_string()))
}

/// Scheme, host and port of `url`, or `<invalid URL>`.
fn endpoint_of(url: &str) -> String {
    match url.parse::<Uri>() {
        Ok(u) => match (u.scheme_str(), u.authority()) {
            (Some(s), Some(a)) => {
                // Drop user information (`user:password@`).
                let host = a.as_str().rsplit('@').next().unwrap_or_default();
                format!("{s}://{host}")
            }
            _ => "<invalid URL>".into(),
        },
        Err(_) => "<invalid URL>".into(),
    }
}

/// A checked webhook: URL, headers and settings validated, the HTTP agent built.
pub struct Webhook {
    config: WebhookConfig,
    uri: Uri,
    endpoint: String,
    headers: Vec<(HeaderName, HeaderValue)>,
    agent: ureq::Agent,
}

impl fmt::Debug for Webhook {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Webhook")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl Webhook {
    /// Checks `config`: an absolute `http://` or `https://` URL with a host; header names
    /// and values valid for HTTP (no CR, LF or other control characters), none of the
    /// headers records sets itself; non-zero timeouts and attempts.
    pub fn new(config: WebhookConfig) -> Result<Webhook, WebhookError> {
        let bad_url = |reason: &str| WebhookError::Url {
            url: config.url.clone(),
            reason: reason.to_string(),
        };
        let uri: Uri = config
            .url
            .parse()
            .map_err(|e: ureq::http::uri::InvalidUri| bad_url(&e.to_string()))?;
        match uri.scheme_str() {
            Some("http" | "https") => {}
            Some(_) => return Err(bad_url("the scheme must be http or https")),
            None => return Err(bad_url("not an absolute URL (http://host[:port]/path)")),
        }
        if uri.host().is_none_or(str::is_empty) {
            return Err(bad_url("no host"));
        }
        let mut headers = Vec::with_capacity(config.headers.len());
        for (name, value) in &config.headers {
            let bad = |reason: &str| WebhookError::Header {
                name: name.clone(),
                reason: reason.to_string(),
            };
            if name.contains(['\r', '\n']) || value.contains(['\r', '\n']) {
                return Err(bad("contains a CR or LF"));
            }
            let n = HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| bad("not a valid header name"))?;
            if RESERVED.contains(&n.as_str()) {
                return Err(bad("set by records itself"));
            }
            let v = HeaderValue::from_str(value)
                .map_err(|_| bad("the value has control or non-ASCII characters"))?;
            headers.push((n, v));
        }
        if config.connect_timeout.is_zero() || config.timeout.is_zero() {
            return Err(WebhookError::Settings("timeouts must be above zero".into()));
        }
        if config.client_error_attempts == 0 {
            return Err(WebhookError::Settings(
                "attempts on 4xx must be at least 1".into(),
            ));
        }
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_connect(Some(config.connect_timeout))
            .timeout_global(Some(config.timeout))
            // Statuses are results here, not errors; redirects are not followed (a POST
            // redirected is a misconfigured URL), so a 3xx comes back as it is.
            .http_status_as_error(false)
            .max_redirects(0)
            .user_agent(concat!("records-webhook/", env!("CARGO_PKG_VERSION")))
            .build()
            .into();
        Ok(Webhook {
            endpoint: endpoint_of(&config.url),
            config,
            uri,
            headers,
            agent,
        })
    }

    /// Scheme, host and port of its URL (what logs show of it: the path and query may
    /// hold secrets).
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// Its settings.
    pub fn config(&self) -> &WebhookConfig {
        &self.config
    }

    /// Posts `body` (JSON) once, with `Idempotency-Key: idempotency_key`. `Ok` only on a
    /// 2xx answer; see [`WebhookError::is_transient`] for what a retry may mend.
    pub fn post(&self, idempotency_key: &str, body: &[u8]) -> Result<(), WebhookError> {
        let key = HeaderValue::from_str(idempotency_key).map_err(|_| WebhookError::Header {
            name: "Idempotency-Key".into(),
            reason: "the value has control or non-ASCII characters".into(),
        })?;
        let mut request = self
            .agent
            .post(self.uri.clone())
            .header(CONTENT_TYPE, "application/json")
            .header("idempotency-key", key);
        for (n, v) in &self.headers {
            request = request.header(n.clone(), v.clone());
        }
        let mut response = request.send(body).map_err(|e| self.transport(e))?;
        let status = response.status().as_u16();
        // Read (a bounded part of) the answer so the connection can be reused; what it
        // says does not matter.
        let _ = response
            .body_mut()
            .with_config()
            .limit(64 * 1024)
            .read_to_vec();
        if (200..300).contains(&status) {
            Ok(())
        } else {
            Err(WebhookError::Status {
                endpoint: self.endpoint.clone(),
                status,
            })
        }
    }

    fn transport(&self, e: ureq::Error) -> WebhookError {
        let endpoint = self.endpoint.clone();
        match e {
            ureq::Error::Timeout(phase) => WebhookError::Timeout { endpoint, phase },
            source => WebhookError::Transport { endpoint, source },
        }
    }
}

/// Counters of the deliverer.
#[derive(Debug, Default)]
pub struct Deliveries {
    /// Notifications delivered (answered 2xx).
    pub delivered: Arc<AtomicU64>,
    /// Failed attempts that were retried.
    pub retries: Arc<AtomicU64>,
    /// Notifications given up after the endpoint refused them with 4xx (logged, committed).
    pub rejected: Arc<AtomicU64>,
}

impl Deliveries {
    /// The counters as the metrics reporter takes them: `webhook_delivered`,
    /// `webhook_retries`, `webhook_rejected`.
    pub fn counters(&self) -> Vec<Counter> {
        vec![
            counter("webhook_delivered", &self.delivered),
            counter("webhook_retries", &self.retries),
            counter("webhook_rejected", &self.rejected),
        ]
    }
}

/// What became of one notification.
enum Outcome {
    Delivered,
    Rejected,
    Stopped,
}

/// Sleeps `d` in short steps; `false` if `stop` was set meanwhile.
fn sleep_unless_stopped(d: Duration, stop: &AtomicBool) -> bool {
    let until = Instant::now() + d;
    loop {
        if stop.load(Ordering::Relaxed) {
            return false;
        }
        let now = Instant::now();
        if now >= until {
            return true;
        }
        std::thread::sleep((until - now).min(Duration::from_millis(20)));
    }
}

/// The key the receiver deduplicates by: the notification id, or, for a value that is not
/// a notification or whose id is no valid header value, the record's coordinates.
fn idempotency_key(m: &BorrowedMessage<'_>) -> String {
    let coordinates = || format!("{}-{}-{}", m.topic(), m.partition(), m.offset());
    match serde_json::from_slice::<Notification>(m.payload().unwrap_or_default()) {
        Ok(n) if HeaderValue::from_str(&n.notification_id).is_ok() => n.notification_id,
        Ok(n) => {
            tracing::warn!(
                topic = m.topic(),
                partition = m.partition(),
                offset = m.offset(),
                "notification id {:?} is no valid header value; keyed by its coordinates",
                n.notification_id
            );
            coordinates()
        }
        Err(_) => coordinates(),
    }
}

/// Delivers one notification: retries transient failures until `stop`, refusals up to the
/// configured attempts.
fn deliver(
    hook: &Webhook,
    m: &BorrowedMessage<'_>,
    counters: &Deliveries,
    stop: &AtomicBool,
) -> Outcome {
    let key = idempotency_key(m);
    let body = m.payload().unwrap_or_default();
    let cfg = hook.config();
    let mut backoff = cfg.initial_backoff;
    let mut refusals = 0u32;
    loop {
        let e = match hook.post(&key, body) {
            Ok(()) => return Outcome::Delivered,
            Err(e) => e,
        };
        if !e.is_transient() {
            refusals += 1;
            if refusals >= cfg.client_error_attempts {
                tracing::error!(
                    topic = m.topic(),
                    partition = m.partition(),
                    offset = m.offset(),
                    id = %key,
                    attempts = refusals,
                    "webhook rejected the notification; skipped and committed: {e}"
                );
                return Outcome::Rejected;
            }
        }
        counters.retries.fetch_add(1, Ordering::Relaxed);
        tracing::warn!(
            topic = m.topic(),
            partition = m.partition(),
            offset = m.offset(),
            id = %key,
            "webhook delivery failed, retrying in {backoff:?}: {e}"
        );
        if !sleep_unless_stopped(backoff, stop) {
            return Outcome::Stopped;
        }
        backoff = backoff.saturating_mul(2).min(cfg.max_backoff);
    }
}

/// Delivers every notification to `hook` until `stop`, from a consumer of `notifications`
/// in the group [`WebhookConfig::group_id`] on the cluster at `bootstrap`.
pub fn spawn(
    bootstrap: &str,
    hook: Webhook,
    counters: Arc<Deliveries>,
    stop: Arc<AtomicBool>,
) -> Result<std::thread::JoinHandle<()>, WebhookError> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", &hook.config().group_id)
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest")
        .create()
        .map_err(WebhookError::Consumer)?;
    consumer
        .subscribe(&[topics::NOTIFICATIONS])
        .map_err(WebhookError::Consumer)?;
    std::thread::Builder::new()
        .name("webhook".into())
        .spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                let m = match consumer.poll(Duration::from_millis(100)) {
                    None => continue,
                    Some(Err(e)) => {
                        tracing::warn!("webhook consumer: {e}");
                        continue;
                    }
                    Some(Ok(m)) => m,
                };
                match deliver(&hook, &m, &counters, &stop) {
                    Outcome::Delivered => counters.delivered.fetch_add(1, Ordering::Relaxed),
                    Outcome::Rejected => counters.rejected.fetch_add(1, Ordering::Relaxed),
                    // Not committed: the next start delivers it.
                    Outcome::Stopped => return,
                };
                if let Err(e) = consumer.commit_message(&m, CommitMode::Sync) {
                    tracing::warn!(
                        topic = m.topic(),
                        partition = m.partition(),
                        offset = m.offset(),
                        "committing webhook progress: {e}"
                    );
                }
            }
        })
        .map_err(WebhookError::Thread)
}

#[cfg(test)]
mod tests;
