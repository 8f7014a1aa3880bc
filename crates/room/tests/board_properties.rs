//! Whiteboard and chat properties under any interleaving of members' commands.

use aula_proto::*;
use aula_room::*;
use proptest::prelude::*;

const MEMBERS: [&str; 3] = ["t", "a", "b"];

fn member(i: usize) -> MemberId {
    MemberId(MEMBERS[i].into())
}

#[derive(Debug, Clone)]
enum Op {
    /// Member, command.
    Do(usize, RoomCommand),
    Leave(usize),
}

fn arb_points(max: usize) -> impl Strategy<Value = Vec<i32>> {
    proptest::collection::vec((-50i32..50, -50i32..50, 0i32..4), 1..max).prop_map(|v| {
        v.into_iter()
            .flat_map(|(x, y, p)| [x + 500, y + 500, p])
            .collect()
    })
}

fn arb_deltas() -> impl Strategy<Value = Vec<i32>> {
    proptest::collection::vec((-20i32..20, -20i32..20), 0..6)
        .prop_map(|v| v.into_iter().flat_map(|(x, y)| [x, y, 0]).collect())
}

fn arb_op() -> impl Strategy<Value = Op> {
    let who = 0..MEMBERS.len();
    let n = 0u8..6;
    let item = (0..MEMBERS.len(), 0u8..6).prop_map(|(m, n)| ItemId(format!("{}/{n}", MEMBERS[m])));
    let page = prop_oneof![Just(PageId("p1".into())), Just(PageId("p2".into()))];
    let cmd = prop_oneof![
        3 => (n.clone(), page.clone(), arb_points(4), any::<bool>()).prop_map(|(n, page, points, hl)| (n, RoomCommand::StartStroke {
            item: ItemId(format!("?/{n}")), page, tool: if hl { Tool::Highlighter } else { Tool::Pen }, color: 0x3366ff, width: 4, points })),
        3 => (n.clone(), arb_deltas()).prop_map(|(n, points)| (n, RoomCommand::AppendStroke { item: ItemId(format!("?/{n}")), points })),
        2 => n.clone().prop_map(|n| (n, RoomCommand::EndStroke { item: ItemId(format!("?/{n}")) })),
        2 => (n.clone(), page.clone(), arb_points(3)).prop_map(|(n, page, mut points)| {
            points.truncate(6);
            while points.len() < 6 { points.push(0); }
            (n, RoomCommand::PlaceItem { item: ItemId(format!("?/{n}")), page, tool: Tool::Rect, color: 0, width: 2, points, text: None })
        }),
        2 => proptest::collection::vec(item.clone(), 1..3).prop_map(|items| (0, RoomCommand::EraseItems { items })),
        1 => (page.clone(), arb_points(3)).prop_map(|(page, pts)| {
            let path = pts.chunks(3).flat_map(|c| [c[0], c[1]]).collect();
            (0, RoomCommand::EraseArea { page, path, radius: 20 })
        }),
        2 => (proptest::collection::vec(item, 1..3), -30i32..30, -30i32..30).prop_map(|(items, dx, dy)| (0, RoomCommand::MoveItems { items, dx, dy })),
        3 => Just((0, RoomCommand::Undo)),
        2 => Just((0, RoomCommand::Redo)),
        1 => page.clone().prop_map(|page| (0, RoomCommand::ClearPage { page })),
        1 => Just((0, RoomCommand::AddPage { page: PageId("p2".into()), index: Some(0) })),
        1 => page.prop_map(|page| (0, RoomCommand::ShowPage { page })),
        1 => prop_oneof![Just(DrawPolicy::Everyone), Just(DrawPolicy::TeachersOnly), Just(DrawPolicy::Chosen)]
            .prop_map(|draw| (0, RoomCommand::SetDrawPolicy { draw, allowed: vec![MemberId("a".into())] })),
        1 => (0u8..3).prop_map(|k| (0, RoomCommand::SendChat { text: format!("m{k}"), private_with: if k == 0 { Some(MemberId("a".into())) } else { None } })),
        1 => Just((0, RoomCommand::RaiseHand)),
        1 => Just((0, RoomCommand::LowerAllHands)),
    ];
    prop_oneof![
        20 => (who.clone(), cmd).prop_map(|(w, (_, c))| Op::Do(w, own_ids(w, c))),
        1 => who.prop_map(Op::Leave),
    ]
}

