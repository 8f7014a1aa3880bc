//! The server's REST API, as the teacher app uses it.

use std::time::Duration;

use aula_proto::{
    AlertSettings, ApiError, ClassCreated, CreateClass, InviteCreated, JoinGranted, JoinRequest,
    RosterAdd, RosterMember, RosterStudent,
};
use serde::{Serialize, de::DeserializeOwned};

use crate::ClientError;

#[derive(Clone)]
pub struct Api {
    base: String,
    http: reqwest::Client,
}

impl Api {
    /// `base` is the server's HTTP origin, e.g. `http://127.0.0.1:7700`.
    pub fn new(base: &str) -> Result<Api, ClientError> {
        let base = base.trim_end_matches('/').to_owned();
        if !(base.starts_with("http://") || base.starts_with("https://")) {
            return Err(ClientError::Invalid(format!(
                "server URL must start with http:// or https://, got {base:?}"
            )));
        }
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(3))
            .timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| ClientError::Invalid(e.to_string()))?;
        Ok(Api { base, http })
    }

    pub fn base(&self) -> &str {
        &self.base
    }

    /// The WebSocket URL of the same server.
    pub fn ws_url(&self) -> String {
        let rest = self
            .base
            .strip_prefix("https://")
            .map(|r| format!("wss://{r}"))
            .unwrap_or_else(|| self.base.replacen("http://", "ws://", 1));
        format!("{rest}/ws")
    }

    pub async fn create_class(
        &self,
        operator_key: &str,
        title: &str,
    ) -> Result<ClassCreated, ClientError> {
        self.post(
            "/api/classes",
            Some(operator_key),
            &CreateClass {
                title: title.to_owned(),
            },
        )
        .await
    }

    pub async fn create_invite(
        &self,
        teacher_token: &str,
        class_id: &str,
    ) -> Result<InviteCreated, ClientError> {
        self.post(
            &format!("/api/classes/{class_id}/invites"),
            Some(teacher_token),
            &serde_json::json!({}),
        )
        .await
    }

    pub async fn join(&self, invite: &str, name: &str) -> Result<JoinGranted, ClientError> {
        self.post(
            "/api/join",
            None,
            &JoinRequest {
                invite: invite.to_owned(),
                name: name.to_owned(),
                device: None,
            },
        )
        .await
    }

    /// The class's attendance, engagement and quiz report of its latest session
    /// (teacher token).
    pub async fn report(
        &self,
        teacher_token: &str,
        class_id: &str,
    ) -> Result<aula_proto::ClassReport, ClientError> {
        self.get(teacher_token, &format!("/api/classes/{class_id}/report"))
            .await
    }

    /// Every session of the class gathered by week or month, cut in local time
    /// `utc_offset_min` minutes ahead of UTC (teacher token).
    pub async fn period_report(
        &self,
        teacher_token: &str,
        class_id: &str,
        period: aula_proto::Period,
        utc_offset_min: i32,
    ) -> Result<Vec<aula_proto::PeriodReport>, ClientError> {
        let period = match period {
            aula_proto::Period::Week => "week",
            aula_proto::Period::Month => "month",
        };
        self.get(
            teacher_token,
            &format!(
                "/api/classes/{class_id}/report?period={period}&utc_offset_min={utc_offset_min}"
            ),
        )
        .await
    }

    /// The class's roster, each student with a personal link (teacher token).
    pub async fn roster(
        &self,
        teacher_token: &str,
        class_id: &str,
    ) -> Result<Vec<RosterMember>, ClientError> {
        self.get(teacher_token, &format!("/api/classes/{class_id}/roster"))
            .await
    }

    /// Adds students to the roster; answers the whole roster.
    pub async fn add_to_roster(
        &self,
        teacher_token: &str,
        class_id: &str,
        students: Vec<RosterStudent>,
    ) -> Result<Vec<RosterMember>, ClientError> {
        self.post(
            &format!("/api/classes/{class_id}/roster"),
            Some(teacher_token),
            &RosterAdd { students },
        )
        .await
    }

    /// Takes a student off the roster; its personal link stops working.
    pub async fn remove_from_roster(
        &self,
        teacher_token: &str,
        class_id: &str,
        member_id: &str,
    ) -> Result<(), ClientError> {
        let path = format!("/api/classes/{class_id}/roster/{member_id}");
        let resp = self
            .http
            .delete(format!("{}{path}", self.base))
            .bearer_auth(teacher_token)
            .send()
            .await
            .map_err(|e| unreachable(&self.base, &e))?;
        if resp.status().is_success() {
            // 204: nothing to read.
            return Ok(());
        }
        Self::answer::<serde_json::Value>(&path, resp)
            .await
            .map(|_| ())
    }

    pub async fn alerts(
        &self,
        teacher_token: &str,
        class_id: &str,
    ) -> Result<AlertSettings, ClientError> {
        self.get(teacher_token, &format!("/api/classes/{class_id}/alerts"))
            .await
    }

    /// Sets the class's attendance-alert threshold (`None`: off).
    pub async fn set_alerts(
        &self,
        teacher_token: &str,
        class_id: &str,
        attendance_threshold_pct: Option<u8>,
    ) -> Result<AlertSettings, ClientError> {
        let path = format!("/api/classes/{class_id}/alerts");
        let body = AlertSettings {
            attendance_threshold_pct,
            mail_configured: false,
        };
        self.call(
            reqwest::Method::PUT,
            &path,
            Some(teacher_token),
            Some(&body),
        )
        .await
    }

    async fn get<T: DeserializeOwned>(
        &self,
        teacher_token: &str,
        path: &str,
    ) -> Result<T, ClientError> {
        self.call::<(), T>(reqwest::Method::GET, path, Some(teacher_token), None)
            .await
    }

    pub async fn healthy(&self) -> Result<(), ClientError> {
        let url = format!("{}/healthz", self.base);
        let resp = self
            .http
            .get(&url)
            .send()
            .await
            .map_err(|e| unreachable(&url, &e))?;
        if resp.status().is_success() {
            Ok(())
        } else {
            Err(ClientError::Protocol(format!(
                "/healthz answered {}",
                resp.status()
            )))
        }
    }

    async fn post<B: Serialize, T: DeserializeOwned>(
        &self,
        path: &str,
        bearer: Option<&str>,
        body: &B,
    ) -> Result<T, ClientError> {
        self.call(reqwest::Method::POST, path, bearer, Some(body))
            .await
    }

    async fn call<B: Serialize, T: DeserializeOwned>(
        &self,
        method: reqwest::Method,
        path: &str,
        bearer: Option<&str>,
        body: Option<&B>,
    ) -> Result<T, ClientError> {
        let url = format!("{}{path}", self.base);
        let mut req = self.http.request(method, &url);
        if let Some(body) = body {
            req = req.json(body);
        }
        if let Some(token) = bearer {
            req = req.bearer_auth(token);
        }
        let resp = req.send().await.map_err(|e| unreachable(&self.base, &e))?;
        Self::answer(path, resp).await
    }

    /// A JSON answer, or the server's typed error.
    async fn answer<T: DeserializeOwned>(
        path: &str,
        resp: reqwest::Response,
    ) -> Result<T, ClientError> {
        let status = resp.status();
        let bytes = resp
            .bytes()
            .await
            .map_err(|e| ClientError::Protocol(format!("{path}: {e}")))?;
        if status.is_success() {
            return serde_json::from_slice(&bytes)
                .map_err(|e| ClientError::Protocol(format!("{path}: {e}")));
        }
        match serde_json::from_slice::<ApiError>(&bytes) {
            Ok(err) => Err(ClientError::Server {
                code: err.code,
                message: err.message,
            }),
            Err(_) => Err(ClientError::Protocol(format!("{path} answered {status}"))),
        }
    }
}

pub(crate) fn unreachable(url: &str, e: &(dyn std::error::Error + 'static)) -> ClientError {
    // The top-level message is generic ("error sending request"); the innermost cause is
    // the one a teacher can act on ("Connection refused").
    let mut detail = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        detail = s.to_string();
        source = s.source();
    }
    ClientError::Unreachable {
        url: url.to_owned(),
        detail,
    }
}
