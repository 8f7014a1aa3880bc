//! One task per live class. It owns the pure [`Room`], the class's connections and
//! their media peers, and is the only writer of the class's event log: every event is
//! stored, then fanned out, in sequence order.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;

use aula_proto::{
    ClientMsg, ErrorCode, LeaveReason, MemberId, PROTOCOL_VERSION, Role, RoomEvent, Seen, Seq,
    SequencedEvent, ServerMsg, TrackId,
};
use aula_room::{Identity, JoinOutcome, Room};
use aula_sfu::{PeerId, PeerSpec, SfuEvent};
use axum::extract::ws::Utf8Bytes;
use tokio::sync::{mpsc, oneshot};

use crate::{AppState, now_ms};

pub type ConnId = u64;

/// A frame for a connection task to write.
#[derive(Debug)]
pub enum Outbound {
    Frame(Utf8Bytes),
    /// Everything queued before this was written to the socket: a resuming connection
    /// asks for its next page of missed events (`RoomMsg::More`). This is the resume's
    /// backpressure: a page is read only once the last one has left.
    Drained,
}

/// Missed events sent to a resuming connection at once.
const RESUME_PAGE: usize = 256;
/// A client further behind than this gets a snapshot instead of the events: past it a
/// snapshot is the smaller download.
const RESUME_STREAM_MAX: u64 = 50_000;

pub enum RoomMsg {
    Join {
        conn: ConnId,
        who: Identity,
        /// A new student waits for a teacher whatever the waiting-room setting.
        hold: bool,
        resume_from: Option<Seq>,
        out: mpsc::Sender<Outbound>,
        kill: oneshot::Sender<(ErrorCode, String)>,
        reply: oneshot::Sender<Result<(), (ErrorCode, String)>>,
    },
    Client {
        conn: ConnId,
        msg: ClientMsg,
    },
    /// The socket closed without a `leave`.
    Gone {
        conn: ConnId,
    },
    /// A resuming connection wrote its last page; send the next.
    More {
        conn: ConnId,
    },
    Sfu(SfuEvent),
    Tick,
    /// The server stops: end, then say so. Its connections are closed by the same
    /// shutdown.
    Stop {
        done: oneshot::Sender<()>,
    },
    /// Attendance, engagement and quizzes so far, for the report API.
    /// One session's report (0-based; the latest when `None`); `None` past the last.
    /// The live heatmap asks every few seconds: only that session is built.
    Report {
        session: Option<usize>,
        reply: oneshot::Sender<Option<aula_proto::ClassReport>>,
    },
    /// Every session's report, oldest first.
    Reports {
        reply: oneshot::Sender<Vec<aula_proto::ClassReport>>,
    },
}

struct Conn {
    member: MemberId,
    role: Role,
    out: mpsc::Sender<Outbound>,
    kill: Option<oneshot::Sender<(ErrorCode, String)>>,
    admitted: bool,
    peer: Option<PeerId>,
    /// While a resume streams: the last missed event sent. Live events are not fanned
    /// out to it then; the pages reach them in order.
    catch_up: Option<Seq>,
    /// How tall the client shows video tiles (`view_size`), kept for its next peer.
    view_height: Option<u32>,
}

pub struct RoomActor {
    state: Arc<AppState>,
    room: Room,
    conns: HashMap<ConnId, Conn>,
    by_member: HashMap<MemberId, ConnId>,
    /// Room track → (media peer, transceiver mid), to tell the SFU which track to silence.
    track_mids: HashMap<TrackId, (PeerId, String)>,
    session: Option<i64>,
    actor_id: u64,
    /// Since when nobody is connected; the actor unloads after `room_idle_secs`.
    idle_since: Option<u64>,
    /// The closed session (start, end) attendance alerts were last checked for.
    alerts_checked: Option<(u64, u64)>,
    /// The seq of the room's newest stored checkpoint.
    checkpointed: Seq,
}

/// A room read back from storage.
struct Loaded {
    room: Room,
    /// The last stored event: what restoring added after it is not stored yet.
    stored_last: Seq,
    checkpointed: Seq,
}