/// Commands name items as `?/<n>`; a member uses its own prefix.
fn own_ids(w: usize, c: RoomCommand) -> RoomCommand {
    let fix = |i: ItemId| ItemId(i.0.replace('?', MEMBERS[w]));
    match c {
        RoomCommand::StartStroke {
            item,
            page,
            tool,
            color,
            width,
            points,
        } => RoomCommand::StartStroke {
            item: fix(item),
            page,
            tool,
            color,
            width,
            points,
        },
        RoomCommand::AppendStroke { item, points } => RoomCommand::AppendStroke {
            item: fix(item),
            points,
        },
        RoomCommand::EndStroke { item } => RoomCommand::EndStroke { item: fix(item) },
        RoomCommand::PlaceItem {
            item,
            page,
            tool,
            color,
            width,
            points,
            text,
        } => RoomCommand::PlaceItem {
            item: fix(item),
            page,
            tool,
            color,
            width,
            points,
            text,
        },
        other => other,
    }
}

fn class() -> Room {
    let mut room = Room::new("c");
    for (i, m) in MEMBERS.iter().enumerate() {
        let role = if i == 0 { Role::Teacher } else { Role::Student };
        room.join(
            0,
            Identity {
                id: member(i),
                name: (*m).into(),
                role,
                owner: false,
            },
        )
        .unwrap();
    }
    room
}

fn run(room: &mut Room, ops: &[Op], from: usize) -> Vec<SequencedEvent> {
    let mut out = Vec::new();
    for (k, op) in ops.iter().enumerate() {
        let now = 1_000 + (from + k) as u64 * 400;
        match op {
            Op::Do(w, c) => {
                if let Ok(a) = room.apply(
                    now,
                    &member(*w),
                    &CommandId(format!("{}", from + k)),
                    c.clone(),
                ) {
                    out.extend(a.events);
                }
            }
            Op::Leave(w) => out.extend(room.leave(now, &member(*w))),
        }
    }
    out
}

