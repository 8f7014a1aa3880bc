//! A teacher's live class: the signaling link with reconnect and resume, the room
//! replica, the offline outbox, and the peer connection that carries the media.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use aula_proto::{
    ClientMsg, CommandId, ErrorCode, PROTOCOL_VERSION, PublishedTrack, RoomCommand, RoomSnapshot,
    SequencedEvent, ServerMsg, TrackId, TrackKind,
};
use aula_room::Room;
use futures_util::{SinkExt, StreamExt};
use serde::Serialize;
use tokio::sync::{broadcast, mpsc, watch};
use tokio_tungstenite::tungstenite::Message;
use ts_rs::TS;

use crate::cache::Cache;
use crate::publish::{Publisher, Sources};
use crate::remote::RemoteTracks;
use crate::rtc::{PeerLink, RtcSignal};
use crate::{ClientError, rest::Api};

pub type SharedCache = Arc<Mutex<Cache>>;

#[derive(Clone, Debug)]
pub struct SessionConfig {
    /// The server's HTTP origin, e.g. `http://127.0.0.1:7700`.
    pub server_url: String,
    pub class_id: String,
    pub teacher_token: String,
    /// Local UDP addresses for ICE, e.g. `127.0.0.1:0`; see [`default_ice_bind`].
    pub ice_bind: Vec<String>,
}

/// Loopback servers are reached from a loopback socket; a wildcard bind would skip
/// loopback (webrtc-rs), and a loopback bind cannot reach a LAN server.
pub fn default_ice_bind(server_url: &str) -> Vec<String> {
    let host = server_url
        .split("://")
        .nth(1)
        .unwrap_or(server_url)
        .split(['/', ':'])
        .next()
        .unwrap_or("");
    if host == "localhost" || host.starts_with("127.") || host == "[::1]" {
        vec!["127.0.0.1:0".into()]
    } else {
        vec!["0.0.0.0:0".into()]
    }
}

#[derive(Serialize, TS, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum LinkPhase {
    Offline,
    Connecting,
    Live,
    Reconnecting,
    Ended,
}

#[derive(Serialize, TS, Clone, Debug, PartialEq, Eq)]
pub struct LinkReason {
    pub code: String,
    pub message: String,
}

#[derive(Serialize, TS, Clone, Debug, PartialEq, Eq)]
pub struct LinkState {
    pub state: LinkPhase,
    pub reason: Option<LinkReason>,
    pub attempt: u32,
}

impl LinkState {
    fn new(state: LinkPhase) -> Self {
        LinkState {
            state,
            reason: None,
            attempt: 0,
        }
    }
}

impl From<&ClientError> for LinkReason {
    fn from(e: &ClientError) -> Self {
        LinkReason {
            code: e.code(),
            message: e.to_string(),
        }
    }
}

/// What the session tells whoever draws it.
#[derive(Clone, Debug)]
pub enum SessionEvent {
    Link(LinkState),
    /// The whole room, after each welcome (a fresh start or a resume).
    Room(RoomSnapshot),
    /// One event the replica applied after that snapshot, in sequence.
    Event(SequencedEvent),
    /// A command the server refused.
    CommandFailed {
        id: CommandId,
        code: ErrorCode,
        message: String,
    },
    Media {
        kind: TrackKind,
        code: String,
        message: String,
    },
}

enum Control {
    Send(CommandId, RoomCommand),
    /// Send a command for one of our own tracks once its id is known.
    OwnTrack(TrackKind, bool),
    End(tokio::sync::oneshot::Sender<()>),
}

pub struct Session {
    control: mpsc::Sender<Control>,
    events: broadcast::Sender<SessionEvent>,
    link: watch::Receiver<LinkState>,
    replica: SharedReplica,
    remote: RemoteTracks,
    publisher: Publisher,
    cache: SharedCache,
    class_id: String,
    task: tokio::task::JoinHandle<()>,
}