/// Rebuilds a class's room from its newest checkpoint and the events after it, or from
/// its whole log when there is no checkpoint or it cannot be read (another format).
fn load_room(state: &AppState, class_id: &str) -> Loaded {
    let storage_failed = |what: &str, e: &dyn std::fmt::Display| {
        tracing::error!(class = %class_id, "{what}: {e}");
        state.metrics.storage_errors.fetch_add(1, Relaxed);
    };
    let applied = state
        .storage
        .applied_commands(class_id, aula_room::dedup::PER_MEMBER)
        .unwrap_or_else(|e| {
            storage_failed(
                "cannot read applied commands; retries after this restart may apply twice",
                &e,
            );
            Vec::new()
        });
    let checkpoint = state.storage.checkpoint(class_id).unwrap_or_else(|e| {
        storage_failed(
            "cannot read the room's checkpoint, replaying its whole log",
            &e,
        );
        None
    });
    if let Some((at, body)) = checkpoint {
        let restored = state
            .storage
            .events_after(class_id, at, usize::MAX)
            .map_err(|e| e.to_string())
            .and_then(|tail| {
                let stored_last = tail.last().map_or(at, |e| e.seq);
                Room::restore_from_checkpoint(class_id, &body, tail, applied.clone(), now_ms())
                    .map(|room| (room, stored_last))
                    .map_err(|e| e.to_string())
            });
        match restored {
            Ok((room, stored_last)) => {
                return Loaded {
                    room,
                    stored_last,
                    checkpointed: at,
                };
            }
            Err(e) => tracing::warn!(
                class = %class_id,
                "checkpoint not used, replaying the whole log: {e}"
            ),
        }
    }
    let stored = state.storage.events(class_id).unwrap_or_else(|e| {
        storage_failed("cannot read the stored event log, starting empty", &e);
        Vec::new()
    });
    let stored_last = stored.last().map_or(Seq(0), |e| e.seq);
    let room = Room::restore(class_id, stored, applied, now_ms()).unwrap_or_else(|e| {
        tracing::error!(class = %class_id, "stored event log is broken, starting a fresh log: {e}");
        Room::new(class_id)
    });
    // A fresh log after a broken one starts again at 1.
    let stored_last = stored_last.min(room.last_seq());
    Loaded {
        room,
        stored_last,
        checkpointed: Seq(0),
    }
}

pub fn spawn(state: Arc<AppState>, class_id: String, actor_id: u64) -> mpsc::Sender<RoomMsg> {
    let (tx, rx) = mpsc::channel(4096);
    tokio::spawn(async move {
        let loaded = load_room(&state, &class_id);
        let room = loaded.room;
        let mut actor = RoomActor {
            state,
            room,
            conns: HashMap::new(),
            by_member: HashMap::new(),
            track_mids: HashMap::new(),
            session: None,
            actor_id,
            idle_since: Some(now_ms()),
            alerts_checked: None,
            checkpointed: loaded.checkpointed,
        };
        // The operator's choice about tab visibility, for new and restored rooms alike.
        let tracking = actor.state.cfg.track_tab_visibility;
        actor.room.set_tab_tracking(now_ms(), tracking);
        let gap_ms = actor.state.cfg.session_gap_secs.saturating_mul(1000);
        actor.room.set_session_gap(now_ms(), gap_ms);
        // Events that restoring (or the operator's settings) added go to storage too, so
        // the log stays whole.
        if let Ok(added) = actor.room.events_since(loaded.stored_last) {
            actor.persist(&added);
        }
        actor.checkpoint_if_due();
        // Restoring closes a session the server stopped in the middle of.
        actor.check_attendance();
        actor.run(rx).await;
    });
    tx
}

