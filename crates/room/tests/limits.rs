//! Client numbers at the edges of `i32` never panic the room and never get past a limit,
//! and the work a client can make the room do is bounded.

use aula_proto::*;
use aula_room::*;
use proptest::prelude::*;

fn member(s: &str) -> MemberId {
    MemberId(s.into())
}

fn class() -> Room {
    let mut room = Room::new("c");
    for (id, role) in [("t", Role::Teacher), ("a", Role::Student)] {
        room.join(
            0,
            Identity {
                id: member(id),
                name: id.into(),
                role,
                owner: id == "t",
            },
        )
        .unwrap();
    }
    room.apply(
        1,
        &member("t"),
        &CommandId("policy".into()),
        RoomCommand::SetDrawPolicy {
            draw: DrawPolicy::Everyone,
            allowed: vec![],
        },
    )
    .unwrap();
    room
}

/// Numbers a hostile client would try: the ends of i32, the limit and one past it, and
/// anything at all.
fn edgy() -> impl Strategy<Value = i32> {
    prop_oneof![
        Just(i32::MIN),
        Just(i32::MIN + 1),
        Just(i32::MAX),
        Just(-1),
        Just(0),
        Just(COORD_LIMIT),
        Just(COORD_LIMIT + 1),
        Just(-COORD_LIMIT),
        Just(-COORD_LIMIT - 1),
        -COORD_LIMIT..=COORD_LIMIT,
        any::<i32>(),
    ]
}

fn triples(max: usize) -> impl Strategy<Value = Vec<i32>> {
    proptest::collection::vec((edgy(), edgy(), edgy()), 0..max)
        .prop_map(|v| v.into_iter().flat_map(|(x, y, p)| [x, y, p]).collect())
}

fn arb_command() -> impl Strategy<Value = (bool, RoomCommand)> {
    let n = 0u8..4;
    let cmd = prop_oneof![
        (n.clone(), triples(4)).prop_map(|(n, points)| RoomCommand::StartStroke {
            item: ItemId(format!("?/{n}")),
            page: PageId(FIRST_PAGE.into()),
            tool: Tool::Pen,
            color: 0,
            width: 3,
            points
        }),
        (n.clone(), triples(4)).prop_map(|(n, points)| RoomCommand::AppendStroke {
            item: ItemId(format!("?/{n}")),
            points
        }),
        (n.clone(), triples(3)).prop_map(|(n, points)| RoomCommand::PlaceItem {
            item: ItemId(format!("?/{n}")),
            page: PageId(FIRST_PAGE.into()),
            tool: Tool::Rect,
            color: 0,
            width: 2,
            points,
            text: None
        }),
        (proptest::collection::vec(n.clone(), 1..4), edgy(), edgy()).prop_map(|(ns, dx, dy)| {
            RoomCommand::MoveItems {
                items: ns.into_iter().map(|n| ItemId(format!("?/{n}"))).collect(),
                dx,
                dy,
            }
        }),
        (proptest::collection::vec(edgy(), 0..8), any::<u16>()).prop_map(|(path, radius)| {
            RoomCommand::EraseArea {
                page: PageId(FIRST_PAGE.into()),
                path,
                radius,
            }
        }),
        (edgy(), edgy(), any::<u16>()).prop_map(|(x, y, zoom)| RoomCommand::SetViewport {
            viewport: Viewport { x, y, zoom }
        }),
        Just(RoomCommand::Undo),
        Just(RoomCommand::Redo),
        n.prop_map(|n| RoomCommand::EndStroke {
            item: ItemId(format!("?/{n}"))
        }),
    ];
    (any::<bool>(), cmd)
}

fn own(who: &str, c: RoomCommand) -> RoomCommand {
    // Commands are generated with `?` for the author; serde swaps it for the member.
    let json = serde_json::to_string(&c)
        .unwrap()
        .replace("\"?/", &format!("\"{who}/"));
    serde_json::from_str(&json).unwrap()
}

fn on_board(v: i32) -> bool {
    (-COORD_LIMIT..=COORD_LIMIT).contains(&v)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Whatever numbers arrive, the room answers (applied or refused) without a panic,
    /// every point on the board stays within the limit, and the stored log rebuilds it.
    #[test]
    fn extreme_numbers_never_panic_or_pass_a_limit(cmds in proptest::collection::vec(arb_command(), 1..60)) {
        let mut room = class();
        for (k, (teacher, c)) in cmds.into_iter().enumerate() {
            let who = if teacher { "t" } else { "a" };
            let _ = room.apply(10 + k as u64, &member(who), &CommandId(format!("c{k}")), own(who, c));
        }
        let snap = room.snapshot();
        for page in &snap.board.pages {
            for item in &page.items {
                for (x, y, p) in geometry::decode(&item.points) {
                    prop_assert!(on_board(x) && on_board(y), "{:?} left the board at ({x}, {y})", item.id);
                    prop_assert!((0..=255).contains(&p));
                }
            }
        }
        let v = snap.board.viewport;
        prop_assert!(on_board(v.x) && on_board(v.y) && (10..=1000).contains(&v.zoom));
        let restored = Room::restore("c", room.events_since(Seq(0)).unwrap(), [], 1_000_000).unwrap();
        prop_assert_eq!(restored.snapshot().board, snap.board);
    }
}

