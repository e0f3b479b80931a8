//! The command line: `records notify` takes the webhook options the README documents, and
//! every role its stream threads.

use clap::Parser;
use records::cli::{Cli, Command};
use records::webhook::WebhookError;
use std::time::Duration;

fn notify(args: &[&str]) -> Result<Command, clap::Error> {
    let mut all = vec!["records", "notify", "--bootstrap", "127.0.0.1:9092"];
    all.extend_from_slice(args);
    Cli::try_parse_from(all).map(|c| c.command)
}

#[test]
fn notify_takes_a_webhook_and_repeated_headers() {
    let command = notify(&[
        "--webhook",
        "http://127.0.0.1:8080/hooks/n",
        "--webhook-header",
        "X-A: b",
        "--webhook-header",
        "Authorization: Bearer t",
        "--webhook-timeout-ms",
        "2500",
    ])
    .unwrap();
    let Command::Notify { connect, webhook } = command else {
        panic!("not notify: {command:?}");
    };
    assert_eq!(connect.bootstrap, "127.0.0.1:9092");
    assert_eq!(
        webhook.webhook.as_deref(),
        Some("http://127.0.0.1:8080/hooks/n")
    );
    assert_eq!(
        webhook.webhook_headers,
        ["X-A: b", "Authorization: Bearer t"]
    );
    assert_eq!(webhook.webhook_connect_timeout_ms, 5_000);
    let hook = webhook.webhook().unwrap().expect("a webhook");
    let config = hook.config();
    assert_eq!(
        config.headers,
        [
            ("X-A".to_string(), "b".to_string()),
            ("Authorization".to_string(), "Bearer t".to_string())
        ]
    );
    assert_eq!(config.timeout, Duration::from_millis(2500));
    assert_eq!(config.connect_timeout, Duration::from_secs(5));
    assert_eq!(config.client_error_attempts, 3);
}

#[test]
fn notify_without_a_webhook_delivers_nothing() {
    let Command::Notify { webhook, .. } = notify(&[]).unwrap() else {
        panic!("not notify");
    };
    assert!(webhook.webhook().unwrap().is_none());
}

#[test]
fn a_header_without_a_webhook_is_a_usage_error() {
    let err = notify(&["--webhook-header", "X-A: b"]).unwrap_err();
    assert_eq!(
        err.kind(),
        clap::error::ErrorKind::MissingRequiredArgument,
        "{err}"
    );
}

#[test]
fn a_header_with_a_line_break_is_refused_before_anything_starts() {
    let Command::Notify { webhook, .. } = notify(&[
        "--webhook",
        "http://127.0.0.1:8080/hooks/n",
        "--webhook-header",
        "X-A: b\r\nX-Injected: 1",
    ])
    .unwrap() else {
        panic!("not notify");
    };
    match webhook.webhook() {
        Err(WebhookError::Header { name, reason }) => {
            assert_eq!(name, "X-A");
            assert!(reason.contains("CR or LF"), "{reason}");
        }
        other => panic!("expected a header error, got {other:?}"),
    }
}

#[test]
fn a_bad_webhook_url_is_refused() {
    let Command::Notify { webhook, .. } = notify(&["--webhook", "ftp://example.org/x"]).unwrap()
    else {
        panic!("not notify");
    };
    assert!(matches!(webhook.webhook(), Err(WebhookError::Url { .. })));
}

#[test]
fn a_role_takes_its_stream_threads_and_refuses_none() {
    let threads = |args: &[&str]| match notify(args) {
        Ok(Command::Notify { connect, .. }) => Ok(connect.settings().threads),
        Ok(other) => panic!("not notify: {other:?}"),
        Err(e) => Err(e),
    };
    assert_eq!(threads(&[]).unwrap(), 1);
    assert_eq!(threads(&["--threads", "4"]).unwrap(), 4);
    let none = threads(&["--threads", "0"]).unwrap_err().to_string();
    assert!(none.contains("--threads"), "{none}");
}
