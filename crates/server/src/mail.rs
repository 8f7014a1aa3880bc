//! Sends the queued attendance alerts through the operator's SMTP relay (lettre).
//!
//! Alerts are queued in storage first, in the same transaction that records the
//! student's standing, so a crash or a relay that is down loses none and queues none
//! twice. This task sends what is due, marks each sent, and retries failures with
//! backoff. Every mail carries a Message-ID made from its queue key, so in the one case
//! left (sent, then the process dies before marking it) a receiving system can tell the
//! repeat.

use std::sync::Arc;
use std::time::Duration;

use lettre::message::Mailbox;
use lettre::message::header::ContentType;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use crate::storage::QueuedMail;
use crate::{AppState, now_ms};

/// Tries per mail before it is marked failed (the operator sees it in `/api/mail`).
pub const MAX_ATTEMPTS: u32 = 8;
/// A failed try waits 1 s, 2 s, 4 s… up to this.
const MAX_BACKOFF_S: u64 = 600;
/// How often the queue is looked at when nothing wakes the task.
const POLL: Duration = Duration::from_secs(1);

#[derive(Debug, thiserror::Error)]
pub enum MailError {
    #[error("the SMTP URL is not usable: {0}")]
    Url(lettre::transport::smtp::Error),
    #[error("the From address {0:?} is not a mailbox: {1}")]
    From(String, lettre::address::AddressError),
}

pub fn backoff_ms(attempts: u32) -> u64 {
    1000 * (1u64 << attempts.min(20)).min(MAX_BACKOFF_S)
}

/// Starts the sender if an SMTP URL is configured. It stops with the server.
pub fn spawn(state: Arc<AppState>) -> Result<(), MailError> {
    let Some(url) = state.cfg.smtp_url.clone() else {
        return Ok(());
    };
    let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(&url)
        .map_err(MailError::Url)?
        .timeout(Some(Duration::from_secs(20)))
        .build();
    let from: Mailbox = state
        .cfg
        .mail_from
        .parse()
        .map_err(|e| MailError::From(state.cfg.mail_from.clone(), e))?;
    tokio::spawn(async move {
        let mut stop = state.shutdown.clone();
        loop {
            send_due(&state, &transport, &from).await;
            tokio::select! {
                _ = state.mail_wake.notified() => {}
                _ = tokio::time::sleep(POLL) => {}
                _ = stop.changed() => return,
            }
            if *stop.borrow() {
                return;
            }
        }
    });
    Ok(())
}

async fn send_due(
    state: &AppState,
    transport: &AsyncSmtpTransport<Tokio1Executor>,
    from: &Mailbox,
) {
    let due = match state.storage.due_mail(now_ms(), 50) {
        Ok(d) => d,
        Err(e) => {
            tracing::error!("reading the mail queue: {e}");
            return;
        }
    };
    for mail in due {
        let result = match build(&mail, from) {
            Ok(msg) => transport.send(msg).await.map_err(|e| (e.to_string(), true)),
            // A message that cannot be built never will be: no retry.
            Err(e) => Err((e, false)),
        };
        let stored = match result {
            Ok(_) => {
                tracing::info!(to = %mail.to, key = %mail.key, "alert mailed");
                state.storage.mail_sent(mail.id, now_ms())
            }
            Err((e, retry)) => {
                let attempts = mail.attempts + 1;
                let again = (retry && attempts < MAX_ATTEMPTS)
                    .then(|| now_ms() + backoff_ms(mail.attempts));
                tracing::warn!(to = %mail.to, attempts, retry = again.is_some(), "mailing an alert failed: {e}");
                state.storage.mail_failed(mail.id, &e, again)
            }
        };
        if let Err(e) = stored {
            tracing::error!("updating the mail queue: {e}");
        }
    }
}

fn build(mail: &QueuedMail, from: &Mailbox) -> Result<Message, String> {
    let to: Mailbox = mail
        .to
        .parse()
        .map_err(|e| format!("to {:?}: {e}", mail.to))?;
    let id: String = mail
        .key
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '.' })
        .collect();
    Message::builder()
        .from(from.clone())
        .to(to)
        .subject(&mail.subject)
        .message_id(Some(format!("<{id}@aula>")))
        .header(ContentType::TEXT_PLAIN)
        .body(mail.body.clone())
        .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_then_caps() {
        assert_eq!(backoff_ms(0), 1000);
        assert_eq!(backoff_ms(3), 8000);
        assert_eq!(backoff_ms(30), MAX_BACKOFF_S * 1000);
    }
}