impl RoomActor {
    async fn run(&mut self, mut rx: mpsc::Receiver<RoomMsg>) {
        while let Some(msg) = rx.recv().await {
            match msg {
                RoomMsg::Join {
                    conn,
                    who,
                    hold,
                    resume_from,
                    out,
                    kill,
                    reply,
                } => {
                    let result = self
                        .admission(&who)
                        .and_then(|()| self.on_join(conn, who, hold, resume_from, out, kill));
                    let _ = reply.send(result);
                }
                RoomMsg::Client { conn, msg } => self.on_client(conn, msg).await,
                RoomMsg::Gone { conn } => self.on_gone(conn).await,
                RoomMsg::More { conn } => self.pump(conn),
                RoomMsg::Sfu(ev) => self.on_sfu(ev).await,
                // Every event is already stored; the next load reads the last checkpoint
                // and the events after it, as after a crash.
                RoomMsg::Stop { done } => {
                    let _ = done.send(());
                    return;
                }
                RoomMsg::Report { session, reply } => {
                    let n = self.room.sessions().len();
                    let report = match session {
                        None => Some(self.room.report(now_ms())),
                        Some(i) if i < n => Some(self.room.session_report(i, now_ms())),
                        Some(_) => None,
                    };
                    let _ = reply.send(report);
                }
                RoomMsg::Reports { reply } => {
                    let _ = reply.send(self.room.session_reports(now_ms()));
                }
                RoomMsg::Tick => {
                    let now = now_ms();
                    let grace = self.state.cfg.disconnect_grace_secs * 1000;
                    let mut events = self.room.expire_disconnected(now, grace);
                    events.extend(self.room.expire_quizzes(now));
                    self.commit(events, None).await;
                    let idle_for = self.idle_since.map(|t| now.saturating_sub(t));
                    let idle = idle_for.is_some_and(|d| d >= self.state.cfg.room_idle_secs * 1000);
                    if idle {
                        // The next load reads this instead of replaying the log.
                        self.checkpoint();
                    }
                    if idle
                        && self.state.hub.retire(
                            &self.state,
                            self.room.class_id(),
                            self.actor_id,
                            &rx,
                        )
                    {
                        tracing::debug!(
                            class = self.room.class_id(),
                            "room unloaded after being idle"
                        );
                        return;
                    }
                }
            }
            self.idle_since = match (self.conns.is_empty(), self.idle_since) {
                (false, _) => None,
                (true, None) => Some(now_ms()),
                (true, since) => since,
            };
        }
    }

    /// The class's member cap. A member already in (or waiting) and teachers always
    /// get in, so a reconnect is never refused and a full class keeps its teachers.
    fn admission(&self, who: &Identity) -> Result<(), (ErrorCode, String)> {
        let known = self.room.member(&who.id).is_some() || self.room.is_waiting(&who.id);
        let cap = self.state.cfg.max_class_members;
        if known || who.role == Role::Teacher || self.room.headcount() < cap {
            return Ok(());
        }
        Err((
            ErrorCode::ClassFull,
            format!("this class already has {cap} members"),
        ))
    }

    fn on_join(
        &mut self,
        conn: ConnId,
        who: Identity,
        hold: bool,
        resume_from: Option<Seq>,
        out: mpsc::Sender<Outbound>,
        kill: oneshot::Sender<(ErrorCode, String)>,
    ) -> Result<(), (ErrorCode, String)> {
        let member = who.id.clone();
        let role = who.role;
        let joined = if hold {
            self.room.join_held(now_ms(), who)
        } else {
            self.room.join(now_ms(), who)
        };
        let (outcome, events) = joined.map_err(|e| (e.code(), e.to_string()))?;
        // One live connection per member: a second tab or a reconnect replaces the first.
        if let Some(old) = self.by_member.remove(&member)
            && let Some(mut c) = self.conns.remove(&old)
        {
            self.close_peer(&mut c);
            if let Some(k) = c.kill.take() {
                let _ = k.send((
                    ErrorCode::Replaced,
                    "this member joined from another connection".into(),
                ));
            }
        }
        if self.session.is_none() {
            self.session = self
                .state
                .storage
                .start_session(self.room.class_id(), now_ms())
                .ok();
        }
        let admitted = matches!(outcome, JoinOutcome::Admitted { .. });
        self.conns.insert(
            conn,
            Conn {
                member: member.clone(),
                role,
                out,
                kill: Some(kill),
                admitted,
                peer: None,
                catch_up: None,
                view_height: None,
            },
        );
        self.by_member.insert(member.clone(), conn);
        self.persist(&events);
        if let Some(info) = self.room.member(&member).cloned()
            && let Err(e) = self
                .state
                .storage
                .record_member(self.room.class_id(), &info)
        {
            tracing::warn!("recording member: {e}");
        }
        if admitted {
            self.welcome(conn, resume_from);
        } else {
            self.send(conn, &ServerMsg::Waiting);
        }
        self.fan_out(&events, Some(conn));
        Ok(())
    }

