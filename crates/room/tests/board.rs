//! Whiteboard, chat, hands and presence rules.

use aula_proto::*;
use aula_room::*;

fn id(s: &str) -> MemberId {
    MemberId(s.into())
}
fn item(s: &str) -> ItemId {
    ItemId(s.into())
}
fn page() -> PageId {
    PageId(FIRST_PAGE.into())
}

struct Class {
    room: Room,
    n: u64,
    now: u64,
}

impl Class {
    fn new() -> Self {
        let mut room = Room::new("c1");
        for (m, role) in [
            ("t", Role::Teacher),
            ("a", Role::Student),
            ("b", Role::Student),
        ] {
            room.join(
                1,
                Identity {
                    id: id(m),
                    name: m.into(),
                    role,
                    owner: false,
                },
            )
            .unwrap();
        }
        Class {
            room,
            n: 0,
            now: 1000,
        }
    }

    fn run(&mut self, who: &str, c: RoomCommand) -> Result<Vec<SequencedEvent>, RoomError> {
        self.n += 1;
        self.now += 10;
        self.room
            .apply(self.now, &id(who), &CommandId(format!("c{}", self.n)), c)
            .map(|a| a.events)
    }

    fn ok(&mut self, who: &str, c: RoomCommand) -> Vec<SequencedEvent> {
        self.run(who, c).expect("command should pass")
    }

    fn code(&mut self, who: &str, c: RoomCommand) -> ErrorCode {
        self.run(who, c).expect_err("command should fail").code()
    }

    fn items(&self) -> Vec<String> {
        self.room
            .board()
            .page_items(&page())
            .map(|i| i.id.0.clone())
            .collect()
    }

    fn stroke(&mut self, who: &str, n: u32, points: Vec<i32>) {
        let it = item(&format!("{who}/{n}"));
        self.ok(
            who,
            RoomCommand::StartStroke {
                item: it.clone(),
                page: page(),
                tool: Tool::Pen,
                color: 0x112233,
                width: 4,
                points,
            },
        );
        self.ok(
            who,
            RoomCommand::AppendStroke {
                item: it.clone(),
                points: vec![5, 5, 0, 5, 5, 0],
            },
        );
        self.ok(who, RoomCommand::EndStroke { item: it });
    }

    fn allow_everyone(&mut self) {
        self.ok(
            "t",
            RoomCommand::SetDrawPolicy {
                draw: DrawPolicy::Everyone,
                allowed: vec![],
            },
        );
    }
}

#[test]
fn a_stroke_opens_grows_and_closes_as_deltas() {
    let mut c = Class::new();
    c.stroke("t", 1, vec![100, 100, 0]);
    let it = c.room.board().item(&item("t/1")).unwrap().clone();
    assert_eq!(it.points, vec![100, 100, 0, 5, 5, 0, 5, 5, 0]);
    assert!(!it.open);
    assert_eq!(geometry::last_point(&it.points), (110, 110, 0));
    // Appending to a closed stroke is refused.
    assert_eq!(
        c.code(
            "t",
            RoomCommand::AppendStroke {
                item: item("t/1"),
                points: vec![1, 1, 0]
            }
        ),
        ErrorCode::InvalidCommand
    );
}

#[test]
fn students_draw_only_when_allowed_and_only_under_their_own_ids() {
    let mut c = Class::new();
    let start = |n: &str| RoomCommand::StartStroke {
        item: item(n),
        page: page(),
        tool: Tool::Pen,
        color: 0,
        width: 2,
        points: vec![0, 0, 0],
    };
    assert_eq!(c.code("a", start("a/1")), ErrorCode::Forbidden);
    c.ok(
        "t",
        RoomCommand::SetDrawPolicy {
            draw: DrawPolicy::Chosen,
            allowed: vec![id("a")],
        },
    );
    c.ok("a", start("a/1"));
    assert_eq!(c.code("b", start("b/1")), ErrorCode::Forbidden);
    // Another member's id prefix is refused, and so is a taken id.
    assert_eq!(c.code("a", start("b/2")), ErrorCode::InvalidCommand);
    assert_eq!(c.code("a", start("a/1")), ErrorCode::InvalidCommand);
    assert_eq!(c.code("a", start("ab/1")), ErrorCode::InvalidCommand);
    // Someone else may not grow a's stroke.
    c.allow_everyone();
    assert_eq!(
        c.code(
            "b",
            RoomCommand::AppendStroke {
                item: item("a/1"),
                points: vec![1, 1, 0]
            }
        ),
        ErrorCode::Forbidden
    );
    // Taking the permission back stops new strokes, but a's open stroke may still end.
    c.ok(
        "t",
        RoomCommand::SetDrawPolicy {
            draw: DrawPolicy::TeachersOnly,
            allowed: vec![],
        },
    );
    assert_eq!(c.code("a", start("a/3")), ErrorCode::Forbidden);
    c.ok("a", RoomCommand::EndStroke { item: item("a/1") });
}

