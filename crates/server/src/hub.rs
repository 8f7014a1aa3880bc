//! Finds or starts the actor of a class, and routes SFU events to it.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use aula_sfu::PeerId;
use tokio::sync::mpsc;

use crate::AppState;
use crate::room_actor::{self, RoomMsg};

#[derive(Default)]
pub struct Hub {
    /// class id → (actor id, its queue). The actor id tells a retiring actor apart from
    /// a newer one for the same class.
    rooms: Mutex<HashMap<String, (u64, mpsc::Sender<RoomMsg>)>>,
    peers: Mutex<HashMap<PeerId, String>>,
    next_room: AtomicU64,
    next_peer: AtomicU64,
    next_conn: AtomicU64,
}

impl Hub {
    pub fn room(&self, state: &Arc<AppState>, class_id: &str) -> mpsc::Sender<RoomMsg> {
        let mut rooms = self.rooms.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((_, tx)) = rooms.get(class_id).filter(|(_, tx)| !tx.is_closed()) {
            return tx.clone();
        }
        let id = self.next_room.fetch_add(1, Relaxed) + 1;
        let tx = room_actor::spawn(state.clone(), class_id.to_owned(), id);
        rooms.insert(class_id.to_owned(), (id, tx.clone()));
        state.metrics.rooms.store(rooms.len() as u64, Relaxed);
        tx
    }

    /// An idle room actor leaves the map, so the next join starts a fresh one from
    /// storage. Refused when messages are already queued for it.
    pub fn retire(
        &self,
        state: &AppState,
        class_id: &str,
        id: u64,
        rx: &mpsc::Receiver<RoomMsg>,
    ) -> bool {
        let mut rooms = self.rooms.lock().unwrap_or_else(|p| p.into_inner());
        let ours = rooms.get(class_id).is_some_and(|(rid, _)| *rid == id);
        if !ours || !rx.is_empty() {
            return false;
        }
        rooms.remove(class_id);
        state.metrics.rooms.store(rooms.len() as u64, Relaxed);
        true
    }

    pub fn all_rooms(&self) -> Vec<mpsc::Sender<RoomMsg>> {
        self.rooms
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .map(|(_, tx)| tx.clone())
            .collect()
    }

    /// Every room, taken out of the map (the server is stopping).
    pub fn take_rooms(&self) -> Vec<mpsc::Sender<RoomMsg>> {
        let mut rooms = self.rooms.lock().unwrap_or_else(|p| p.into_inner());
        rooms.drain().map(|(_, (_, tx))| tx).collect()
    }

    pub fn next_peer_id(&self) -> PeerId {
        self.next_peer.fetch_add(1, Relaxed) + 1
    }

    pub fn next_conn_id(&self) -> u64 {
        self.next_conn.fetch_add(1, Relaxed) + 1
    }

    pub fn remember_peer(&self, peer: PeerId, class_id: &str) {
        self.peers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(peer, class_id.to_owned());
    }

    pub fn forget_peer(&self, peer: PeerId) {
        self.peers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&peer);
    }

    pub fn class_of_peer(&self, peer: PeerId) -> Option<String> {
        self.peers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&peer)
            .cloned()
    }
}