impl Session {
    /// Starts capturing and connecting at once; the link comes up in the background and
    /// keeps coming back until [`Session::end`].
    pub fn start(
        config: SessionConfig,
        cache: SharedCache,
        sources: Sources,
    ) -> Result<Session, ClientError> {
        let api = Api::new(&config.server_url)?;
        let (events, _) = broadcast::channel(256);
        let (link_tx, link) = watch::channel(LinkState::new(LinkPhase::Connecting));
        // The last known room, so the teacher sees the class before the link is up.
        let replica = {
            let cache = cache.lock().unwrap_or_else(|p| p.into_inner());
            restore_replica(&cache, &config.class_id)?
        };
        let replica: SharedReplica = Arc::new(std::sync::Mutex::new(replica));
        let (control, control_rx) = mpsc::channel(256);
        let remote = RemoteTracks::default();
        let publisher = Publisher::start(sources, events.clone())?;
        let worker = Worker {
            api,
            config: config.clone(),
            cache: cache.clone(),
            events: events.clone(),
            link: link_tx,
            replica: replica.clone(),
            remote: remote.clone(),
            publisher: publisher.clone(),
            me: None,
            own_tracks: Vec::new(),
        };
        let task = tokio::spawn(worker.run(control_rx));
        Ok(Session {
            control,
            events,
            link,
            replica,
            remote,
            publisher,
            cache,
            class_id: config.class_id,
            task,
        })
    }

    pub fn subscribe(&self) -> broadcast::Receiver<SessionEvent> {
        self.events.subscribe()
    }

    pub fn link_state(&self) -> LinkState {
        self.link.borrow().clone()
    }

    pub fn link_watch(&self) -> watch::Receiver<LinkState> {
        self.link.clone()
    }

    /// The room as the replica holds it now. Built on demand: the board can be large,
    /// and it changes many times a second while someone draws.
    pub fn room(&self) -> Option<RoomSnapshot> {
        lock(&self.replica).as_ref().map(Room::snapshot)
    }

    /// A handle that reads the room later, for a task that outlives this borrow (one that
    /// fell behind the event stream and needs the whole room again).
    pub fn room_reader(&self) -> RoomReader {
        RoomReader(self.replica.clone())
    }

    pub fn remote(&self) -> &RemoteTracks {
        &self.remote
    }

    pub fn publisher(&self) -> &Publisher {
        &self.publisher
    }

    /// Queues a command in the cache first, so that it survives a dropped link or a
    /// crash, then sends it if the link is up. Returns its id and whether it waits.
    pub async fn command(&self, command: RoomCommand) -> Result<(CommandId, bool), ClientError> {
        let id = CommandId(format!("t-{:016x}", rand::random::<u64>()));
        {
            let cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
            cache.queue_command(&self.class_id, &id, &command, now_ms())?;
        }
        let queued = self.link_state().state != LinkPhase::Live;
        self.control
            .send(Control::Send(id.clone(), command))
            .await
            .map_err(|_| ClientError::Ended)?;
        Ok((id, queued))
    }

    /// Turns one of our own tracks on or off: the encoder pauses, and the room (so the
    /// SFU and the students) learns it.
    pub async fn set_track_enabled(
        &self,
        kind: TrackKind,
        enabled: bool,
    ) -> Result<(), ClientError> {
        self.publisher.set_enabled(kind, enabled);
        self.control
            .send(Control::OwnTrack(kind, enabled))
            .await
            .map_err(|_| ClientError::Ended)
    }

    /// Starts sharing a screen (or another video source), or stops with `None`.
    pub async fn set_screen(
        &self,
        source: Option<Box<dyn aula_media::VideoSource>>,
    ) -> Result<(), ClientError> {
        let on = source.is_some();
        self.publisher.set_screen(source)?;
        self.control
            .send(Control::OwnTrack(TrackKind::Screen, on))
            .await
            .map_err(|_| ClientError::Ended)
    }

    /// Leaves the class for good: tells the server, stops capture, ends the session.
    pub async fn end(self) {
        let (tx, rx) = tokio::sync::oneshot::channel();
        if self.control.send(Control::End(tx)).await.is_ok() {
            let _ = tokio::time::timeout(Duration::from_secs(5), rx).await;
        }
        self.publisher.stop();
        self.task.abort();
    }
}

