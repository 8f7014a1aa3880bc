// Generated from crates/proto by `UPDATE_BINDINGS=1 cargo test -p aula-proto`. Do not edit.

export type Role = "teacher" | "student" | "observer";

export type MemberId = string;

export type TrackId = string;

export type CommandId = string;

export type Seq = number;

export type TrackKind = "camera" | "microphone" | "screen";

export type ItemId = string;

export type PageId = string;

export type Tool = "pen" | "highlighter" | "line" | "arrow" | "rect" | "ellipse" | "text";

export type BoardItem = { id: ItemId, page: PageId, author: MemberId, tool: Tool, 
/**
 * 0xRRGGBB.
 */
color: number, 
/**
 * Line width in page units, or the font size for text.
 */
width: number, 
/**
 * Delta-coded `[x, y, p, …]`; shapes hold two points (corners or ends), text one.
 */
points: Array<number>, text?: string | null, 
/**
 * Stacking order: the sequence number of the event that created it. Lower is below.
 */
z: Seq, 
/**
 * A freehand stroke still being drawn.
 */
open?: boolean, };

export type PageBackground = { 
/**
 * Asset id from `POST /api/classes/{id}/assets`.
 */
asset: string, width: number, height: number, };

export type PageInfo = { id: PageId, background?: PageBackground | null, };

export type Viewport = { x: number, y: number, 
/**
 * Zoom in percent (100 = the page fills the width).
 */
zoom: number, };

export type DrawPolicy = "teachers_only" | "everyone" | "chosen";

export type EditCause = "do" | "undo" | "redo";

export type PageSnapshot = { info: PageInfo, 
/**
 * In stacking order.
 */
items: Array<BoardItem>, };

export type BoardSnapshot = { 
/**
 * In the order the teacher arranged them.
 */
pages: Array<PageSnapshot>, 
/**
 * The page the teacher shows.
 */
current: PageId, viewport: Viewport, follow: boolean, draw: DrawPolicy, allowed: Array<MemberId>, };

export type ChatMessage = { 
/**
 * The sequence number of the event that posted it.
 */
id: Seq, from: MemberId, 
/**
 * Set for a private conversation between this student and the teachers.
 */
private_with?: MemberId | null, text: string, at_ms: number, deleted?: boolean, };

export type Reaction = "thumbs_up" | "clap" | "heart" | "laugh" | "surprised" | "confused";

export type QuizId = string;

export type QuestionKind = "single_choice" | "multiple_choice" | "true_false" | "short_answer" | "poll";

export type Question = { prompt: string, kind: QuestionKind, 
/**
 * The choices, for every kind but short answers.
 */
options: Array<string>, 
/**
 * Indices of the right options. Students do not see them until the teacher reveals.
 */
correct: Array<number>, };

export type QuizInfo = { id: QuizId, question: Question, 
/**
 * Answers close by themselves this long after the start.
 */
time_limit_ms: number | null, 
/**
 * Nobody, teachers included, sees who gave which answer.
 */
anonymous: boolean, started_at_ms: number, };

export type QuizAnswer = { 
/**
 * Chosen option indices.
 */
choices: Array<number>, 
/**
 * The text of a short answer.
 */
text?: string | null, };

export type QuizResults = { correct: Array<number>, 
/**
 * Answers per option, in option order.
 */
tally: Array<number>, answered: number, 
/**
 * Answers judged right (choices by the room, short answers by the teacher's marks).
 */
right: number, };

export type AnswerRecord = { 
/**
 * Absent for anonymous polls (and for anyone but the teachers and the student).
 */
member: MemberId | null, answer: QuizAnswer, 
/**
 * From the quiz's start to the answer.
 */
response_ms: number, 
/**
 * Right or wrong, once known (at once for choices, when marked for short answers).
 */
correct: boolean | null, };

export type Verdict = { member: MemberId, correct: boolean, };

export type QuizState = { info: QuizInfo, 
/**
 * What this member may see: every answer for teachers (without names when anonymous),
 * one's own for a student.
 */
answers: Array<AnswerRecord>, answered: number, closed: boolean, results: QuizResults | null, };

export type EngagementParts = { attendance: number, camera: number, 
/**
 * Absent until a quiz was asked.
 */
quiz: number | null, chat: number, board: number, };

export type Attendance = { member: MemberId, name: string, 
/**
 * Connected intervals `[from, to]` in ms since the Unix epoch; the open one ends now.
 */
intervals: Array<[number, number]>, first_join_ms: number | null, last_leave_ms: number | null, present_ms: number, 
/**
 * Connected with the tab in view.
 */
active_ms: number, hidden_ms: number, camera_ms: number, 
/**
 * Present mostly with the tab hidden.
 */
mostly_hidden: boolean, };