    /// Sends `welcome`, then the missed events when the client can resume.
    fn welcome(&mut self, conn: ConnId, resume_from: Option<Seq>) {
        let Some(c) = self.conns.get(&conn) else {
            return;
        };
        let Some(you) = self.room.member(&c.member).cloned() else {
            return;
        };
        let last = self.room.last_seq();
        let resumable = resume_from.filter(|s| *s <= last && last.0 - s.0 <= RESUME_STREAM_MAX);
        match resumable {
            Some(from) => {
                self.send(
                    conn,
                    &ServerMsg::Welcome {
                        v: PROTOCOL_VERSION,
                        ice_servers: self.ice_servers(&you.id),
                        you,
                        snapshot: None,
                        resumed_from: Some(from),
                    },
                );
                if let Some(c) = self.conns.get_mut(&conn) {
                    c.catch_up = Some(from);
                }
                self.pump(conn);
            }
            None => self.welcome_with_snapshot(conn, you),
        }
    }

    fn welcome_with_snapshot(&mut self, conn: ConnId, you: aula_proto::MemberInfo) {
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        c.catch_up = None;
        let role = c.role;
        let snapshot = Some(Box::new(self.room.snapshot_for(&you.id, role)));
        self.send(
            conn,
            &ServerMsg::Welcome {
                v: PROTOCOL_VERSION,
                ice_servers: self.ice_servers(&you.id),
                you,
                snapshot,
                resumed_from: None,
            },
        );
    }

    fn ice_servers(&self, member: &MemberId) -> Vec<aula_proto::IceServer> {
        crate::turn::ice_servers(self.state.cfg.turn.as_ref(), member, now_ms() / 1000)
    }

    /// Sends a resuming connection its next page of missed events: from memory, or from
    /// storage when memory no longer holds them. When the page reaches the end of the
    /// log the connection is live again. A hole in storage (a write that failed) cannot
    /// be resumed exactly: the client gets a snapshot instead.
    fn pump(&mut self, conn: ConnId) {
        let Some(c) = self.conns.get(&conn) else {
            return;
        };
        let Some(after) = c.catch_up else {
            return;
        };
        let (me, role) = (c.member.clone(), c.role);
        if after >= self.room.last_seq() {
            if let Some(c) = self.conns.get_mut(&conn) {
                c.catch_up = None;
            }
            return;
        }
        let page = match self.room.events_page(after, RESUME_PAGE) {
            Ok(page) => Some(page),
            Err(_) => self
                .state
                .storage
                .events_after(self.room.class_id(), after, RESUME_PAGE)
                .map_err(|e| {
                    self.state.metrics.storage_errors.fetch_add(1, Relaxed);
                    tracing::error!(class = self.room.class_id(), "reading a resume page: {e}");
                })
                .ok(),
        };
        let contiguous = page.as_ref().is_some_and(|p| {
            !p.is_empty()
                && p.iter()
                    .zip(after.0 + 1..)
                    .all(|(ev, want)| ev.seq.0 == want)
        });
        let (Some(page), true) = (page, contiguous) else {
            if let Some(you) = self.room.member(&me).cloned() {
                self.welcome_with_snapshot(conn, you);
            }
            return;
        };
        let reached = page.last().map_or(after, |ev| ev.seq);
        for ev in page {
            self.send(conn, &ServerMsg::Event(ev.for_member(&me, role)));
        }
        let live = reached >= self.room.last_seq();
        if let Some(c) = self.conns.get_mut(&conn) {
            c.catch_up = (!live).then_some(reached);
        }
        if !live {
            self.push(conn, Outbound::Drained);
        }
    }