fn restore_replica(cache: &Cache, class_id: &str) -> Result<Option<Room>, ClientError> {
    let Some(snapshot) = cache.snapshot(class_id)? else {
        return Ok(None);
    };
    let mut room = Room::from_snapshot(&snapshot);
    for ev in cache.events(class_id)? {
        if room.apply_sequenced(&ev).is_err() {
            // A hole in the cached log: start from a fresh snapshot instead.
            return Ok(None);
        }
    }
    Ok(Some(room))
}

pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// How a connection ended.
enum Exit {
    Ended,
    /// Try again, saying why.
    Dropped(ClientError),
    /// Trying again cannot help (bad token, removed).
    Fatal(ClientError),
}

struct Worker {
    api: Api,
    config: SessionConfig,
    cache: SharedCache,
    events: broadcast::Sender<SessionEvent>,
    link: watch::Sender<LinkState>,
    replica: SharedReplica,
    remote: RemoteTracks,
    publisher: Publisher,
    me: Option<String>,
    own_tracks: Vec<PublishedTrack>,
}

#[derive(Clone)]
pub struct RoomReader(SharedReplica);

impl RoomReader {
    pub fn snapshot(&self) -> Option<RoomSnapshot> {
        lock(&self.0).as_ref().map(Room::snapshot)
    }
}

/// The room replica, shared by the worker that moves it forward and the [`Session`]
/// handle that reads it.
type SharedReplica = Arc<std::sync::Mutex<Option<Room>>>;

fn lock(r: &SharedReplica) -> std::sync::MutexGuard<'_, Option<Room>> {
    r.lock().unwrap_or_else(|p| p.into_inner())
}

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

impl Worker {
    fn set_link(&self, state: LinkState) {
        let _ = self.events.send(SessionEvent::Link(state.clone()));
        let _ = self.link.send(state);
    }

    fn cache(&self) -> std::sync::MutexGuard<'_, Cache> {
        self.cache.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The whole room, for whoever draws it to start over from (after a welcome).
    fn publish_room(&self) {
        if let Some(snap) = lock(&self.replica).as_ref().map(Room::snapshot) {
            let _ = self.events.send(SessionEvent::Room(snap));
        }
    }

    async fn run(mut self, mut control: mpsc::Receiver<Control>) {
        let session = self
            .cache()
            .start_session(&self.config.class_id, now_ms())
            .map_err(|e| tracing::warn!("cache: {e}"))
            .ok();
        let mut attempt: u32 = 0;
        let mut reason: Option<LinkReason> = None;
        loop {
            self.set_link(LinkState {
                state: if attempt == 0 {
                    LinkPhase::Connecting
                } else {
                    LinkPhase::Reconnecting
                },
                reason: reason.clone(),
                attempt,
            });
            let exit = match self.connect().await {
                Ok(ws) => self.serve(ws, &mut control, &mut attempt).await,
                Err(e) => Exit::Dropped(e),
            };
            self.remote.clear();
            match exit {
                Exit::Ended => break,
                Exit::Fatal(e) => {
                    self.set_link(LinkState {
                        state: LinkPhase::Ended,
                        reason: Some((&e).into()),
                        attempt,
                    });
                    // Keep answering End so the app can close cleanly.
                    while let Some(c) = control.recv().await {
                        if let Control::End(done) = c {
                            let _ = done.send(());
                            break;
                        }
                    }
                    break;
                }
                Exit::Dropped(e) => {
                    tracing::info!("link dropped: {e}");
                    reason = Some((&e).into());
                    attempt += 1;
                    self.set_link(LinkState {
                        state: LinkPhase::Reconnecting,
                        reason: reason.clone(),
                        attempt,
                    });
                    // Backoff with jitter, capped so a returning server is found quickly.
                    let base = 250u64 * 2u64.pow(attempt.min(4));
                    let wait = Duration::from_millis(base + rand::random::<u64>() % 250);
                    if self.wait_offline(&mut control, wait).await {
                        break;
                    }
                }
            }
        }
        if let Some(id) = session {
            let _ = self.cache().end_session(id, now_ms());
        }
        if self.link.borrow().state != LinkPhase::Ended {
            self.set_link(LinkState::new(LinkPhase::Ended));
        }
    }