export type StudentReport = { chat_messages: number, board_items: number, quizzes_answered: number, quizzes_right: number, score: number, parts: EngagementParts, member: MemberId, name: string, 
/**
 * Connected intervals `[from, to]` in ms since the Unix epoch; the open one ends now.
 */
intervals: Array<[number, number]>, first_join_ms: number | null, last_leave_ms: number | null, present_ms: number, 
/**
 * Connected with the tab in view.
 */
active_ms: number, hidden_ms: number, camera_ms: number, 
/**
 * Present mostly with the tab hidden.
 */
mostly_hidden: boolean, };

export type ClassReport = { class_id: string, generated_at_ms: number, 
/**
 * Which session of the class this is, from 1; 0 before anyone joined.
 */
session: number, 
/**
 * How many sessions the class has had so far.
 */
sessions: number, started_at_ms: number | null, 
/**
 * `None` while the session runs.
 */
ended_at_ms: number | null, students: Array<StudentReport>, 
/**
 * Every quiz with every answer (anonymous ones without names).
 */
quizzes: Array<QuizState>, };

export type Period = "week" | "month";

export type SessionSummary = { 
/**
 * Which session of the class, from 1.
 */
session: number, started_at_ms: number, ended_at_ms: number | null, length_ms: number, students: number, average_score: number | null, };

export type StudentSummary = { member: MemberId, name: string, on_roster: boolean, sessions_attended: number, 
/**
 * Time present over the time the period's sessions ran, in whole percent.
 */
attendance_pct: number, present_ms: number, active_ms: number, hidden_ms: number, camera_ms: number, 
/**
 * Mean of its session scores, over the sessions it attended.
 */
average_score: number | null, quizzes_answered: number, quizzes_right: number, chat_messages: number, board_items: number, };

export type PeriodReport = { class_id: string, period: Period, 
/**
 * `2026-W48` or `2026-11`, in the reader's time zone.
 */
label: string, from_ms: number, to_ms: number, 
/**
 * The time zone's offset from UTC the periods were cut in, in minutes.
 */
utc_offset_min: number, 
/**
 * Every session's time added up.
 */
session_ms: number, sessions: Array<SessionSummary>, students: Array<StudentSummary>, };

export type RosterStudent = { name: string, 
/**
 * Where attendance alerts go (the student's or a guardian's address).
 */
email: string | null, member_id: MemberId | null, };

export type RosterAdd = { students: Array<RosterStudent>, };

export type RosterMember = { member_id: MemberId, name: string, email: string | null, student_link: string, };

export type AlertSettings = { 
/**
 * 1 to 100; `None` turns the alerts off.
 */
attendance_threshold_pct: number | null, 
/**
 * Whether the server has an SMTP relay to send them through (read only).
 */
mail_configured: boolean, };

export type MemberInfo = { id: MemberId, name: string, role: Role, 
/**
 * The class's owner: the teacher who created it. Co-teachers cannot remove it.
 */
owner: boolean, 
/**
 * Whether the member has a live connection now. A member whose link drops stays in
 * the room, disconnected, for a grace period before it is removed.
 */
connected: boolean, joined_at_ms: number, 
/**
 * The member's class tab (or app window) is in view. Reported by the client.
 */
tab_visible: boolean, 
/**
 * The member's microphone carries speech now. Reported by the client.
 */
speaking: boolean, };

export type TrackInfo = { id: TrackId, owner: MemberId, kind: TrackKind, 
/**
 * Off when the owner turned it off or a teacher muted or stopped it; the SFU then
 * forwards none of its packets.
 */
enabled: boolean, };

export type RoomSettings = { 
/**
 * No new student may join; those already in stay.
 */
locked: boolean, 
/**
 * New students wait until a teacher admits them.
 */
waiting_room: boolean, 
/**
 * Students may post in the chat. Teachers always may.
 */
chat_enabled: boolean, 
/**
 * Whether a member's tab visibility is recorded (set by the server's operator).
 * When off, every member counts as in view and students are told so.
 */
tab_tracking: boolean, 
/**
 * How long the class may stand empty and still be the same session (set by the
 * server's operator). Sessions split attendance and reports.
 */
session_gap_ms: number, };

