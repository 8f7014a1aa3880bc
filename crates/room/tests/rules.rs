use aula_proto::*;
use aula_room::*;

fn id(s: &str) -> MemberId {
    MemberId(s.into())
}
fn cmd(s: &str) -> CommandId {
    CommandId(s.into())
}
fn who(s: &str, role: Role) -> Identity {
    Identity {
        id: id(s),
        name: s.to_uppercase(),
        role,
        owner: false,
    }
}

/// A room with teacher `t` and students `a`, `b`, each publishing a camera and a mic.
fn class() -> Room {
    let mut r = Room::new("c1");
    for (m, role) in [
        ("t", Role::Teacher),
        ("a", Role::Student),
        ("b", Role::Student),
    ] {
        r.join(1, who(m, role)).unwrap();
        r.set_published_tracks(
            2,
            &id(m),
            &[
                ("0".into(), TrackKind::Microphone),
                ("1".into(), TrackKind::Camera),
            ],
        )
        .unwrap();
    }
    r
}

#[test]
fn student_cannot_moderate_and_nothing_changes() {
    let mut r = class();
    let before = r.snapshot();
    for c in [
        RoomCommand::MuteMember { member: id("b") },
        RoomCommand::StopCamera { member: id("b") },
        RoomCommand::RemoveMember { member: id("b") },
        RoomCommand::SetLocked { locked: true },
        RoomCommand::SetWaitingRoom { enabled: true },
        RoomCommand::SetTrackEnabled {
            track: track_id(&id("b"), "0"),
            enabled: false,
        },
    ] {
        let err = r
            .apply(10, &id("a"), &cmd(&format!("{c:?}")), c)
            .unwrap_err();
        assert_eq!(err.code(), ErrorCode::Forbidden);
    }
    assert_eq!(r.snapshot(), before);
}

#[test]
fn teacher_mutes_a_student_but_cannot_unmute_it() {
    let mut r = class();
    let out = r
        .apply(
            10,
            &id("t"),
            &cmd("1"),
            RoomCommand::MuteMember { member: id("a") },
        )
        .unwrap();
    assert_eq!(out.events.len(), 1);
    assert!(!r.track(&track_id(&id("a"), "0")).unwrap().enabled);
    assert!(
        r.track(&track_id(&id("a"), "1")).unwrap().enabled,
        "camera untouched"
    );
    let err = r
        .apply(
            11,
            &id("t"),
            &cmd("2"),
            RoomCommand::SetTrackEnabled {
                track: track_id(&id("a"), "0"),
                enabled: true,
            },
        )
        .unwrap_err();
    assert_eq!(err.code(), ErrorCode::Forbidden);
    r.apply(
        12,
        &id("a"),
        &cmd("3"),
        RoomCommand::SetTrackEnabled {
            track: track_id(&id("a"), "0"),
            enabled: true,
        },
    )
    .unwrap();
    assert!(r.track(&track_id(&id("a"), "0")).unwrap().enabled);
}

#[test]
fn stop_camera_touches_only_cameras() {
    let mut r = class();
    r.apply(
        10,
        &id("t"),
        &cmd("1"),
        RoomCommand::StopCamera { member: id("b") },
    )
    .unwrap();
    assert!(!r.track(&track_id(&id("b"), "1")).unwrap().enabled);
    assert!(r.track(&track_id(&id("b"), "0")).unwrap().enabled);
}

#[test]
fn a_retried_command_has_no_second_effect() {
    let mut r = class();
    let first = r
        .apply(
            10,
            &id("t"),
            &cmd("x"),
            RoomCommand::SetLocked { locked: true },
        )
        .unwrap();
    assert!(!first.duplicate);
    let seq = r.last_seq();
    // Unlock in between; the retry of "x" must not lock again.
    r.apply(
        11,
        &id("t"),
        &cmd("y"),
        RoomCommand::SetLocked { locked: false },
    )
    .unwrap();
    let again = r
        .apply(
            12,
            &id("t"),
            &cmd("x"),
            RoomCommand::SetLocked { locked: true },
        )
        .unwrap();
    assert!(again.duplicate && again.events.is_empty());
    assert!(!r.settings().locked);
    assert_eq!(r.last_seq(), Seq(seq.0 + 1));
    // A refused command is refused again, the same way.
    let e1 = r
        .apply(
            13,
            &id("a"),
            &cmd("z"),
            RoomCommand::SetLocked { locked: true },
        )
        .unwrap_err();
    let e2 = r
        .apply(
            14,
            &id("a"),
            &cmd("z"),
            RoomCommand::SetLocked { locked: true },
        )
        .unwrap_err();
    assert_eq!(e1, e2);
    // The same id from another member is another command.
    assert!(
        !r.apply(
            15,
            &id("t"),
            &cmd("z"),
            RoomCommand::SetLocked { locked: true }
        )
        .unwrap()
        .duplicate
    );
}

