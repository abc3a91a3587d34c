//! Webhooks: when a run with a `webhook_url` reaches a terminal status, or pauses (a paused
//! run notifies because someone has to act on it: confirm, answer, or run a tool), the store
//! queues a delivery in its durable outbox (in the same transaction as the status, which the
//! delivery records as its outcome); this dispatcher claims due deliveries (a lease, so
//! replicas never deliver the same row at once), POSTs the outcome signed as the Standard
//! Webhooks spec says, records every attempt, and retries with exponential backoff until it
//! gives up. The outbox survives restarts: a delivery whose dispatcher died is claimed again
//! when its lease ends.
//!
//! Each request: `POST <url>`, `content-type: application/json`, body
//! `{"type": "run.completed" | "run.error" | "run.cancelled" | "run.paused", "timestamp":
//! RFC 3339, "data": <the run record without events>}`, and the headers `webhook-id` (stable
//! across retries: `msg_<run_id>` for a run's first delivery, `msg_<run_id>_<n>` for its n-th
//! when it reached more than one outcome, paused or requeued), `webhook-timestamp` (Unix
//! seconds of the attempt) and, with a secret, `webhook-signature: v1,<base64 HMAC-SHA256 of
//! "{id}.{timestamp}.{body}">`. A 2xx answer is a delivery; anything else (or no answer in
//! time) is retried.
//!
//! The `type` is the outcome the delivery was queued for (`run.error` for a failure), not the
//! run's status when it is sent: a delivery sent late, after the run moved on (a paused run
//! continued, a failed run requeued), still reports the outcome it was queued for, and the
//! later outcome is a message of its own. `data` is the run as it is when the delivery is
//! sent, except its `status`, which is the outcome's (`PAUSED`, `COMPLETED`, `ERROR`,
//! `CANCELLED`), so that each message is consistent with its type. Deliveries queued before
//! schema v5 recorded no outcome: they report the run's current status.

use crate::wire;
use base64::Engine as _;
use kern_core::engine::Engine;
use kern_core::store::{RunStatus, WebhookAttempt, WebhookDelivery, WebhookOutcome};
use serde_json::{json, Value};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Webhook settings of a server.
#[derive(Clone, Debug)]
pub struct WebhookSettings {
    /// Where runs created without a `webhook_url` report (none by default).
    pub default_url: Option<String>,
    /// The signing key (the bytes behind `whsec_<base64>`). `None`: requests are unsigned.
    pub(crate) key: Option<Vec<u8>>,
    /// Attempts before giving up (default 8).
    pub max_attempts: u32,
    /// The first retry's delay; each next one doubles (default 1 s), up to `max_backoff`.
    pub backoff: Duration,
    /// The longest delay between attempts (default 10 min).
    pub max_backoff: Duration,
    /// The timeout of one attempt (default 10 s).
    pub timeout: Duration,
    /// How often the outbox is checked without a wake-up (default 1 s).
    pub poll: Duration,
}

impl Default for WebhookSettings {
    fn default() -> Self {
        Self {
            default_url: None,
            key: None,
            max_attempts: 8,
            backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(600),
            timeout: Duration::from_secs(10),
            poll: Duration::from_secs(1),
        }
    }
}

/// A signing secret that is not `whsec_<base64>` (nor plain text).
#[derive(Debug, thiserror::Error)]
#[error("invalid webhook secret: {0}")]
pub struct WebhookSecretError(String);

/// The key of a secret: `whsec_<base64>` is decoded (the Standard Webhooks form); anything
/// else is used as bytes.
pub(crate) fn secret_key(secret: &str) -> Result<Vec<u8>, WebhookSecretError> {
    match secret.strip_prefix("whsec_") {
        Some(b64) => base64::engine::general_purpose::STANDARD
            .decode(b64.trim())
            .map_err(|e| WebhookSecretError(format!("whsec_ part is not base64: {e}"))),
        None if secret.is_empty() => Err(WebhookSecretError("empty".into())),
        None => Ok(secret.as_bytes().to_vec()),
    }
}

/// `v1,<base64 HMAC-SHA256(key, "{id}.{timestamp}.{body}")>`.
pub(crate) fn signature(key: &[u8], id: &str, timestamp: i64, body: &str) -> String {
    let k = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, key);
    let tag = ring::hmac::sign(&k, format!("{id}.{timestamp}.{body}").as_bytes());
    format!(
        "v1,{}",
        base64::engine::general_purpose::STANDARD.encode(tag.as_ref())
    )
}

/// The Standard Webhooks message type of an outcome.
fn message_type(outcome: RunStatus) -> &'static str {
    match outcome {
        RunStatus::Completed => "run.completed",
        RunStatus::Cancelled => "run.cancelled",
        RunStatus::Paused => "run.paused",
        // Pending and running are never queued as outcomes; only a delivery written before
        // schema v5 (no outcome) whose run has been requeued since falls back to them, and
        // is typed as before v5.
        RunStatus::Failed | RunStatus::Pending | RunStatus::Running => "run.error",
    }
}