export type RoomSnapshot = { class_id: string, seq: Seq, settings: RoomSettings, members: Array<MemberInfo>, waiting: Array<MemberInfo>, tracks: Array<TrackInfo>, board: BoardSnapshot, 
/**
 * The messages this member may read, oldest first.
 */
chat: Array<ChatMessage>, 
/**
 * Raised hands in the order they went up.
 */
hands: Array<MemberId>, 
/**
 * Quizzes of this class session, oldest first, as this member may see them.
 */
quizzes: Array<QuizState>, };

export type LeaveReason = "left" | "removed" | "timed_out";

export type RoomEvent = { "kind": "member_joined", member: MemberInfo, } | { "kind": "member_left", member: MemberId, reason: LeaveReason, } | { "kind": "presence_changed", member: MemberId, connected: boolean, } | { "kind": "member_waiting", member: MemberInfo, } | { "kind": "waiting_resolved", member: MemberId, admitted: boolean, } | { "kind": "track_published", track: TrackInfo, } | { "kind": "track_unpublished", track: TrackId, } | { "kind": "track_state_changed", track: TrackId, enabled: boolean, by: MemberId, } | { "kind": "settings_changed", settings: RoomSettings, by: MemberId, } | { "kind": "presence_updated", member: MemberId, tab_visible: boolean, speaking: boolean, } | { "kind": "page_added", page: PageInfo, index: number, } | { "kind": "page_moved", page: PageId, index: number, } | { "kind": "page_background_set", page: PageId, background: PageBackground | null, } | { "kind": "page_shown", page: PageId, } | { "kind": "viewport_changed", viewport: Viewport, } | { "kind": "follow_changed", follow: boolean, } | { "kind": "draw_policy_changed", draw: DrawPolicy, allowed: Array<MemberId>, } | { "kind": "stroke_started", item: BoardItem, } | { "kind": "stroke_points", item: ItemId, points: Array<number>, } | { "kind": "stroke_ended", item: ItemId, } | { "kind": "item_placed", item: BoardItem, } | { "kind": "items_erased", items: Array<ItemId>, by: MemberId, cause: EditCause, } | { "kind": "items_restored", items: Array<BoardItem>, by: MemberId, cause: EditCause, } | { "kind": "items_moved", items: Array<ItemId>, dx: number, dy: number, by: MemberId, cause: EditCause, } | { "kind": "chat_posted", message: ChatMessage, } | { "kind": "chat_deleted", message: Seq, by: MemberId, } | { "kind": "hand_raised", member: MemberId, } | { "kind": "hand_lowered", member: MemberId, by: MemberId, } | { "kind": "reacted", member: MemberId, reaction: Reaction, } | { "kind": "quiz_started", quiz: QuizInfo, } | { "kind": "quiz_answered", quiz: QuizId, record: AnswerRecord, 
/**
 * The quiz is an anonymous poll: teachers get the answer without the member.
 */
anonymous: boolean, } | { "kind": "quiz_closed", quiz: QuizId, } | { "kind": "answer_marked", quiz: QuizId, member: MemberId, correct: boolean, 
/**
 * The quiz was already revealed when it was marked.
 */
revealed: boolean, } | { "kind": "quiz_revealed", quiz: QuizId, results: QuizResults, 
/**
 * Each answer's verdict, known now. A student receives only its own; teachers
 * (who saw every verdict already) none.
 */
verdicts: Array<Verdict>, } | { "kind": "redacted" };

export type SequencedEvent = { seq: Seq, 
/**
 * Server time when the event was applied, in ms since the Unix epoch.
 */
at_ms: number, event: RoomEvent, };

export type RoomCommand = { "kind": "set_track_enabled", track: TrackId, enabled: boolean, } | { "kind": "mute_member", member: MemberId, } | { "kind": "stop_camera", member: MemberId, } | { "kind": "remove_member", member: MemberId, } | { "kind": "set_locked", locked: boolean, } | { "kind": "set_waiting_room", enabled: boolean, } | { "kind": "admit", member: MemberId, } | { "kind": "deny", member: MemberId, } | { "kind": "set_presence", tab_visible: boolean, speaking: boolean, } | { "kind": "add_page", page: PageId, index: number | null, } | { "kind": "move_page", page: PageId, index: number, } | { "kind": "set_page_background", page: PageId, background: PageBackground | null, } | { "kind": "show_page", page: PageId, } | { "kind": "set_viewport", viewport: Viewport, } | { "kind": "set_follow", follow: boolean, } | { "kind": "set_draw_policy", draw: DrawPolicy, allowed: Array<MemberId>, } | { "kind": "start_stroke", item: ItemId, page: PageId, tool: Tool, color: number, width: number, points: Array<number>, } | { "kind": "append_stroke", item: ItemId, points: Array<number>, } | { "kind": "end_stroke", item: ItemId, } | { "kind": "place_item", item: ItemId, page: PageId, tool: Tool, color: number, width: number, points: Array<number>, text: string | null, } | { "kind": "erase_items", items: Array<ItemId>, } | { "kind": "erase_area", page: PageId, path: Array<number>, radius: number, } | { "kind": "move_items", items: Array<ItemId>, dx: number, dy: number, } | { "kind": "undo" } | { "kind": "redo" } | { "kind": "clear_page", page: PageId, } | { "kind": "send_chat", text: string, private_with: MemberId | null, } | { "kind": "delete_chat", message: Seq, } | { "kind": "set_chat_enabled", enabled: boolean, } | { "kind": "raise_hand" } | { "kind": "lower_hand", member: MemberId, } | { "kind": "lower_all_hands" } | { "kind": "react", reaction: Reaction, } | { "kind": "start_quiz", quiz: QuizId, question: Question, time_limit_ms: number | null, anonymous: boolean, } | { "kind": "answer_quiz", quiz: QuizId, answer: QuizAnswer, } | { "kind": "close_quiz", quiz: QuizId, } | { "kind": "mark_answer", quiz: QuizId, member: MemberId, correct: boolean, } | { "kind": "reveal_quiz", quiz: QuizId, };