    async fn on_client(&mut self, conn: ConnId, msg: ClientMsg) {
        let Some(c) = self.conns.get(&conn) else {
            return;
        };
        let member = c.member.clone();
        let admitted = c.admitted;
        if !admitted && !matches!(msg, ClientMsg::Leave) {
            self.error(
                conn,
                ErrorCode::Forbidden,
                "waiting for a teacher to admit you",
                None,
            );
            return;
        }
        match msg {
            ClientMsg::Command { id, command } => {
                match self.room.apply(now_ms(), &member, &id, command) {
                    Ok(applied) => {
                        let remember = (!applied.duplicate)
                            .then(|| (member.clone(), aula_room::command_key(&id)));
                        self.commit_command(applied.events, None, remember).await;
                        self.send(
                            conn,
                            &ServerMsg::Ack {
                                id,
                                duplicate: applied.duplicate,
                            },
                        );
                    }
                    Err(e) => {
                        tracing::debug!(member = %member.0, code = e.code().as_str(), "command refused: {e}");
                        self.error(conn, e.code(), &e.to_string(), Some(id));
                    }
                }
            }
            ClientMsg::Offer { sdp, tracks } => self.on_offer(conn, member, sdp, tracks).await,
            ClientMsg::Answer { sdp } => {
                let Some(peer) = self.conns.get(&conn).and_then(|c| c.peer) else {
                    self.error(
                        conn,
                        ErrorCode::MediaRejected,
                        "no media session to answer for",
                        None,
                    );
                    return;
                };
                if let Err(e) = self.state.sfu.answer(peer, sdp).await {
                    tracing::info!(member = %member.0, "answer refused: {e}");
                    self.error(conn, ErrorCode::MediaRejected, &e.to_string(), None);
                }
            }
            ClientMsg::Leave => {
                let events = self.room.leave(now_ms(), &member);
                if let Some(mut c) = self.conns.remove(&conn) {
                    self.by_member.remove(&c.member);
                    self.close_peer(&mut c);
                }
                self.commit(events, None).await;
                self.end_session_if_empty();
            }
            ClientMsg::Hello { .. } => self.error(
                conn,
                ErrorCode::BadMessage,
                "hello was already received",
                None,
            ),
            // Answered by the connection task; never reaches the room.
            ClientMsg::Ping { .. } => {}
            ClientMsg::ViewSize { height } => {
                let Some(c) = self.conns.get_mut(&conn) else {
                    return;
                };
                c.view_height = Some(height);
                if let Some(peer) = c.peer {
                    self.state.sfu.set_view_height(peer, height).await;
                }
            }
        }
    }

    async fn on_offer(
        &mut self,
        conn: ConnId,
        member: MemberId,
        sdp: String,
        tracks: Vec<aula_proto::PublishedTrack>,
    ) {
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        let role = c.role;
        if role == Role::Observer && !tracks.is_empty() {
            self.error(
                conn,
                ErrorCode::Forbidden,
                "an observer may not publish",
                None,
            );
            return;
        }
        if let Some(old) = c.peer.take() {
            self.state.sfu.close(old).await;
            self.state.hub.forget_peer(old);
        }
        let peer = self.state.hub.next_peer_id();
        let spec = PeerSpec {
            peer,
            room: self.room.class_id().to_owned(),
            member: member.0.clone(),
            may_publish: role != Role::Observer,
            layer_heights: tracks
                .iter()
                .filter(|t| !t.layers.is_empty())
                .map(|t| {
                    let heights = t.layers.iter().map(|l| (l.rid.clone(), l.height));
                    (t.mid.clone(), heights.collect())
                })
                .collect(),
            view_height: c.view_height,
        };
        self.state.hub.remember_peer(peer, self.room.class_id());
        match self.state.sfu.open(spec, sdp).await {
            Ok(answer) => {
                if let Some(c) = self.conns.get_mut(&conn) {
                    c.peer = Some(peer);
                }
                self.send(conn, &ServerMsg::Answer { sdp: answer });
                let list: Vec<(String, aula_proto::TrackKind)> =
                    tracks.iter().map(|t| (t.mid.clone(), t.kind)).collect();
                match self.room.set_published_tracks(now_ms(), &member, &list) {
                    Ok(events) => {
                        self.track_mids.retain(|_, (p, _)| *p != peer);
                        for t in &tracks {
                            self.track_mids.insert(
                                aula_room::track_id(&member, &t.mid),
                                (peer, t.mid.clone()),
                            );
                        }
                        self.commit(events, None).await;
                    }
                    Err(e) => self.error(conn, e.code(), &e.to_string(), None),
                }
            }
            Err(e) => {
                self.state.hub.forget_peer(peer);
                tracing::info!(member = %member.0, "offer refused: {e}");
                self.error(conn, ErrorCode::MediaRejected, &e.to_string(), None);
            }
        }
    }

    async fn on_gone(&mut self, conn: ConnId) {
        let Some(mut c) = self.conns.remove(&conn) else {
            return;
        };
        if self.by_member.get(&c.member) == Some(&conn) {
            self.by_member.remove(&c.member);
        }
        self.close_peer(&mut c);
        let now = now_ms();
        let mut events = self
            .room
            .set_published_tracks(now, &c.member, &[])
            .unwrap_or_default();
        events.extend(self.room.disconnect(now, &c.member));
        self.commit(events, None).await;
        self.end_session_if_empty();
    }

