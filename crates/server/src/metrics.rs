use std::collections::HashMap;
use std::fmt::Write;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use aula_proto::ErrorCode;

#[derive(Default)]
pub struct ServerMetrics {
    pub connections: AtomicU64,
    pub rooms: AtomicU64,
    pub messages_in: AtomicU64,
    pub rate_limited: AtomicU64,
    pub lagging_disconnects: AtomicU64,
    pub storage_errors: AtomicU64,
    errors: Mutex<HashMap<&'static str, u64>>,
}

impl ServerMetrics {
    pub fn count_error(&self, code: ErrorCode) {
        *self
            .errors
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(code.as_str())
            .or_default() += 1;
    }

    pub fn prometheus(&self) -> String {
        let mut out = String::new();
        let rows = [
            (
                "aula_connections",
                "gauge",
                "open client WebSockets",
                self.connections.load(Relaxed),
            ),
            (
                "aula_rooms",
                "gauge",
                "class rooms held in memory",
                self.rooms.load(Relaxed),
            ),
            (
                "aula_messages_in_total",
                "counter",
                "client frames received",
                self.messages_in.load(Relaxed),
            ),
            (
                "aula_rate_limited_total",
                "counter",
                "client frames refused by the rate limit",
                self.rate_limited.load(Relaxed),
            ),
            (
                "aula_lagging_disconnects_total",
                "counter",
                "connections closed because their queue was full",
                self.lagging_disconnects.load(Relaxed),
            ),
            (
                "aula_storage_errors_total",
                "counter",
                "failed storage writes and reads",
                self.storage_errors.load(Relaxed),
            ),
        ];
        for (name, kind, help, v) in rows {
            let _ = write!(
                out,
                "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {v}\n"
            );
        }
        out.push_str("# HELP aula_errors_sent_total errors sent to clients, by code\n# TYPE aula_errors_sent_total counter\n");
        let errors = self.errors.lock().unwrap_or_else(|p| p.into_inner());
        let mut codes: Vec<_> = errors.iter().collect();
        codes.sort();
        for (code, n) in codes {
            let _ = writeln!(out, "aula_errors_sent_total{{code=\"{code}\"}} {n}");
        }
        out
    }
}