export type LayerSize = { rid: string, width: number, height: number, };

export type PublishedTrack = { mid: string, kind: TrackKind, 
/**
 * Its simulcast layers (rids), lowest first, with the size each is sent at; empty
 * for a track sent as one encoding.
 */
layers?: Array<LayerSize>, };

export type ClientMsg = { "type": "hello", v: number, token: string, resume_from: Seq | null, } | { "type": "command", id: CommandId, command: RoomCommand, } | { "type": "offer", sdp: string, tracks: Array<PublishedTrack>, } | { "type": "answer", sdp: string, } | { "type": "ping", t: number, } | { "type": "leave" } | { "type": "view_size", height: number, };

export type ErrorCode = "bad_message" | "message_too_large" | "unknown_type" | "unsupported_version" | "hello_required" | "invalid_token" | "token_expired" | "forbidden" | "room_locked" | "removed" | "denied" | "rate_limited" | "unknown_member" | "unknown_track" | "invalid_command" | "media_rejected" | "replaced" | "not_found" | "invalid_request" | "internal" | "shutting_down" | "limit_exceeded" | "unknown_item" | "token_revoked" | "class_full" | "server_busy";

export type IceServer = { 
/**
 * `turn:host:3478?transport=udp`, `turn:host:3478?transport=tcp`, `turns:host:443?transport=tcp`, `stun:…`.
 */
urls: Array<string>, username: string | null, credential: string | null, };

export type ServerMsg = { "type": "welcome", v: number, you: MemberInfo, snapshot: RoomSnapshot | null, resumed_from: Seq | null, 
/**
 * STUN/TURN servers for this member's peer connection, with short-lived TURN
 * credentials minted for it (fresh on every welcome). Empty: host candidates only.
 */
ice_servers: Array<IceServer>, } | { "type": "waiting" } | { "type": "event" } & SequencedEvent | { "type": "ack", id: CommandId, duplicate: boolean, } | { "type": "error", code: ErrorCode, message: string, 
/**
 * The command that failed, when the error answers one.
 */
id: CommandId | null, } | { "type": "offer", sdp: string, } | { "type": "answer", sdp: string, } | { "type": "pong", t: number, } | { "type": "video_paused", track: TrackId, paused: boolean, };

export type ClassCreated = { class_id: string, title: string, teacher_token: string, teacher_link: string, student_link: string, };

export type CreateClass = { title: string, };

export type InviteCreated = { invite: string, student_link: string, expires_at_ms: number, };

export type JoinRequest = { invite: string, name: string, 
/**
 * A random id the browser keeps (localStorage) for this device: 8–64 characters of
 * `A-Za-z0-9_-`. A student a teacher removed cannot come back through the same
 * open link from the same device.
 */
device?: string | null, };

export type JoinGranted = { token: string, member_id: MemberId, class_id: string, role: Role, expires_at_ms: number, };

export type CheckStarted = { check: string, 
/**
 * The server's STUN/TURN servers, with credentials that expire with the check.
 */
ice_servers: Array<IceServer>, expires_at_ms: number, 
/**
 * Largest `bytes` the bandwidth endpoints take.
 */
max_transfer_bytes: number, };

export type CheckOffer = { sdp: string, };

export type CheckAnswer = { sdp: string, };

export type CheckUploaded = { bytes: number, };

export type ApiError = { code: ErrorCode, message: string, };