#[test]
fn limits_are_enforced_with_clear_codes() {
    let mut c = Class::new();
    let too_many = vec![1; (MAX_BATCH_POINTS + 1) * 3];
    assert_eq!(
        c.code(
            "t",
            RoomCommand::StartStroke {
                item: item("t/1"),
                page: page(),
                tool: Tool::Pen,
                color: 0,
                width: 2,
                points: too_many
            }
        ),
        ErrorCode::LimitExceeded
    );
    assert_eq!(
        c.code(
            "t",
            RoomCommand::PlaceItem {
                item: item("t/2"),
                page: page(),
                tool: Tool::Text,
                color: 0,
                width: 20,
                points: vec![0, 0, 0],
                text: Some("x".repeat(MAX_TEXT_CHARS + 1)),
            }
        ),
        ErrorCode::LimitExceeded
    );
    for bad in [vec![0, 0], vec![0, 0, 300], vec![COORD_LIMIT + 1, 0, 0]] {
        assert_eq!(
            c.code(
                "t",
                RoomCommand::StartStroke {
                    item: item("t/3"),
                    page: page(),
                    tool: Tool::Pen,
                    color: 0,
                    width: 2,
                    points: bad
                }
            ),
            ErrorCode::InvalidCommand
        );
    }
    for n in 1..MAX_PAGES {
        c.ok(
            "t",
            RoomCommand::AddPage {
                page: PageId(format!("x{n}")),
                index: None,
            },
        );
    }
    assert_eq!(
        c.code(
            "t",
            RoomCommand::AddPage {
                page: PageId("one-too-many".into()),
                index: None
            }
        ),
        ErrorCode::LimitExceeded
    );
    assert_eq!(
        c.code(
            "a",
            RoomCommand::SendChat {
                text: "y".repeat(MAX_CHAT_CHARS + 1),
                private_with: None
            }
        ),
        ErrorCode::LimitExceeded
    );
    // A stroke can grow to its limit and no further.
    c.ok(
        "t",
        RoomCommand::StartStroke {
            item: item("t/long"),
            page: page(),
            tool: Tool::Pen,
            color: 0,
            width: 2,
            points: vec![0, 0, 0],
        },
    );
    let batch = vec![0; MAX_BATCH_POINTS * 3];
    let mut refused = None;
    for i in 0..(MAX_STROKE_POINTS / MAX_BATCH_POINTS + 2) {
        if let Err(e) = c.run(
            "t",
            RoomCommand::AppendStroke {
                item: item("t/long"),
                points: batch.clone(),
            },
        ) {
            refused = Some((i, e.code()));
            break;
        }
    }
    assert_eq!(
        refused,
        Some((
            MAX_STROKE_POINTS / MAX_BATCH_POINTS - 1,
            ErrorCode::LimitExceeded
        ))
    );
}

#[test]
fn undo_and_redo_are_per_member() {
    let mut c = Class::new();
    c.allow_everyone();
    c.stroke("t", 1, vec![0, 0, 0]);
    c.stroke("a", 1, vec![50, 50, 0]);
    c.stroke("t", 2, vec![500, 500, 0]);
    assert_eq!(c.items(), ["t/1", "a/1", "t/2"]);
    // a's undo takes back a's stroke, not the teacher's later one.
    c.ok("a", RoomCommand::Undo);
    assert_eq!(c.items(), ["t/1", "t/2"]);
    c.ok("t", RoomCommand::Undo);
    assert_eq!(c.items(), ["t/1"]);
    // Redo puts a's stroke back in its old place in the stack.
    c.ok("a", RoomCommand::Redo);
    assert_eq!(c.items(), ["t/1", "a/1"]);
    // An erase is undone by restoring, a move by moving back.
    c.ok(
        "t",
        RoomCommand::MoveItems {
            items: vec![item("t/1")],
            dx: 10,
            dy: -3,
        },
    );
    assert_eq!(
        &c.room.board().item(&item("t/1")).unwrap().points[..2],
        &[10, -3]
    );
    c.ok(
        "t",
        RoomCommand::EraseItems {
            items: vec![item("t/1")],
        },
    );
    assert_eq!(c.items(), ["a/1"]);
    c.ok("t", RoomCommand::Undo);
    assert_eq!(c.items(), ["t/1", "a/1"]);
    c.ok("t", RoomCommand::Undo);
    assert_eq!(
        &c.room.board().item(&item("t/1")).unwrap().points[..2],
        &[0, 0]
    );
    // A new edit clears the redo stack.
    c.stroke("t", 3, vec![0, 0, 0]);
    assert!(c.ok("t", RoomCommand::Redo).is_empty());
}

