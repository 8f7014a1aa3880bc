// The client's replica of the room. Pure: no DOM, no sockets, no clock, so it runs under
// `node --test` and a replica built from snapshot + events equals the server's snapshot.
// It mirrors `Room::apply_event` in crates/room: any divergence is a bug on one side.
// The board is the exception: it changes many times a second, so its live replica is a
// mutable `BoardReplica` (board/board-state.ts) kept by the session, and `board` here
// stays the snapshot the replica started from.

import type {
  MemberId,
  MemberInfo,
  RoomEvent,
  RoomSnapshot,
  SequencedEvent,
  TrackInfo,
  TrackKind,
} from "./generated/protocol";

/** What happened when an event was offered to the replica. */
export type ApplyOutcome =
  | { kind: "applied"; state: RoomSnapshot }
  /** Already reflected (seq at or below the replica's); harmless, state unchanged. */
  | { kind: "duplicate"; state: RoomSnapshot }
  /** One or more events before this one are missing: the replica must be resynced. */
  | { kind: "gap"; state: RoomSnapshot; expected: number; got: number };

/** A deep copy, so no caller can alter the replica through a snapshot it was handed. */
export function fromSnapshot(snapshot: RoomSnapshot): RoomSnapshot {
  return {
    class_id: snapshot.class_id,
    seq: snapshot.seq,
    settings: { ...snapshot.settings },
    members: snapshot.members.map((m) => ({ ...m })),
    waiting: snapshot.waiting.map((m) => ({ ...m })),
    tracks: snapshot.tracks.map((t) => ({ ...t })),
    board: snapshot.board,
    chat: snapshot.chat.map((m) => ({ ...m })),
    hands: [...snapshot.hands],
    quizzes: snapshot.quizzes.map((q) => ({ ...q, answers: q.answers.map((a) => ({ ...a })) })),
  };
}

/** Chat messages a replica keeps, as the server's room does. */
export const CHAT_HISTORY = 5000;

/**
 * Applies one sequenced event. Never mutates `state`; the caller keeps whichever state
 * comes back, so a rejected event leaves nothing half-applied.
 */
export function applyEvent(state: RoomSnapshot, ev: SequencedEvent): ApplyOutcome {
  if (ev.seq <= state.seq) return { kind: "duplicate", state };
  if (ev.seq !== state.seq + 1) {
    return { kind: "gap", state, expected: state.seq + 1, got: ev.seq };
  }
  const next = reduce(state, ev.event, ev.at_ms);
  next.seq = ev.seq;
  return { kind: "applied", state: next };
}