    async fn on_sfu(&mut self, ev: SfuEvent) {
        match ev {
            SfuEvent::Offer { peer, sdp } => {
                if let Some(conn) = self.conn_of_peer(peer) {
                    self.send(conn, &ServerMsg::Offer { sdp });
                }
            }
            SfuEvent::Connected { .. } => {}
            SfuEvent::VideoPaused {
                peer,
                member,
                mid,
                paused,
            } => {
                if let Some(conn) = self.conn_of_peer(peer) {
                    let track = aula_room::track_id(&MemberId(member), &mid);
                    self.send(conn, &ServerMsg::VideoPaused { track, paused });
                }
            }
            SfuEvent::Closed { peer } => {
                self.state.hub.forget_peer(peer);
                let Some(conn) = self.conn_of_peer(peer) else {
                    return;
                };
                let Some(c) = self.conns.get_mut(&conn) else {
                    return;
                };
                c.peer = None;
                let member = c.member.clone();
                let events = self
                    .room
                    .set_published_tracks(now_ms(), &member, &[])
                    .unwrap_or_default();
                self.commit(events, None).await;
                // The client learns its media is gone and offers again.
                self.error(
                    conn,
                    ErrorCode::MediaRejected,
                    "the media connection was lost",
                    None,
                );
            }
        }
    }

    fn conn_of_peer(&self, peer: PeerId) -> Option<ConnId> {
        self.conns
            .iter()
            .find(|(_, c)| c.peer == Some(peer))
            .map(|(id, _)| *id)
    }

    fn close_peer(&mut self, c: &mut Conn) {
        if let Some(peer) = c.peer.take() {
            let sfu = self.state.sfu.clone();
            self.state.hub.forget_peer(peer);
            self.track_mids.retain(|_, (p, _)| *p != peer);
            tokio::spawn(async move { sfu.close(peer).await });
        }
    }

    fn end_session_if_empty(&mut self) {
        if self.conns.is_empty()
            && let Some(id) = self.session.take()
            && let Err(e) = self.state.storage.end_session(id, now_ms())
        {
            tracing::warn!("ending session: {e}");
        }
    }

    /// Stores, fans out, then acts on events the room produced.
    async fn commit(&mut self, events: Vec<SequencedEvent>, except: Option<ConnId>) {
        self.commit_command(events, except, None).await;
    }

    /// As `commit`, for the events of a member's command, stored with the command's id
    /// so that a retry after a restart is recognised (even a command that changed
    /// nothing is remembered: applied again later, it might).
    async fn commit_command(
        &mut self,
        events: Vec<SequencedEvent>,
        except: Option<ConnId>,
        command: Option<(MemberId, aula_room::CommandKey)>,
    ) {
        if let Some((member, key)) = &command {
            if let Err(e) =
                self.state
                    .storage
                    .append_command(self.room.class_id(), &events, member, *key)
            {
                self.state.metrics.storage_errors.fetch_add(1, Relaxed);
                tracing::error!(
                    class = self.room.class_id(),
                    "storing a command failed: {e}"
                );
            }
        } else if !events.is_empty() {
            self.persist(&events);
        }
        if events.is_empty() {
            return;
        }
        self.fan_out(&events, except);
        self.effects(&events).await;
        self.check_attendance();
        self.checkpoint_if_due();
    }

    fn checkpoint_if_due(&mut self) {
        let every = self.state.cfg.checkpoint_every_events.max(1);
        if self.room.last_seq().0.saturating_sub(self.checkpointed.0) >= every {
            self.checkpoint();
        }
    }

    /// Stores the room's state as of its last event. It runs on the room's task, between
    /// commands, so the state and its seq agree; its cost is in BENCHMARKS.md.
    fn checkpoint(&mut self) {
        let seq = self.room.last_seq();
        if seq <= self.checkpointed {
            return;
        }
        let stored = self
            .room
            .checkpoint()
            .map_err(|e| e.to_string())
            .and_then(|body| {
                self.state
                    .storage
                    .put_checkpoint(
                        self.room.class_id(),
                        seq,
                        now_ms(),
                        &body,
                        aula_room::dedup::PER_MEMBER,
                    )
                    .map_err(|e| e.to_string())
            });
        match stored {
            Ok(()) => self.checkpointed = seq,
            Err(e) => {
                // The log is still whole; the next load replays more of it.
                self.state.metrics.storage_errors.fetch_add(1, Relaxed);
                tracing::error!(
                    class = self.room.class_id(),
                    "storing a checkpoint failed: {e}"
                );
                // Not again for another round of events.
                self.checkpointed = seq;
            }
        }
    }