#[test]
fn students_erase_and_move_only_their_own_and_teachers_clear() {
    let mut c = Class::new();
    c.allow_everyone();
    c.stroke("t", 1, vec![0, 0, 0]);
    c.stroke("a", 1, vec![0, 0, 0]);
    assert_eq!(
        c.code(
            "a",
            RoomCommand::EraseItems {
                items: vec![item("t/1")]
            }
        ),
        ErrorCode::Forbidden
    );
    // The area eraser sweeps only a's own stroke even though it crosses both.
    c.ok(
        "a",
        RoomCommand::EraseArea {
            page: page(),
            path: vec![-20, 5, 20, 5],
            radius: 10,
        },
    );
    assert_eq!(c.items(), ["t/1"]);
    assert_eq!(
        c.code("a", RoomCommand::ClearPage { page: page() }),
        ErrorCode::Forbidden
    );
    c.stroke("b", 1, vec![900, 900, 0]);
    c.ok("t", RoomCommand::ClearPage { page: page() });
    assert!(c.items().is_empty());
    // The teacher can take a clear back.
    c.ok("t", RoomCommand::Undo);
    assert_eq!(c.items(), ["t/1", "b/1"]);
}

#[test]
fn pages_add_reorder_and_follow() {
    let mut c = Class::new();
    c.ok(
        "t",
        RoomCommand::AddPage {
            page: PageId("p2".into()),
            index: None,
        },
    );
    c.ok(
        "t",
        RoomCommand::AddPage {
            page: PageId("p0".into()),
            index: Some(0),
        },
    );
    c.ok(
        "t",
        RoomCommand::MovePage {
            page: PageId("p2".into()),
            index: 0,
        },
    );
    let order: Vec<_> = c
        .room
        .board()
        .pages()
        .iter()
        .map(|p| p.id.0.clone())
        .collect();
    assert_eq!(order, ["p2", "p0", "p1"]);
    c.ok(
        "t",
        RoomCommand::ShowPage {
            page: PageId("p0".into()),
        },
    );
    c.ok("t", RoomCommand::SetFollow { follow: true });
    c.ok(
        "t",
        RoomCommand::SetViewport {
            viewport: Viewport {
                x: 100,
                y: 50,
                zoom: 200,
            },
        },
    );
    assert_eq!(
        c.code(
            "a",
            RoomCommand::ShowPage {
                page: PageId("p1".into())
            }
        ),
        ErrorCode::Forbidden
    );
    assert_eq!(
        c.code(
            "t",
            RoomCommand::ShowPage {
                page: PageId("nope".into())
            }
        ),
        ErrorCode::UnknownItem
    );
    let s = c.room.snapshot().board;
    assert_eq!(s.current, PageId("p0".into()));
    assert!(s.follow);
    assert_eq!(s.viewport.zoom, 200);
}