    /// Waits out a backoff while the link is down. Commands are already in the outbox;
    /// an End stops everything. Returns true when the session ended.
    async fn wait_offline(
        &mut self,
        control: &mut mpsc::Receiver<Control>,
        wait: Duration,
    ) -> bool {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            tokio::select! {
                _ = tokio::time::sleep_until(deadline) => return false,
                c = control.recv() => match c {
                    None => return true,
                    Some(Control::End(done)) => { let _ = done.send(()); return true; }
                    // Queued in the cache already; replayed on the next welcome.
                    Some(Control::Send(..)) | Some(Control::OwnTrack(..)) => {}
                }
            }
        }
    }

    async fn connect(&self) -> Result<Ws, ClientError> {
        let url = self.api.ws_url();
        let connecting = tokio_tungstenite::connect_async(url.as_str());
        match tokio::time::timeout(Duration::from_secs(5), connecting).await {
            Ok(Ok((ws, _))) => Ok(ws),
            Ok(Err(e)) => Err(crate::rest::unreachable(self.api.base(), &e)),
            Err(_) => Err(ClientError::Unreachable {
                url: self.api.base().to_owned(),
                detail: "no answer within 5 s".into(),
            }),
        }
    }

    async fn serve(
        &mut self,
        mut ws: Ws,
        control: &mut mpsc::Receiver<Control>,
        attempt: &mut u32,
    ) -> Exit {
        let hello = ClientMsg::Hello {
            v: PROTOCOL_VERSION,
            token: self.config.teacher_token.clone(),
            resume_from: lock(&self.replica).as_ref().map(Room::last_seq),
        };
        if let Err(e) = send(&mut ws, &hello).await {
            return Exit::Dropped(e);
        }
        // Welcome first; nothing else is meaningful before it.
        let welcome = loop {
            match tokio::time::timeout(Duration::from_secs(10), recv(&mut ws)).await {
                Err(_) => {
                    return Exit::Dropped(ClientError::Protocol("no welcome within 10 s".into()));
                }
                Ok(Err(e)) => return Exit::Dropped(e),
                Ok(Ok(ServerMsg::Welcome {
                    you,
                    snapshot,
                    ice_servers,
                    ..
                })) => break (you, snapshot, ice_servers),
                Ok(Ok(ServerMsg::Error { code, message, .. })) => {
                    let e = ClientError::Server { code, message };
                    return match code {
                        ErrorCode::InvalidToken
                        | ErrorCode::TokenExpired
                        | ErrorCode::TokenRevoked
                        | ErrorCode::Removed
                        | ErrorCode::Forbidden
                        | ErrorCode::UnsupportedVersion => Exit::Fatal(e),
                        _ => Exit::Dropped(e),
                    };
                }
                Ok(Ok(_)) => continue,
            }
        };
        let (you, snapshot, ice_servers) = welcome;
        self.me = Some(you.id.0.clone());
        if let Some(snapshot) = snapshot {
            if let Err(e) = self.cache().save_snapshot(&snapshot, now_ms()) {
                tracing::warn!("cache: {e}");
            }
            *lock(&self.replica) = Some(Room::from_snapshot(&snapshot));
        }
        *attempt = 0;
        self.set_link(LinkState::new(LinkPhase::Live));
        self.publish_room();

        // A new connection is a new media session on the server: a fresh peer connection.
        let (signals_tx, mut signals) = mpsc::channel(256);
        // TURN credentials are minted per welcome: this connection's, not an older one's.
        let peer = match PeerLink::new(
            &self.config.ice_bind,
            &ice_servers,
            self.publisher.camera_layers(),
            signals_tx,
        )
        .await
        {
            Ok(p) => Arc::new(p),
            Err(e) => return Exit::Dropped(e),
        };
        let (sdp, tracks) = match peer.offer().await {
            Ok(o) => o,
            Err(e) => return Exit::Dropped(e),
        };
        self.own_tracks = tracks.clone();
        if let Err(e) = send(&mut ws, &ClientMsg::Offer { sdp, tracks }).await {
            return Exit::Dropped(e);
        }
        self.publisher.attach(Some(peer.clone()));

        // Everything made while the link was down, in order, with its original id.
        let pending = self.cache().pending_commands(&self.config.class_id);
        match pending {
            Ok(pending) => {
                for (id, command) in pending {
                    if let Err(e) = send(&mut ws, &ClientMsg::Command { id, command }).await {
                        return self.detach(peer, Exit::Dropped(e)).await;
                    }
                }
            }
            Err(e) => tracing::warn!("cache: {e}"),
        }

        let mut ping = tokio::time::interval(Duration::from_secs(5));
        let mut last_heard = tokio::time::Instant::now();
        let exit = loop {
            tokio::select! {
                msg = recv(&mut ws) => {
                    last_heard = tokio::time::Instant::now();
                    match msg {
                        Err(e) => break Exit::Dropped(e),
                        Ok(msg) => if let Err(exit) = self.on_server(&mut ws, &peer, msg).await {
                            break exit;
                        }
                    }
                }
                c = control.recv() => match c {
                    None => break Exit::Ended,
                    Some(Control::End(done)) => {
                        let _ = send(&mut ws, &ClientMsg::Leave).await;
                        let _ = ws.close(None).await;
                        let _ = done.send(());
                        break Exit::Ended;
                    }
                    Some(Control::Send(id, command)) => {
                        if let Err(e) = send(&mut ws, &ClientMsg::Command { id, command }).await {
                            break Exit::Dropped(e);
                        }
                    }
                    Some(Control::OwnTrack(kind, enabled)) => {
                        if let Some(command) = self.own_track_command(kind, enabled) {
                            let id = CommandId(format!("t-{:016x}", rand::random::<u64>()));
                            if let Err(e) = send(&mut ws, &ClientMsg::Command { id, command }).await {
                                break Exit::Dropped(e);
                            }
                        }
                    }
                },
                s = signals.recv() => match s {
                    None => {}
                    Some(RtcSignal::Track(track)) => self.remote.spawn_receiver(track),
                    Some(RtcSignal::KeyframeRequest { kind, layer }) => self.publisher.request_layer_keyframe(kind, layer),
                    Some(RtcSignal::Loss { kind, fraction_lost }) => self.publisher.report_loss(kind, fraction_lost),
                    Some(RtcSignal::State(state)) => {
                        use webrtc::peer_connection::RTCPeerConnectionState as S;
                        if state == S::Connected {
                            // Screen not shared yet: say so, so students draw no empty tile.
                            if !self.publisher.is_sharing_screen()
                                && let Some(command) = self.own_track_command(TrackKind::Screen, false)
                            {
                                let id = CommandId(format!("t-{:016x}", rand::random::<u64>()));
                                if let Err(e) = send(&mut ws, &ClientMsg::Command { id, command }).await {
                                    break Exit::Dropped(e);
                                }
                            }
                            self.publisher.request_keyframe(TrackKind::Camera);
                            self.publisher.request_keyframe(TrackKind::Screen);
                        }
                        if state == S::Failed {
                            break Exit::Dropped(ClientError::Rtc("the media connection failed".into()));
                        }
                    }
                },
                _ = ping.tick() => {
                    if last_heard.elapsed() > Duration::from_secs(15) {
                        break Exit::Dropped(ClientError::Protocol("the server stopped answering".into()));
                    }
                    let t = now_ms() as f64;
                    if let Err(e) = send(&mut ws, &ClientMsg::Ping { t }).await {
                        break Exit::Dropped(e);
                    }
                }
            }
        };
        self.detach(peer, exit).await
    }

    async fn detach(&mut self, peer: Arc<PeerLink>, exit: Exit) -> Exit {
        self.publisher.attach(None);
        peer.close().await;
        exit
    }

    fn own_track_command(&self, kind: TrackKind, enabled: bool) -> Option<RoomCommand> {
        let me = self.me.as_ref()?;
        let mid = &self.own_tracks.iter().find(|t| t.kind == kind)?.mid;
        Some(RoomCommand::SetTrackEnabled {
            track: TrackId(format!("{me}.{mid}")),
            enabled,
        })
    }

    async fn on_server(
        &mut self,
        ws: &mut Ws,
        peer: &Arc<PeerLink>,
        msg: ServerMsg,
    ) -> Result<(), Exit> {
        match msg {
            ServerMsg::Event(ev) => {
                {
                    let mut replica = lock(&self.replica);
                    let Some(room) = replica.as_mut() else {
                        return Err(Exit::Dropped(ClientError::Protocol(
                            "event before a snapshot".into(),
                        )));
                    };
                    if let Err(e) = room.apply_sequenced(&ev) {
                        // A gap means our view is wrong; start over from a fresh snapshot.
                        *replica = None;
                        return Err(Exit::Dropped(ClientError::Protocol(e.to_string())));
                    }
                }
                if let Err(e) = self
                    .cache
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .append_events(&self.config.class_id, std::slice::from_ref(&ev))
                {
                    tracing::warn!("cache: {e}");
                }
                let _ = self.events.send(SessionEvent::Event(ev));
            }
            ServerMsg::Ack { id, .. } => {
                let _ = self.cache().command_done(&id);
            }
            ServerMsg::Error { code, message, id } => {
                if let Some(id) = id {
                    let _ = self.cache().command_done(&id);
                    let _ = self
                        .events
                        .send(SessionEvent::CommandFailed { id, code, message });
                } else {
                    tracing::warn!("server error {code:?}: {message}");
                    if matches!(
                        code,
                        ErrorCode::Replaced
                            | ErrorCode::Removed
                            | ErrorCode::TokenRevoked
                            | ErrorCode::TokenExpired
                    ) {
                        return Err(Exit::Fatal(ClientError::Server { code, message }));
                    }
                    if code == ErrorCode::ShuttingDown {
                        return Err(Exit::Dropped(ClientError::Server { code, message }));
                    }
                }
            }
            ServerMsg::Answer { sdp } => {
                tracing::debug!("SFU answer:\n{sdp}");
                if let Err(e) = peer.apply_answer(sdp).await {
                    return Err(Exit::Dropped(e));
                }
            }
            ServerMsg::Offer { sdp } => match peer.answer_offer(sdp.clone()).await {
                Ok(answer) => {
                    tracing::debug!("SFU offer:\n{sdp}\nour answer:\n{answer}");
                    if let Err(e) = send(ws, &ClientMsg::Answer { sdp: answer }).await {
                        return Err(Exit::Dropped(e));
                    }
                }
                Err(e) => return Err(Exit::Dropped(e)),
            },
            // A resume the server could not finish exactly (its stored log had a hole)
            // ends in a fresh snapshot on the same connection: take it.
            ServerMsg::Welcome {
                snapshot: Some(snapshot),
                ..
            } => {
                if let Err(e) = self.cache().save_snapshot(&snapshot, now_ms()) {
                    tracing::warn!("cache: {e}");
                }
                *lock(&self.replica) = Some(Room::from_snapshot(&snapshot));
                self.publish_room();
            }
            ServerMsg::Welcome { .. }
            | ServerMsg::Waiting
            | ServerMsg::Pong { .. }
            | ServerMsg::VideoPaused { .. } => {}
        }
        Ok(())
    }
}

async fn send(ws: &mut Ws, msg: &ClientMsg) -> Result<(), ClientError> {
    let text = serde_json::to_string(msg).map_err(|e| ClientError::Protocol(e.to_string()))?;
    ws.send(Message::text(text))
        .await
        .map_err(|e| ClientError::Protocol(format!("sending: {e}")))
}

async fn recv(ws: &mut Ws) -> Result<ServerMsg, ClientError> {
    loop {
        match ws.next().await {
            None => {
                return Err(ClientError::Protocol(
                    "the server closed the connection".into(),
                ));
            }
            Some(Err(e)) => return Err(ClientError::Protocol(format!("connection lost: {e}"))),
            Some(Ok(Message::Text(text))) => {
                return serde_json::from_str(&text)
                    .map_err(|e| ClientError::Protocol(format!("unreadable message: {e}")));
            }
            Some(Ok(Message::Close(frame))) => {
                let why = frame.map(|f| f.reason.to_string()).unwrap_or_default();
                return Err(ClientError::Protocol(format!(
                    "the server closed the connection {why}"
                )));
            }
            Some(Ok(_)) => continue,
        }
    }
}