    /// When a session has just closed, measures each roster student's attendance across
    /// the class's sessions against the class's threshold and queues a mail for each who
    /// has just fallen below it. Storage decides "just" (once per fall), so running this
    /// again for the same session, or after a restart, mails no one twice.
    fn check_attendance(&mut self) {
        let Some(last) = self.room.sessions().last() else {
            return;
        };
        let Some(ended) = last.ended_at_ms else {
            return;
        };
        let this = (last.started_at_ms, ended);
        if self.alerts_checked == Some(this) {
            return;
        }
        self.alerts_checked = Some(this);
        if let Err(e) = self.queue_alerts(this.0) {
            self.state.metrics.storage_errors.fetch_add(1, Relaxed);
            tracing::error!(
                class = self.room.class_id(),
                "checking attendance alerts: {e}"
            );
        }
    }

    fn queue_alerts(&self, session_start: u64) -> Result<(), crate::storage::StorageError> {
        let storage = &self.state.storage;
        let class_id = self.room.class_id();
        let Some(threshold) = storage.attendance_threshold(class_id)? else {
            return Ok(());
        };
        let roster = storage.roster(class_id)?;
        if roster.is_empty() {
            return Ok(());
        }
        let title = storage
            .class(class_id)?
            .map_or_else(|| class_id.to_owned(), |c| c.title);
        let now = now_ms();
        let reports: Vec<_> = self
            .room
            .session_reports(now)
            .into_iter()
            .filter(|r| r.ended_at_ms.is_some())
            .collect();
        let ids: Vec<MemberId> = roster
            .iter()
            .map(|e| MemberId(e.member_id.clone()))
            .collect();
        let rates = aula_room::summary::attendance_rates(&reports, &ids, now);
        let standings: Vec<crate::storage::AlertStanding> = roster
            .iter()
            .map(|e| {
                let rate = rates.get(&MemberId(e.member_id.clone())).copied().unwrap_or(1.0);
                let pct = (rate * 100.0).round() as u32;
                let below = rate * 100.0 < f64::from(threshold);
                crate::storage::AlertStanding {
                    member_id: e.member_id.clone(),
                    below,
                    mail: e.email.clone().map(|to| {
                        (
                            to,
                            format!("Attendance alert: {} in {title}", e.name),
                            format!(
                                "{} has attended {pct}% of the time of the {} session(s) of \"{title}\" so far, below the class's threshold of {threshold}%.\n\nThis message was sent once by Aula when the attendance fell below the threshold; you will hear again only if it rises above and falls below again.\n",
                                e.name,
                                reports.len()
                            ),
                        )
                    }),
                    key: format!("attendance/{class_id}/{}/{session_start}", e.member_id),
                }
            })
            .collect();
        if storage.queue_attendance_alerts(class_id, &standings, now)? > 0 {
            self.state.mail_wake.notify_one();
        }
        Ok(())
    }

    fn persist(&self, events: &[SequencedEvent]) {
        if let Err(e) = self
            .state
            .storage
            .append_events(self.room.class_id(), events)
        {
            // The room goes on from memory; clients still get every event.
            self.state.metrics.storage_errors.fetch_add(1, Relaxed);
            tracing::error!(class = self.room.class_id(), "storing events failed: {e}");
        }
    }

    fn fan_out(&mut self, events: &[SequencedEvent], except: Option<ConnId>) {
        for ev in events {
            // Encoded once for everyone; only an event some members see differently
            // (private chat, quiz answers, unrevealed right answers) is encoded again.
            let frame = encode(&ServerMsg::Event(ev.clone()));
            let mut redacted: Option<Utf8Bytes> = None;
            let targets: Vec<(ConnId, Seen)> = self
                .conns
                .iter()
                .filter(|(id, c)| c.admitted && c.catch_up.is_none() && Some(**id) != except)
                .map(|(id, c)| (*id, ev.event.seen_by(&c.member, c.role)))
                .collect();
            for (id, seen) in targets {
                let f = match seen {
                    Seen::Same => frame.clone(),
                    Seen::Hidden => redacted
                        .get_or_insert_with(|| {
                            encode(&ServerMsg::Event(SequencedEvent {
                                seq: ev.seq,
                                at_ms: ev.at_ms,
                                event: RoomEvent::Redacted,
                            }))
                        })
                        .clone(),
                    Seen::Changed(event) => encode(&ServerMsg::Event(SequencedEvent {
                        seq: ev.seq,
                        at_ms: ev.at_ms,
                        event,
                    })),
                };
                self.push(id, Outbound::Frame(f));
            }
        }
    }