fn closed(mut b: BoardSnapshot) -> BoardSnapshot {
    for p in &mut b.pages {
        for i in &mut p.items {
            i.open = false;
        }
    }
    b
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// A board (and chat, hands) rebuilt from the stored log equals the live one.
    #[test]
    fn restoring_the_log_rebuilds_the_board(ops in proptest::collection::vec(arb_op(), 0..120)) {
        let mut room = class();
        run(&mut room, &ops, 0);
        let log = room.events_since(Seq(0)).unwrap();
        let restored = Room::restore("c", log, [], 1_000_000).unwrap();
        let (a, b) = (room.snapshot(), restored.snapshot());
        prop_assert_eq!(a.board, b.board);
        prop_assert_eq!(a.chat, b.chat);
        prop_assert_eq!(a.hands, b.hands);
    }

    /// A board restored from a checkpoint at any cut plus the events after it is the one
    /// a whole replay builds, undo and redo stacks and the graveyard included: an undo
    /// after the restore erases or restores the same items either way.
    #[test]
    fn a_checkpoint_at_any_cut_restores_the_board(ops in proptest::collection::vec(arb_op(), 0..120), cut in 0usize..120, who in 0usize..3) {
        let cut = cut.min(ops.len());
        let mut room = class();
        run(&mut room, &ops[..cut], 0);
        let checkpoint = room.checkpoint().unwrap();
        let at = room.last_seq();
        run(&mut room, &ops[cut..], cut);
        let whole = room.events_since(Seq(0)).unwrap();
        let tail = room.events_since(at).unwrap();
        let mut replayed = Room::restore("c", whole, [], 1_000_000).unwrap();
        let mut resumed = Room::restore_from_checkpoint("c", &checkpoint, tail, [], 1_000_000).unwrap();
        prop_assert_eq!(resumed.checkpoint().unwrap(), replayed.checkpoint().unwrap());
        let undo = |r: &mut Room| r.apply(1_000_001, &member(who), &CommandId("u".into()), RoomCommand::Undo).map(|a| a.events);
        prop_assert_eq!(undo(&mut resumed), undo(&mut replayed));
    }

    /// A replica from any snapshot, fed the events after it, holds the same board.
    #[test]
    fn replica_board_follows_from_any_cut(ops in proptest::collection::vec(arb_op(), 0..120), cut in 0usize..120) {
        let cut = cut.min(ops.len());
        let mut room = class();
        run(&mut room, &ops[..cut], 0);
        let mut replica = Room::from_snapshot(&room.snapshot());
        let evs = run(&mut room, &ops[cut..], cut);
        for ev in &evs {
            replica.apply_sequenced(ev).unwrap();
        }
        prop_assert_eq!(replica.snapshot(), room.snapshot());
    }

    /// Rules that hold whatever happens: ids carry their author, stacking is by creation,
    /// students' drawings exist only under a policy that let them draw, every page the
    /// board lists exists once, and nothing grows past its limits.
    #[test]
    fn board_invariants_hold(ops in proptest::collection::vec(arb_op(), 0..150)) {
        let mut room = class();
        let evs = run(&mut room, &ops, 0);
        let board = room.snapshot().board;
        let mut ids = std::collections::BTreeSet::new();
        for p in &board.pages {
            prop_assert!(p.items.windows(2).all(|w| w[0].z < w[1].z));
            for i in &p.items {
                let prefix = format!("{}/", i.author.0);
                prop_assert!(i.id.0.starts_with(&prefix), "{:?} is not {:?}'s", i.id, i.author);
                prop_assert_eq!(&i.page, &p.info.id);
                prop_assert!(ids.insert(i.id.clone()), "an item is on one page once");
                prop_assert!(i.points.len() % 3 == 0 && i.points.len() / 3 <= MAX_STROKE_POINTS);
            }
        }
        let pages: std::collections::BTreeSet<_> = board.pages.iter().map(|p| p.info.id.clone()).collect();
        prop_assert_eq!(pages.len(), board.pages.len());
        prop_assert!(board.pages.len() <= MAX_PAGES);
        // A student's stroke starts only while the policy lets that student draw.
        let mut policy = (DrawPolicy::TeachersOnly, Vec::<MemberId>::new());
        for ev in &evs {
            match &ev.event {
                RoomEvent::DrawPolicyChanged { draw, allowed } => policy = (*draw, allowed.clone()),
                RoomEvent::StrokeStarted { item } | RoomEvent::ItemPlaced { item } if item.author != member(0) => {
                    let ok = policy.0 == DrawPolicy::Everyone || (policy.0 == DrawPolicy::Chosen && policy.1.contains(&item.author));
                    prop_assert!(ok, "{:?} drew under {:?}", item.author, policy);
                }
                RoomEvent::ItemsErased { by, .. } | RoomEvent::ItemsMoved { by, .. } if by != &member(0) => {
                    prop_assert!(policy.0 != DrawPolicy::TeachersOnly);
                }
                _ => {}
            }
        }
    }

    /// An undo followed at once by a redo from the same member leaves the board as it was
    /// (strokes it cut off stay closed).
    #[test]
    fn undo_then_redo_is_no_change(ops in proptest::collection::vec(arb_op(), 0..100), who in 0usize..3) {
        let mut room = class();
        run(&mut room, &ops, 0);
        let before = closed(room.snapshot().board);
        let now = 10_000_000;
        let undo = room.apply(now, &member(who), &CommandId("u".into()), RoomCommand::Undo);
        let redo = room.apply(now + 1, &member(who), &CommandId("r".into()), RoomCommand::Redo);
        // An undo with nothing to undo leaves the redo stack as it was, so only a real
        // undo is paired with the redo.
        if undo.is_ok_and(|a| !a.events.is_empty()) && redo.is_ok() {
            prop_assert_eq!(closed(room.snapshot().board), before);
        }
    }
}