#[test]
fn locked_room_refuses_students_but_not_teachers_nor_returning_members() {
    let mut r = class();
    r.apply(
        10,
        &id("t"),
        &cmd("1"),
        RoomCommand::SetLocked { locked: true },
    )
    .unwrap();
    assert_eq!(
        r.join(11, who("c", Role::Student)).unwrap_err(),
        RoomError::RoomLocked
    );
    assert!(r.join(11, who("t2", Role::Teacher)).is_ok());
    r.disconnect(12, &id("a"));
    assert_eq!(
        r.join(13, who("a", Role::Student)).unwrap().0,
        JoinOutcome::Admitted { rejoined: true }
    );
}

#[test]
fn waiting_room_admit_and_deny() {
    let mut r = class();
    r.apply(
        10,
        &id("t"),
        &cmd("1"),
        RoomCommand::SetWaitingRoom { enabled: true },
    )
    .unwrap();
    assert_eq!(
        r.join(11, who("c", Role::Student)).unwrap().0,
        JoinOutcome::Waiting
    );
    assert_eq!(
        r.join(11, who("d", Role::Student)).unwrap().0,
        JoinOutcome::Waiting
    );
    assert!(r.member(&id("c")).is_none());
    // A waiting member can do nothing.
    let e = r
        .apply(
            12,
            &id("c"),
            &cmd("1"),
            RoomCommand::SetLocked { locked: false },
        )
        .unwrap_err();
    assert_eq!(e, RoomError::UnknownMember);
    // Students cannot admit.
    assert!(
        r.apply(
            12,
            &id("a"),
            &cmd("2"),
            RoomCommand::Admit { member: id("c") }
        )
        .is_err()
    );
    r.apply(
        13,
        &id("t"),
        &cmd("2"),
        RoomCommand::Admit { member: id("c") },
    )
    .unwrap();
    assert!(r.member(&id("c")).is_some());
    r.apply(
        13,
        &id("t"),
        &cmd("3"),
        RoomCommand::Deny { member: id("d") },
    )
    .unwrap();
    assert!(r.member(&id("d")).is_none() && !r.is_waiting(&id("d")));
    let e = r
        .apply(
            14,
            &id("t"),
            &cmd("4"),
            RoomCommand::Admit { member: id("d") },
        )
        .unwrap_err();
    assert_eq!(e.code(), ErrorCode::InvalidCommand);
}

#[test]
fn removed_member_cannot_return() {
    let mut r = class();
    let out = r
        .apply(
            10,
            &id("t"),
            &cmd("1"),
            RoomCommand::RemoveMember { member: id("a") },
        )
        .unwrap();
    // Its two tracks go, then the member.
    assert_eq!(out.events.len(), 3);
    assert!(r.tracks().all(|t| t.owner != id("a")));
    assert_eq!(
        r.join(11, who("a", Role::Student)).unwrap_err(),
        RoomError::Removed
    );
}

#[test]
fn disconnected_members_expire_after_grace() {
    let mut r = class();
    r.disconnect(100, &id("b"));
    assert!(!r.member(&id("b")).unwrap().connected);
    assert!(r.expire_disconnected(150, 100).is_empty());
    let ev = r.expire_disconnected(200, 100);
    assert!(matches!(
        ev.last().unwrap().event,
        RoomEvent::MemberLeft {
            reason: LeaveReason::TimedOut,
            ..
        }
    ));
    assert!(r.member(&id("b")).is_none());
}