    async fn effects(&mut self, events: &[SequencedEvent]) {
        for ev in events {
            match &ev.event {
                RoomEvent::TrackStateChanged { track, enabled, .. } => {
                    if let Some((peer, mid)) = self.track_mids.get(track).cloned() {
                        self.state.sfu.set_track_enabled(peer, mid, *enabled).await;
                    }
                }
                RoomEvent::TrackUnpublished { track } => {
                    self.track_mids.remove(track);
                }
                RoomEvent::MemberLeft { member, reason } => {
                    if matches!(reason, LeaveReason::Removed) {
                        self.revoke_removed(member);
                    }
                    let Some(conn) = self.by_member.remove(member) else {
                        continue;
                    };
                    let Some(mut c) = self.conns.remove(&conn) else {
                        continue;
                    };
                    self.close_peer(&mut c);
                    let (code, why) = match reason {
                        LeaveReason::Removed => {
                            (ErrorCode::Removed, "a teacher removed you from the class")
                        }
                        LeaveReason::TimedOut | LeaveReason::Left => continue,
                    };
                    if let Some(k) = c.kill.take() {
                        let _ = k.send((code, why.into()));
                    }
                }
                RoomEvent::WaitingResolved { member, admitted } => {
                    let Some(conn) = self.by_member.get(member).copied() else {
                        continue;
                    };
                    if *admitted {
                        if let Some(c) = self.conns.get_mut(&conn) {
                            c.admitted = true;
                        }
                        self.welcome(conn, None);
                    } else if let Some(mut c) = self.conns.remove(&conn) {
                        self.by_member.remove(member);
                        if let Some(k) = c.kill.take() {
                            let _ =
                                k.send((ErrorCode::Denied, "a teacher did not let you in".into()));
                        }
                    }
                }
                _ => {}
            }
        }
        self.end_session_if_empty();
    }

    /// A removed member's tokens stop working everywhere (REST too), and an open-link
    /// member is banned from coming back through the link (see `access.rs`).
    fn revoke_removed(&self, member: &MemberId) {
        let class = self.room.class_id();
        if let Err(e) = self.state.access.removed_in_room(
            self.state.storage.as_ref(),
            class,
            &member.0,
            now_ms(),
        ) {
            self.state.metrics.storage_errors.fetch_add(1, Relaxed);
            tracing::error!(class, "revoking a removed member's tokens: {e}");
        }
    }

    fn error(
        &mut self,
        conn: ConnId,
        code: ErrorCode,
        message: &str,
        id: Option<aula_proto::CommandId>,
    ) {
        self.state.metrics.count_error(code);
        self.send(
            conn,
            &ServerMsg::Error {
                code,
                message: message.to_owned(),
                id,
            },
        );
    }

    fn send(&mut self, conn: ConnId, msg: &ServerMsg) {
        self.push(conn, Outbound::Frame(encode(msg)));
    }

    /// Never waits: a connection whose queue is full is closed and catches up from the
    /// event log when it reconnects, so one slow client never holds the room back.
    fn push(&mut self, conn: ConnId, out: Outbound) {
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        // Counted and logged once per connection: frames pushed after the kill (until the
        // connection task is gone) are dropped quietly.
        if c.out.try_send(out).is_err()
            && let Some(k) = c.kill.take()
        {
            self.state.metrics.lagging_disconnects.fetch_add(1, Relaxed);
            tracing::info!(member = %c.member.0, "outbound queue full; closing the connection");
            let _ = k.send((
                ErrorCode::RateLimited,
                "too far behind; reconnect to catch up".into(),
            ));
        }
    }
}

pub fn encode(msg: &ServerMsg) -> Utf8Bytes {
    // ServerMsg holds only strings, numbers and enums: serialising cannot fail.
    Utf8Bytes::from(serde_json::to_string(msg).unwrap_or_default())
}
