//! Unit tests of the webhook client: URLs, headers, which failures are retried.

use super::*;

fn header_error(cfg: WebhookConfig) -> String {
    match Webhook::new(cfg) {
        Err(e @ WebhookError::Header { .. }) => e.to_string(),
        other => panic!("expected a header error, got {other:?}"),
    }
}

#[test]
fn urls_are_checked_by_the_http_crate() {
    for ok in [
        "http://127.0.0.1:8080/hooks/n",
        "https://example.org",
        "http://h/p?q=1",
    ] {
        assert!(Webhook::new(WebhookConfig::new(ok)).is_ok(), "{ok}");
    }
    for bad in [
        "ftp://example.org/",
        "example.org/x",
        "/x",
        "http://",
        "http://a b/",
    ] {
        let r = Webhook::new(WebhookConfig::new(bad));
        assert!(matches!(r, Err(WebhookError::Url { .. })), "{bad}: {r:?}");
    }
}

#[test]
fn headers_parse_and_line_breaks_are_refused() {
    assert_eq!(
        parse_header("X-A:  b c ").unwrap(),
        ("X-A".to_string(), "b c".to_string())
    );
    assert_eq!(
        parse_header("Authorization: Bearer a:b").unwrap().1,
        "Bearer a:b"
    );
    for bad in ["X-A: b\r\nX-B: c", "X-A: b\n", "X-A\r: b", "no colon"] {
        assert!(
            matches!(parse_header(bad), Err(WebhookError::Header { .. })),
            "{bad:?}"
        );
    }
    let with = |n: &str, v: &str| {
        let mut c = WebhookConfig::new("http://127.0.0.1:1/");
        c.headers.push((n.into(), v.into()));
        c
    };
    assert!(header_error(with("X-A", "b\r\nX-B: c")).contains("CR or LF"));
    assert!(header_error(with("X A", "b")).contains("X A"));
    assert!(header_error(with("X-A", "b\u{7}")).contains("control"));
    assert!(header_error(with("Idempotency-Key", "b")).contains("records itself"));
    // The value, which may be a secret, is not in the message.
    assert!(!header_error(with("X-Token", "s3cret\n")).contains("s3cret"));
}

#[test]
fn which_failures_are_retried_without_end() {
    let status = |status| WebhookError::Status {
        endpoint: "http://h".into(),
        status,
    };
    for s in [500, 502, 503, 408, 429] {
        assert!(status(s).is_transient(), "{s}");
    }
    for s in [400, 401, 404, 410, 422, 301, 302] {
        assert!(!status(s).is_transient(), "{s}");
    }
    let timeout = WebhookError::Timeout {
        endpoint: "http://h".into(),
        phase: ureq::Timeout::Global,
    };
    assert!(timeout.is_transient());
}

#[test]
fn logs_show_no_secrets_of_the_url() {
    let mut c = WebhookConfig::new("https://user:pw@hooks.example.org:8443/T0/secret?k=v");
    c.headers
        .push(("Authorization".into(), "Bearer tok".into()));
    let shown = format!("{c:?}");
    assert!(shown.contains("https://hooks.example.org:8443"), "{shown}");
    for secret in ["pw", "secret", "tok", "k=v"] {
        assert!(!shown.contains(secret), "{secret} in {shown}");
    }
}

#[test]
fn zero_settings_are_refused() {
    let mut c = WebhookConfig::new("http://h/");
    c.timeout = Duration::ZERO;
    assert!(matches!(Webhook::new(c), Err(WebhookError::Settings(_))));
    let mut c = WebhookConfig::new("http://h/");
    c.client_error_attempts = 0;
    assert!(matches!(Webhook::new(c), Err(WebhookError::Settings(_))));
}