#[test]
fn observer_may_not_publish() {
    let mut r = class();
    r.join(1, who("rec", Role::Observer)).unwrap();
    let e = r
        .set_published_tracks(2, &id("rec"), &[("0".into(), TrackKind::Camera)])
        .unwrap_err();
    assert_eq!(e.code(), ErrorCode::Forbidden);
}

#[test]
fn republishing_replaces_tracks() {
    let mut r = class();
    let ev = r
        .set_published_tracks(5, &id("a"), &[("0".into(), TrackKind::Microphone)])
        .unwrap();
    assert_eq!(ev.len(), 1);
    assert!(matches!(ev[0].event, RoomEvent::TrackUnpublished { .. }));
    assert!(
        r.set_published_tracks(6, &id("a"), &[("0".into(), TrackKind::Microphone)])
            .unwrap()
            .is_empty()
    );
}

#[test]
fn restore_rebuilds_the_same_room_with_everyone_offline() {
    let mut r = class();
    r.apply(
        10,
        &id("t"),
        &cmd("1"),
        RoomCommand::MuteMember { member: id("a") },
    )
    .unwrap();
    let stored = r.events_since(Seq(0)).unwrap();
    let back = Room::restore("c1", stored.clone(), [], 50).unwrap();
    let snap = back.snapshot();
    assert_eq!(snap.members.len(), 3);
    assert!(snap.members.iter().all(|m| !m.connected));
    assert!(snap.tracks.is_empty());
    assert!(snap.seq > r.last_seq());
    let mut holed = stored;
    holed.remove(2);
    assert!(matches!(
        Room::restore("c1", holed, [], 50),
        Err(ResumeError::Gap { .. })
    ));
}

#[test]
fn resume_outside_the_log_asks_for_a_snapshot() {
    let mut r = Room::with_capacity("c", 4);
    r.join(1, who("t", Role::Teacher)).unwrap();
    for i in 0..10 {
        r.apply(
            2,
            &id("t"),
            &cmd(&i.to_string()),
            RoomCommand::SetLocked { locked: i % 2 == 0 },
        )
        .unwrap();
    }
    assert_eq!(r.last_seq(), Seq(11));
    assert!(matches!(
        r.events_since(Seq(2)),
        Err(ResumeError::TooOld { .. })
    ));
    assert_eq!(r.events_since(Seq(7)).unwrap().len(), 4);
    assert!(r.events_since(Seq(11)).unwrap().is_empty());
    assert!(matches!(
        r.events_since(Seq(12)),
        Err(ResumeError::Ahead { .. })
    ));
}

#[test]
fn only_the_owner_removes_a_teacher_and_nobody_removes_the_owner() {
    let mut r = Room::new("c1");
    r.join(
        1,
        Identity {
            owner: true,
            ..who("own", Role::Teacher)
        },
    )
    .unwrap();
    r.join(1, who("co", Role::Teacher)).unwrap();
    r.join(1, who("co2", Role::Teacher)).unwrap();
    r.join(1, who("s", Role::Student)).unwrap();
    assert!(r.member(&id("own")).unwrap().owner);
    let remove = |m: &str| RoomCommand::RemoveMember { member: id(m) };
    // A co-teacher can neither remove the owner nor another teacher.
    let e = r
        .apply(2, &id("co"), &cmd("x1"), remove("own"))
        .unwrap_err();
    assert_eq!(e.code(), ErrorCode::Forbidden);
    let e = r
        .apply(2, &id("co"), &cmd("x2"), remove("co2"))
        .unwrap_err();
    assert_eq!(e.code(), ErrorCode::Forbidden);
    assert!(r.member(&id("own")).is_some() && r.member(&id("co2")).is_some());
    // It still moderates students.
    r.apply(3, &id("co"), &cmd("x3"), remove("s")).unwrap();
    // The owner takes a co-teacher back.
    r.apply(4, &id("own"), &cmd("x4"), remove("co")).unwrap();
    assert!(r.member(&id("co")).is_none());
    assert_eq!(
        r.join(5, who("co", Role::Teacher)).unwrap_err(),
        RoomError::Removed
    );
    // A student token claiming ownership is not the owner.
    r.join(
        6,
        Identity {
            owner: true,
            ..who("s2", Role::Student)
        },
    )
    .unwrap();
    assert!(!r.member(&id("s2")).unwrap().owner);
}
