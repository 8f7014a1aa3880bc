#![no_main]
//! Sequences of commands, decoded the way the server decodes a client's frames, applied
//! to a room by a teacher and two students. Whatever arrives: no panic, every limit
//! holds, and the stored log rebuilds the same room.

use aula_proto::{ClientMsg, CommandId, MemberId, Role, Seq, decode_client};
use aula_room::{COORD_LIMIT, Identity, MAX_BOARD_POINTS, MAX_ITEMS_PER_PAGE, MAX_PAGES, Room, geometry};
use libfuzzer_sys::fuzz_target;

const MEMBERS: [(&str, Role); 3] = [
    ("t", Role::Teacher),
    ("a", Role::Student),
    ("b", Role::Student),
];

fn on_board(v: i32) -> bool {
    (-COORD_LIMIT..=COORD_LIMIT).contains(&v)
}

fuzz_target!(|data: &[u8]| {
    let mut room = Room::new("fuzz");
    for (id, role) in MEMBERS {
        let who = Identity {
            id: MemberId(id.into()),
            name: id.into(),
            role,
            owner: role == Role::Teacher,
        };
        let _ = room.join(0, who);
    }
    // One frame per line; the first byte of a line picks the member, the second moves
    // the clock.
    let mut now = 1_000u64;
    let lines = data.split(|b| *b == b'\n').count().min(200);
    let mut checkpoint = None;
    for (k, line) in data.split(|b| *b == b'\n').enumerate().take(200) {
        let [who, tick, frame @ ..] = line else {
            continue;
        };
        if k == lines / 2 {
            checkpoint = Some((room.last_seq(), room.checkpoint().expect("a room encodes")));
        }
        now += u64::from(*tick) * 50;
        let (member, _) = MEMBERS[usize::from(*who) % MEMBERS.len()];
        let member = MemberId(member.into());
        if let Ok(ClientMsg::Command { id, command }) = decode_client(frame) {
            let first = room.apply(now, &member, &id, command.clone());
            // A retry changes nothing and answers the same.
            let seq = room.last_seq();
            let again = room.apply(now, &member, &id, command);
            assert_eq!(room.last_seq(), seq, "a retry applied again");
            assert_eq!(first.is_ok(), again.is_ok());
        } else {
            let _ = room.apply(now, &member, &CommandId(format!("n{k}")), aula_proto::RoomCommand::Undo);
        }
    }
    let snap = room.snapshot();
    let mut points = 0usize;
    for page in &snap.board.pages {
        assert!(page.items.len() <= MAX_ITEMS_PER_PAGE);
        for item in &page.items {
            points += item.points.len() / 3;
            for (x, y, p) in geometry::decode(&item.points) {
                assert!(on_board(x) && on_board(y), "{:?} left the board", item.id);
                assert!((0..=255).contains(&p));
            }
        }
    }
    assert!(points <= MAX_BOARD_POINTS);
    assert!(snap.board.pages.len() <= MAX_PAGES);
    let log = room.events_since(Seq(0)).expect("the whole log is in memory");
    let rebuilt = Room::restore("fuzz", log, [], now).expect("the log replays");
    let again = rebuilt.snapshot();
    assert_eq!(again.board, snap.board);
    assert_eq!(again.chat, snap.chat);
    assert_eq!(again.quizzes, snap.quizzes);
    // A checkpoint from halfway plus the rest of the log is the same room.
    if let Some((at, bytes)) = checkpoint {
        let tail = room.events_since(at).expect("the tail is in memory");
        let resumed = Room::restore_from_checkpoint("fuzz", &bytes, tail, [], now)
            .expect("the checkpoint restores");
        assert_eq!(resumed.snapshot(), again);
    }
});
