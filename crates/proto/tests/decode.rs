use aula_proto::*;
use proptest::prelude::*;

#[test]
fn decodes_hello_and_command() {
    let hello = decode_client(br#"{"type":"hello","v":1,"token":"abc","resume_from":7}"#).unwrap();
    assert_eq!(
        hello,
        ClientMsg::Hello {
            v: 1,
            token: "abc".into(),
            resume_from: Some(Seq(7))
        }
    );
    let cmd = decode_client(
        br#"{"type":"command","id":"c1","command":{"kind":"mute_member","member":"m2"}}"#,
    )
    .unwrap();
    assert_eq!(
        cmd,
        ClientMsg::Command {
            id: CommandId("c1".into()),
            command: RoomCommand::MuteMember {
                member: MemberId("m2".into())
            }
        }
    );
}

#[test]
fn simulcast_layers_and_view_sizes_are_bounded() {
    let offer = decode_client(
        br#"{"type":"offer","sdp":"v=0","tracks":[{"mid":"1","kind":"camera","layers":[{"rid":"q","width":240,"height":135},{"rid":"f","width":960,"height":540}]}]}"#,
    )
    .unwrap();
    let ClientMsg::Offer { tracks, .. } = offer else {
        panic!("an offer")
    };
    assert_eq!(tracks[0].layers[1].height, 540);
    // Older clients send no layers at all.
    let old = decode_client(
        br#"{"type":"offer","sdp":"v=0","tracks":[{"mid":"0","kind":"microphone"}]}"#,
    )
    .unwrap();
    assert!(matches!(old, ClientMsg::Offer { tracks, .. } if tracks[0].layers.is_empty()));
    for bad in [
        &br#"{"type":"offer","sdp":"v=0","tracks":[{"mid":"1","kind":"camera","layers":[{"rid":"q q","width":1,"height":1}]}]}"#[..],
        br#"{"type":"offer","sdp":"v=0","tracks":[{"mid":"1","kind":"camera","layers":[{"rid":"q","width":1,"height":99999}]}]}"#,
        br#"{"type":"offer","sdp":"v=0","tracks":[{"mid":"1","kind":"camera","layers":[{"rid":"a","width":1,"height":1},{"rid":"b","width":1,"height":1},{"rid":"c","width":1,"height":1},{"rid":"d","width":1,"height":1},{"rid":"e","width":1,"height":1}]}]}"#,
        br#"{"type":"view_size","height":99999}"#,
        br#"{"type":"view_size","height":-1}"#,
    ] {
        let e = decode_client(bad).unwrap_err();
        assert_eq!(e.code(), ErrorCode::BadMessage, "{}", String::from_utf8_lossy(bad));
    }
    assert_eq!(
        decode_client(br#"{"type":"view_size","height":720}"#).unwrap(),
        ClientMsg::ViewSize { height: 720 }
    );
}

#[test]
fn unknown_type_is_told_apart_from_malformed() {
    let e = decode_client(br#"{"type":"teleport","x":1}"#).unwrap_err();
    assert_eq!(e.code(), ErrorCode::UnknownType);
    let e = decode_client(br#"{"type":"command","id":"c1"}"#).unwrap_err();
    assert_eq!(e.code(), ErrorCode::BadMessage);
    let e = decode_client(b"not json").unwrap_err();
    assert_eq!(e.code(), ErrorCode::BadMessage);
    let e = decode_client(br#"{"type":12}"#).unwrap_err();
    assert_eq!(e.code(), ErrorCode::BadMessage);
}

#[test]
fn oversize_frames_and_fields_are_refused() {
    let big = vec![b' '; MAX_CLIENT_FRAME_BYTES + 1];
    assert_eq!(
        decode_client(&big).unwrap_err().code(),
        ErrorCode::MessageTooLarge
    );
    let long_id = format!(
        r#"{{"type":"command","id":"{}","command":{{"kind":"set_locked","locked":true}}}}"#,
        "x".repeat(200)
    );
    assert_eq!(
        decode_client(long_id.as_bytes()).unwrap_err().code(),
        ErrorCode::BadMessage
    );
    let empty_id = r#"{"type":"command","id":"","command":{"kind":"set_locked","locked":true}}"#;
    assert_eq!(
        decode_client(empty_id.as_bytes()).unwrap_err().code(),
        ErrorCode::BadMessage
    );
}

#[test]
fn unknown_type_names_are_truncated_on_char_boundaries() {
    let name = "é".repeat(100);
    let frame = format!(r#"{{"type":"{name}"}}"#);
    match decode_client(frame.as_bytes()).unwrap_err() {
        ClientDecodeError::UnknownType(shown) => {
            assert!(shown.len() <= 64 && shown.starts_with('é'))
        }
        other => panic!("expected UnknownType, got {other:?}"),
    }
}

#[test]
fn server_messages_have_the_documented_shape() {
    let ev = ServerMsg::Event(SequencedEvent {
        seq: Seq(3),
        at_ms: 10,
        event: RoomEvent::PresenceChanged {
            member: MemberId("m".into()),
            connected: false,
        },
    });
    let v: serde_json::Value = serde_json::to_value(&ev).unwrap();
    assert_eq!(v["type"], "event");
    assert_eq!(v["seq"], 3);
    assert_eq!(v["event"]["kind"], "presence_changed");
    let err = ServerMsg::Error {
        code: ErrorCode::Forbidden,
        message: "x".into(),
        id: None,
    };
    assert_eq!(serde_json::to_value(&err).unwrap()["code"], "forbidden");
}

#[test]
fn error_code_strings_match_serde() {
    for code in [
        ErrorCode::BadMessage,
        ErrorCode::RoomLocked,
        ErrorCode::TokenExpired,
        ErrorCode::Internal,
    ] {
        assert_eq!(serde_json::to_value(code).unwrap(), code.as_str());
    }
}

fn arb_command() -> impl Strategy<Value = RoomCommand> {
    let id = "[a-z0-9:]{1,20}";
    prop_oneof![
        (id, any::<bool>()).prop_map(|(t, e)| RoomCommand::SetTrackEnabled {
            track: TrackId(t),
            enabled: e
        }),
        id.prop_map(|m| RoomCommand::MuteMember {
            member: MemberId(m)
        }),
        id.prop_map(|m| RoomCommand::RemoveMember {
            member: MemberId(m)
        }),
        any::<bool>().prop_map(|l| RoomCommand::SetLocked { locked: l }),
        id.prop_map(|m| RoomCommand::Admit {
            member: MemberId(m)
        }),
    ]
}

proptest! {
    #[test]
    fn commands_round_trip(cmd in arb_command(), id in "[a-zA-Z0-9-]{1,40}") {
        let msg = ClientMsg::Command { id: CommandId(id), command: cmd };
        let bytes = serde_json::to_vec(&msg).unwrap();
        prop_assert_eq!(decode_client(&bytes).unwrap(), msg);
    }

    #[test]
    fn decoder_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = decode_client(&bytes);
    }

    #[test]
    fn decoder_never_panics_on_near_json(s in r#"\{"type":"(hello|command|offer|ping|x)"(,"[a-z_]{1,8}":("[^"]{0,8}"|[0-9]{1,3}|null|\{\}))*\}"#) {
        let _ = decode_client(s.as_bytes());
    }
}