#[test]
fn i32_min_is_refused_not_negated() {
    let mut room = class();
    for (k, points) in [
        vec![i32::MIN, 0, 0],
        vec![0, i32::MIN, 0],
        vec![i32::MAX, i32::MAX, 0],
    ]
    .into_iter()
    .enumerate()
    {
        let r = room.apply(
            5,
            &member("a"),
            &CommandId(format!("min{k}")),
            RoomCommand::StartStroke {
                item: ItemId(format!("a/{k}")),
                page: PageId(FIRST_PAGE.into()),
                tool: Tool::Pen,
                color: 0,
                width: 2,
                points,
            },
        );
        assert_eq!(r.unwrap_err().code(), ErrorCode::InvalidCommand);
    }
    let r = room.apply(
        6,
        &member("t"),
        &CommandId("vp".into()),
        RoomCommand::SetViewport {
            viewport: Viewport {
                x: i32::MIN,
                y: 0,
                zoom: 100,
            },
        },
    );
    assert_eq!(r.unwrap_err().code(), ErrorCode::InvalidCommand);
    let r = room.apply(
        7,
        &member("t"),
        &CommandId("erase".into()),
        RoomCommand::EraseArea {
            page: PageId(FIRST_PAGE.into()),
            path: vec![i32::MIN, 0],
            radius: 5,
        },
    );
    assert_eq!(r.unwrap_err().code(), ErrorCode::InvalidCommand);
}

#[test]
fn repeated_moves_cannot_walk_an_item_off_the_board() {
    let mut room = class();
    room.apply(
        5,
        &member("a"),
        &CommandId("place".into()),
        RoomCommand::PlaceItem {
            item: ItemId("a/1".into()),
            page: PageId(FIRST_PAGE.into()),
            tool: Tool::Rect,
            color: 0,
            width: 2,
            points: vec![0, 0, 0, 10, 10, 0],
            text: None,
        },
    )
    .unwrap();
    let mut refused = 0;
    for k in 0..10 {
        let r = room.apply(
            6 + k,
            &member("a"),
            &CommandId(format!("m{k}")),
            RoomCommand::MoveItems {
                items: vec![ItemId("a/1".into())],
                dx: COORD_LIMIT,
                dy: 0,
            },
        );
        if r.is_err() {
            refused += 1;
        }
    }
    assert!(refused >= 9, "only the first move fits");
    let item = room.board().item(&ItemId("a/1".into())).unwrap().clone();
    assert!(
        geometry::decode(&item.points)
            .iter()
            .all(|p| on_board(p.0) && on_board(p.1))
    );
    // Undoing and redoing keep it on the board too.
    for k in 0..4 {
        let c = if k % 2 == 0 {
            RoomCommand::Undo
        } else {
            RoomCommand::Redo
        };
        let _ = room.apply(20 + k, &member("a"), &CommandId(format!("u{k}")), c);
        // An undo may take the item away (its placement); while there, it is on the board.
        if let Some(item) = room.board().item(&ItemId("a/1".into())) {
            assert!(
                geometry::decode(&item.points)
                    .iter()
                    .all(|p| on_board(p.0) && on_board(p.1))
            );
        }
    }
}

/// Fills page 1 with `strokes` strokes of `MAX_STROKE_POINTS` points each, shaped by
/// `dy(k)` (the y step of point k), row `s` starting at y = 40 s.
fn fill(room: &mut Room, strokes: i32, dy: impl Fn(usize) -> i32) {
    for s in 0..strokes {
        let item = ItemId(format!("a/{s}"));
        let steps = |from: usize, n: usize| -> Vec<i32> {
            (from..from + n).flat_map(|k| [4, dy(k), 0]).collect()
        };
        let mut first = vec![0, s * 40, 0];
        first.extend(steps(1, MAX_BATCH_POINTS - 1));
        let cmd = |n: String, c| (CommandId(n), c);
        let (id, c) = cmd(
            format!("s{s}"),
            RoomCommand::StartStroke {
                item: item.clone(),
                page: PageId(FIRST_PAGE.into()),
                tool: Tool::Pen,
                color: 0,
                width: 1,
                points: first,
            },
        );
        room.apply(10, &member("a"), &id, c).unwrap();
        for b in 1..MAX_STROKE_POINTS / MAX_BATCH_POINTS {
            let c = RoomCommand::AppendStroke {
                item: item.clone(),
                points: steps(b * MAX_BATCH_POINTS, MAX_BATCH_POINTS),
            };
            room.apply(11, &member("a"), &CommandId(format!("s{s}b{b}")), c)
                .unwrap();
        }
        let end = RoomCommand::EndStroke { item };
        room.apply(12, &member("a"), &CommandId(format!("s{s}end")), end)
            .unwrap();
    }
}