#[test]
fn private_chat_reaches_only_its_student_and_the_teachers() {
    let mut c = Class::new();
    c.ok(
        "a",
        RoomCommand::SendChat {
            text: "hello all".into(),
            private_with: None,
        },
    );
    let evs = c.ok(
        "a",
        RoomCommand::SendChat {
            text: "I am lost".into(),
            private_with: Some(id("a")),
        },
    );
    let ev = &evs[0];
    let RoomEvent::ChatPosted { message } = &ev.event else {
        panic!("expected a chat event");
    };
    assert_eq!(message.id, ev.seq);
    assert_eq!(message.at_ms, ev.at_ms);
    assert_eq!(
        ev.for_member(&id("b"), Role::Student).event,
        RoomEvent::Redacted
    );
    assert_eq!(ev.for_member(&id("t"), Role::Teacher), *ev);
    assert_eq!(ev.for_member(&id("a"), Role::Student), *ev);
    assert_eq!(c.room.snapshot_for(&id("b"), Role::Student).chat.len(), 1);
    assert_eq!(c.room.snapshot_for(&id("a"), Role::Student).chat.len(), 2);
    // A student cannot open a private line to another student.
    assert_eq!(
        c.code(
            "a",
            RoomCommand::SendChat {
                text: "psst".into(),
                private_with: Some(id("b"))
            }
        ),
        ErrorCode::Forbidden
    );
    // The teacher answers privately, deletes a message, and turns chat off.
    c.ok(
        "t",
        RoomCommand::SendChat {
            text: "page 3".into(),
            private_with: Some(id("a")),
        },
    );
    c.ok("t", RoomCommand::DeleteChat { message: ev.seq });
    assert!(c.room.talk().message(ev.seq).unwrap().deleted);
    assert!(c.room.talk().message(ev.seq).unwrap().text.is_empty());
    assert_eq!(
        c.code("a", RoomCommand::DeleteChat { message: ev.seq }),
        ErrorCode::Forbidden
    );
    c.ok("t", RoomCommand::SetChatEnabled { enabled: false });
    assert_eq!(
        c.code(
            "b",
            RoomCommand::SendChat {
                text: "hi".into(),
                private_with: None
            }
        ),
        ErrorCode::Forbidden
    );
    c.ok(
        "t",
        RoomCommand::SendChat {
            text: "teachers still may".into(),
            private_with: None,
        },
    );
}

#[test]
fn a_chat_flood_is_slowed_and_others_are_not() {
    let mut c = Class::new();
    let send = |t: &str| RoomCommand::SendChat {
        text: t.into(),
        private_with: None,
    };
    let mut refused = 0;
    for i in 0..20 {
        // All within the same second: the run helper moves 10 ms per command.
        if c.run("a", send(&format!("spam {i}"))).is_err() {
            refused += 1;
        }
    }
    assert_eq!(refused, 20 - 5);
    assert_eq!(c.code("a", send("more")), ErrorCode::RateLimited);
    c.ok("b", send("a fair question"));
}

#[test]
fn hands_queue_in_raise_order() {
    let mut c = Class::new();
    c.ok("b", RoomCommand::RaiseHand);
    c.ok("a", RoomCommand::RaiseHand);
    assert!(c.ok("a", RoomCommand::RaiseHand).is_empty());
    assert_eq!(c.room.talk().hands(), [id("b"), id("a")]);
    assert_eq!(
        c.code("a", RoomCommand::LowerHand { member: id("b") }),
        ErrorCode::Forbidden
    );
    c.ok("t", RoomCommand::LowerHand { member: id("b") });
    assert_eq!(c.room.talk().hands(), [id("a")]);
    c.ok("b", RoomCommand::RaiseHand);
    c.ok("t", RoomCommand::LowerAllHands);
    assert!(c.room.talk().hands().is_empty());
    // Leaving lowers the hand.
    c.ok("a", RoomCommand::RaiseHand);
    c.room.leave(5000, &id("a"));
    assert!(c.room.talk().hands().is_empty());
}

#[test]
fn presence_tracks_tab_and_speech() {
    let mut c = Class::new();
    c.ok(
        "a",
        RoomCommand::SetPresence {
            tab_visible: false,
            speaking: true,
        },
    );
    let a = c.room.member(&id("a")).unwrap();
    assert!(!a.tab_visible && a.speaking);
    // Unchanged presence is no event.
    assert!(
        c.ok(
            "a",
            RoomCommand::SetPresence {
                tab_visible: false,
                speaking: true
            }
        )
        .is_empty()
    );
    c.room.disconnect(9000, &id("a"));
    assert!(!c.room.member(&id("a")).unwrap().speaking);
}

#[test]
fn replica_from_snapshot_then_events_equals_the_room() {
    let mut c = Class::new();
    c.allow_everyone();
    c.stroke("t", 1, vec![0, 0, 0]);
    let snap = c.room.snapshot();
    let mut replica = Room::from_snapshot(&snap);
    let mut later = Vec::new();
    later.extend(c.ok(
        "a",
        RoomCommand::StartStroke {
            item: item("a/1"),
            page: page(),
            tool: Tool::Highlighter,
            color: 0xffff00,
            width: 16,
            points: vec![1, 2, 3],
        },
    ));
    later.extend(c.ok("t", RoomCommand::Undo));
    later.extend(c.ok(
        "a",
        RoomCommand::AppendStroke {
            item: item("a/1"),
            points: vec![1, 1, 0],
        },
    ));
    later.extend(c.ok("t", RoomCommand::Redo));
    later.extend(c.ok("b", RoomCommand::RaiseHand));
    for ev in &later {
        replica.apply_sequenced(ev).unwrap();
    }
    assert_eq!(replica.snapshot(), c.room.snapshot());
}