/// Claims and delivers due webhooks until `stop` is cancelled.
pub(crate) async fn dispatcher(engine: Engine, settings: WebhookSettings, stop: CancellationToken) {
    let client = match reqwest::Client::builder()
        .timeout(settings.timeout)
        .redirect(reqwest::redirect::Policy::none())
        .build()
    {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "webhooks: no HTTP client; deliveries stay queued");
            return;
        }
    };
    let mut wakeups = engine.webhook_wakeups();
    const BATCH: usize = 16;
    let lease_ms = (settings.timeout.as_millis() as i64) * 2 + 5_000;
    loop {
        let claimed = match engine.claim_webhooks(BATCH, lease_ms).await {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(error = %e, "webhooks: claim failed; retrying");
                Vec::new()
            }
        };
        let n = claimed.len();
        let sends = claimed
            .into_iter()
            .map(|d| deliver(&engine, &client, &settings, d));
        futures::future::join_all(sends).await;
        if n == BATCH {
            continue; // more may be due
        }
        let wake = async {
            match wakeups.as_mut() {
                Some(rx) => {
                    let _ = rx.recv().await;
                }
                None => std::future::pending::<()>().await,
            }
        };
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = wake => {}
            _ = tokio::time::sleep(settings.poll) => {}
        }
    }
}

async fn deliver(
    engine: &Engine,
    client: &reqwest::Client,
    settings: &WebhookSettings,
    d: WebhookDelivery,
) {
    let started = kern_core::store::now_millis();
    let t0 = std::time::Instant::now();
    let run = match engine.get_run(d.run_id).await {
        Ok(Some(r)) => r,
        Ok(None) => {
            // The run was purged; nothing to report.
            let attempt = WebhookAttempt {
                at: started,
                status_code: None,
                error: Some("the run no longer exists".into()),
                duration_ms: 0,
            };
            let _ = engine
                .record_webhook_attempt(d.id, attempt, WebhookOutcome::GiveUp)
                .await;
            return;
        }
        Err(e) => {
            tracing::warn!(error = %e, "webhooks: reading the run failed; the lease will retry");
            return;
        }
    };
    let name = wire::component_name(engine, &run);
    let mut data = wire::run_object(&run, name.as_deref());
    // The outcome this delivery was queued for: the run may have moved on since.
    let outcome = d.outcome.unwrap_or(run.status);
    data.insert("status".into(), wire::wire_status(outcome).into());
    let data = Value::Object(data);
    let kind = message_type(outcome);
    let ts = started.div_euclid(1000);
    let body = json!({
        "type": kind,
        "timestamp": wire::rfc3339(ts),
        "data": data,
    })
    .to_string();
    // Receivers deduplicate by webhook-id, so each outcome of a run that reached more than
    // one (it paused, or an operator requeued it) is a message of its own; the first keeps the
    // plain id.
    let nth = match engine.webhook_deliveries(run.run_id).await {
        Ok(all) => all.iter().position(|w| w.id == d.id).unwrap_or(0) + 1,
        Err(e) => {
            tracing::warn!(error = %e, "webhooks: reading the run's deliveries failed; the lease will retry");
            return;
        }
    };
    let msg_id = match nth {
        1 => format!("msg_{}", run.run_id),
        n => format!("msg_{}_{n}", run.run_id),
    };
    let mut req = client
        .post(&d.url)
        .header("content-type", "application/json")
        .header("user-agent", concat!("kern/", env!("CARGO_PKG_VERSION")))
        .header("webhook-id", &msg_id)
        .header("webhook-timestamp", ts.to_string());
    if let Some(key) = &settings.key {
        req = req.header("webhook-signature", signature(key, &msg_id, ts, &body));
    }
    let (status_code, error) = match req.body(body).send().await {
        Ok(resp) if resp.status().is_success() => (Some(resp.status().as_u16()), None),
        Ok(resp) => (
            Some(resp.status().as_u16()),
            Some(format!("unexpected status {}", resp.status().as_u16())),
        ),
        Err(e) if e.is_timeout() => (None, Some("timed out".to_owned())),
        Err(e) => (None, Some(format!("request failed: {e}"))),
    };
    let attempts = d.attempts + 1;
    let outcome = if error.is_none() {
        WebhookOutcome::Delivered
    } else if attempts >= settings.max_attempts {
        WebhookOutcome::GiveUp
    } else {
        let exp = settings
            .backoff
            .saturating_mul(1u32 << (attempts - 1).min(20))
            .min(settings.max_backoff);
        WebhookOutcome::RetryAt(kern_core::store::now_millis() + exp.as_millis() as i64)
    };
    let attempt = WebhookAttempt {
        at: started,
        status_code,
        error,
        duration_ms: t0.elapsed().as_millis() as u64,
    };
    if let Err(e) = engine.record_webhook_attempt(d.id, attempt, outcome).await {
        tracing::warn!(error = %e, id = d.id, "webhooks: recording an attempt failed");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn standard_webhooks_signature_vector() {
        // The example of the Standard Webhooks specification.
        let key = secret_key("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        let body = r#"{"test": 2432232314}"#;
        assert_eq!(
            signature(&key, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
        assert!(secret_key("whsec_???").is_err());
        assert_eq!(secret_key("plain").unwrap(), b"plain");
    }

    #[test]
    fn each_outcome_has_its_message_type() {
        assert_eq!(message_type(RunStatus::Completed), "run.completed");
        assert_eq!(message_type(RunStatus::Failed), "run.error");
        assert_eq!(message_type(RunStatus::Cancelled), "run.cancelled");
        assert_eq!(message_type(RunStatus::Paused), "run.paused");
    }
}