/// The attack run's eraser: long zigzag strokes and a 512-point path running beside
/// them. The work is bounded: it is answered (here, by what it erased) or refused, and
/// never costs more than `MAX_ERASE_WORK` steps.
#[test]
fn the_attack_eraser_is_answered_within_its_budget() {
    let mut room = class();
    fill(&mut room, 5, |k| if k % 2 == 0 { 30 } else { -30 });
    let path: Vec<i32> = (0..512).flat_map(|k| [k * 150, 215]).collect();
    let r = room.apply(
        20,
        &member("t"),
        &CommandId("erase".into()),
        RoomCommand::EraseArea {
            page: PageId(FIRST_PAGE.into()),
            path,
            radius: 1,
        },
    );
    match r {
        Ok(a) => assert!(a.events.is_empty(), "the path touches nothing"),
        Err(e) => assert_eq!(e.code(), ErrorCode::LimitExceeded),
    }
    // An ordinary stroke of the eraser over the same page works.
    let r = room
        .apply(
            21,
            &member("t"),
            &CommandId("erase2".into()),
            RoomCommand::EraseArea {
                page: PageId(FIRST_PAGE.into()),
                path: vec![2, -100, 2, 400],
                radius: 4,
            },
        )
        .unwrap();
    assert!(!r.events.is_empty());
}

/// An eraser whose path passes over more outline than the budget allows is refused,
/// not computed: here every stroke of a full board lies under its box.
#[test]
fn an_eraser_over_the_whole_full_board_is_refused() {
    let mut room = class();
    let strokes = (MAX_BOARD_POINTS / MAX_STROKE_POINTS) as i32;
    assert!(strokes as u64 * MAX_STROKE_POINTS as u64 >= MAX_ERASE_WORK);
    fill(&mut room, strokes, |_| 0);
    let path = vec![-10, -10, 90_000, 40 * strokes + 10];
    let r = room.apply(
        20,
        &member("t"),
        &CommandId("erase".into()),
        RoomCommand::EraseArea {
            page: PageId(FIRST_PAGE.into()),
            path,
            radius: 1,
        },
    );
    assert_eq!(r.unwrap_err().code(), ErrorCode::LimitExceeded);
}

#[test]
fn the_board_has_a_budget_of_points() {
    let mut room = class();
    let mut k = 0u64;
    let mut full = None;
    'outer: for s in 0..(MAX_BOARD_POINTS / MAX_STROKE_POINTS + 2) {
        let item = ItemId(format!("t/{s}"));
        k += 1;
        if let Err(e) = room.apply(
            k,
            &member("t"),
            &CommandId(format!("s{s}")),
            RoomCommand::StartStroke {
                item: item.clone(),
                page: PageId(FIRST_PAGE.into()),
                tool: Tool::Pen,
                color: 0,
                width: 1,
                points: vec![0, 0, 0],
            },
        ) {
            full = Some(e);
            break;
        }
        for b in 0..(MAX_STROKE_POINTS / MAX_BATCH_POINTS) {
            k += 1;
            let n = if b == 0 {
                MAX_BATCH_POINTS - 1
            } else {
                MAX_BATCH_POINTS
            };
            if let Err(e) = room.apply(
                k,
                &member("t"),
                &CommandId(format!("s{s}b{b}")),
                RoomCommand::AppendStroke {
                    item: item.clone(),
                    points: [0, 0, 0].repeat(n),
                },
            ) {
                full = Some(e);
                break 'outer;
            }
        }
        room.apply(
            k,
            &member("t"),
            &CommandId(format!("e{s}")),
            RoomCommand::EndStroke { item },
        )
        .unwrap();
    }
    let full = full.expect("the board filled up");
    assert_eq!(full.code(), ErrorCode::LimitExceeded);
    let total: usize = room
        .snapshot()
        .board
        .pages
        .iter()
        .flat_map(|p| &p.items)
        .map(|i| i.points.len() / 3)
        .sum();
    assert!(total <= MAX_BOARD_POINTS);
}