function reduce(s: RoomSnapshot, e: RoomEvent, atMs: number): RoomSnapshot {
  const n: RoomSnapshot = { ...s };
  switch (e.kind) {
    case "member_joined":
      n.members = upsert(s.members, { ...e.member });
      break;
    case "member_left":
      n.members = s.members.filter((m) => m.id !== e.member);
      n.waiting = s.waiting.filter((m) => m.id !== e.member);
      n.tracks = s.tracks.filter((t) => t.owner !== e.member);
      n.hands = s.hands.filter((m) => m !== e.member);
      break;
    case "presence_changed":
      n.members = s.members.map((m) =>
        m.id === e.member ? { ...m, connected: e.connected, speaking: e.connected ? m.speaking : false } : m,
      );
      break;
    case "presence_updated":
      n.members = s.members.map((m) =>
        m.id === e.member ? { ...m, tab_visible: e.tab_visible, speaking: e.speaking } : m,
      );
      break;
    case "chat_posted": {
      const chat = [...s.chat, { ...e.message }];
      n.chat = chat.length > CHAT_HISTORY ? chat.slice(chat.length - CHAT_HISTORY) : chat;
      break;
    }
    case "chat_deleted":
      n.chat = s.chat.map((m) => (m.id === e.message ? { ...m, deleted: true, text: "" } : m));
      break;
    case "hand_raised":
      if (!s.hands.includes(e.member)) n.hands = [...s.hands, e.member];
      break;
    case "hand_lowered":
      n.hands = s.hands.filter((m) => m !== e.member);
      break;
    // Quizzes mirror `Quizzes::apply` in crates/room/src/quiz.rs.
    case "quiz_started":
      n.quizzes = [...s.quizzes, { info: e.quiz, answers: [], answered: 0, closed: false, results: null }];
      break;
    case "quiz_answered":
      n.quizzes = s.quizzes.map((q) =>
        q.info.id === e.quiz ? { ...q, answers: [...q.answers, { ...e.record }], answered: q.answered + 1 } : q,
      );
      break;
    case "quiz_closed":
      n.quizzes = s.quizzes.map((q) => (q.info.id === e.quiz ? { ...q, closed: true } : q));
      break;
    case "answer_marked":
      n.quizzes = s.quizzes.map((q) =>
        q.info.id === e.quiz
          ? { ...q, answers: q.answers.map((a) => (a.member === e.member ? { ...a, correct: e.correct } : a)) }
          : q,
      );
      break;
    case "quiz_revealed":
      n.quizzes = s.quizzes.map((q) =>
        q.info.id === e.quiz
          ? {
              ...q,
              closed: true,
              results: e.results,
              info: { ...q.info, question: { ...q.info.question, correct: e.results.correct } },
              // A student's own verdict arrives with the reveal.
              answers: q.answers.map((a) => {
                const v = (e.verdicts ?? []).find((v) => v.member === a.member);
                return v ? { ...a, correct: v.correct } : a;
              }),
            }
          : q,
      );
      break;
    // The board replica applies these; reactions change no state; a redacted event is
    // someone else's private message.
    case "page_added":
    case "page_moved":
    case "page_background_set":
    case "page_shown":
    case "viewport_changed":
    case "follow_changed":
    case "draw_policy_changed":
    case "stroke_started":
    case "stroke_points":
    case "stroke_ended":
    case "item_placed":
    case "items_erased":
    case "items_restored":
    case "items_moved":
    case "reacted":
    case "redacted":
      break;
    case "member_waiting":
      n.waiting = upsert(s.waiting, { ...e.member });
      break;
    case "waiting_resolved": {
      const info = s.waiting.find((m) => m.id === e.member);
      n.waiting = s.waiting.filter((m) => m.id !== e.member);
      if (info && e.admitted) {
        n.members = upsert(s.members, { ...info, joined_at_ms: atMs });
      }
      break;
    }
    case "track_published":
      n.tracks = upsertTrack(s.tracks, { ...e.track });
      break;
    case "track_unpublished":
      n.tracks = s.tracks.filter((t) => t.id !== e.track);
      break;
    case "track_state_changed":
      n.tracks = s.tracks.map((t) => (t.id === e.track ? { ...t, enabled: e.enabled } : t));
      break;
    case "settings_changed":
      n.settings = { ...e.settings };
      break;
    default:
      assertNever(e);
  }
  return n;
}

function upsert(list: MemberInfo[], m: MemberInfo): MemberInfo[] {
  const i = list.findIndex((x) => x.id === m.id);
  if (i < 0) return [...list, m];
  const copy = list.slice();
  copy[i] = m;
  return copy;
}

function upsertTrack(list: TrackInfo[], t: TrackInfo): TrackInfo[] {
  const i = list.findIndex((x) => x.id === t.id);
  if (i < 0) return [...list, t];
  const copy = list.slice();
  copy[i] = t;
  return copy;
}

function assertNever(x: never): never {
  throw new Error(`unhandled room event ${JSON.stringify(x)}`);
}

// ---- queries the UI asks of a replica ----

export function findMember(state: RoomSnapshot, id: MemberId): MemberInfo | undefined {
  return state.members.find((m) => m.id === id);
}

/** The member's published track of `kind`, if any (the first, should there be several). */
export function trackOf(state: RoomSnapshot, owner: MemberId, kind: TrackKind): TrackInfo | undefined {
  return state.tracks.find((t) => t.owner === owner && t.kind === kind);
}

/**
 * Members drawn as tiles: everyone but observers (the recorder is invisible), with
 * oneself first, then teachers, then by arrival, so tiles do not jump around.
 */
export function visibleMembers(state: RoomSnapshot, me: MemberId | null): MemberInfo[] {
  const rank = (m: MemberInfo) => (m.id === me ? 0 : m.role === "teacher" ? 1 : 2);
  return state.members
    .filter((m) => m.role !== "observer")
    .sort((a, b) => rank(a) - rank(b) || a.joined_at_ms - b.joined_at_ms || cmp(a.id, b.id));
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
