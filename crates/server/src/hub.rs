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
    rooms: Mutex<HashMap<String, mpsc::Sender<RoomMsg>>>,
    peers: Mutex<HashMap<PeerId, String>>,
    next_peer: AtomicU64,
    next_conn: AtomicU64,
}

impl Hub {
    pub fn room(&self, state: &Arc<AppState>, class_id: &str) -> mpsc::Sender<RoomMsg> {
        let mut rooms = self.rooms.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(tx) = rooms.get(class_id).filter(|tx| !tx.is_closed()) {
            return tx.clone();
        }
        let tx = room_actor::spawn(state.clone(), class_id.to_owned());
        rooms.insert(class_id.to_owned(), tx.clone());
        state.metrics.rooms.store(rooms.len() as u64, Relaxed);
        tx
    }

    pub fn all_rooms(&self) -> Vec<mpsc::Sender<RoomMsg>> {
        self.rooms
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .cloned()
            .collect()
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