/// A recorded session for the browser's board replica (`ui/test/board-state.test.ts`):
/// the board at a snapshot, the events after it, and the board the room ended with. The
/// TypeScript replica must reach the same end; the file is regenerated like the bindings.
#[test]
fn board_session_fixture_for_the_browser_replica() {
    let mut c = Class::new();
    c.allow_everyone();
    c.stroke("t", 1, vec![100, 100, 0]);
    let start = c.room.snapshot();
    let mut events = Vec::new();
    let mut run = |c: &mut Class, who: &str, cmd: RoomCommand| events.extend(c.ok(who, cmd));
    run(
        &mut c,
        "t",
        RoomCommand::AddPage {
            page: PageId("p2".into()),
            index: Some(0),
        },
    );
    run(
        &mut c,
        "t",
        RoomCommand::MovePage {
            page: PageId("p2".into()),
            index: 1,
        },
    );
    run(
        &mut c,
        "a",
        RoomCommand::StartStroke {
            item: item("a/1"),
            page: page(),
            tool: Tool::Pen,
            color: 0xe53935,
            width: 6,
            points: vec![300, 300, 120, 4, 2, 5],
        },
    );
    run(
        &mut c,
        "a",
        RoomCommand::AppendStroke {
            item: item("a/1"),
            points: vec![4, 2, 5, 4, -2, -10],
        },
    );
    run(
        &mut c,
        "b",
        RoomCommand::PlaceItem {
            item: item("b/1"),
            page: page(),
            tool: Tool::Text,
            color: 0,
            width: 24,
            points: vec![700, 200, 0],
            text: Some("x² + 1".into()),
        },
    );
    run(&mut c, "a", RoomCommand::EndStroke { item: item("a/1") });
    run(
        &mut c,
        "t",
        RoomCommand::PlaceItem {
            item: item("t/2"),
            page: PageId("p2".into()),
            tool: Tool::Arrow,
            color: 0x43a047,
            width: 3,
            points: vec![10, 10, 0, 200, 100, 0],
            text: None,
        },
    );
    run(
        &mut c,
        "t",
        RoomCommand::MoveItems {
            items: vec![item("a/1"), item("b/1")],
            dx: 15,
            dy: -5,
        },
    );
    run(
        &mut c,
        "b",
        RoomCommand::EraseItems {
            items: vec![item("b/1")],
        },
    );
    run(&mut c, "b", RoomCommand::Undo);
    run(&mut c, "t", RoomCommand::Undo);
    run(&mut c, "t", RoomCommand::Redo);
    run(
        &mut c,
        "a",
        RoomCommand::EraseArea {
            page: page(),
            path: vec![0, 0, 2000, 2000],
            radius: 30,
        },
    );
    run(&mut c, "t", RoomCommand::ClearPage { page: page() });
    run(&mut c, "t", RoomCommand::Undo);
    run(
        &mut c,
        "t",
        RoomCommand::ShowPage {
            page: PageId("p2".into()),
        },
    );
    run(&mut c, "t", RoomCommand::SetFollow { follow: true });
    run(
        &mut c,
        "t",
        RoomCommand::SetViewport {
            viewport: Viewport {
                x: 40,
                y: 20,
                zoom: 150,
            },
        },
    );
    run(
        &mut c,
        "t",
        RoomCommand::SetDrawPolicy {
            draw: DrawPolicy::Chosen,
            allowed: vec![id("b"), id("a")],
        },
    );
    run(
        &mut c,
        "a",
        RoomCommand::SendChat {
            text: "done".into(),
            private_with: None,
        },
    );
    run(&mut c, "a", RoomCommand::RaiseHand);
    let fixture = serde_json::json!({
        "start": start.board,
        "events": events,
        "end": c.room.snapshot().board,
    });
    let text = format!("{}\n", serde_json::to_string_pretty(&fixture).unwrap());
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../ui/test/fixtures/board-session.json");
    aula_proto::check_bindings(&path, &text, "aula-room");
}
