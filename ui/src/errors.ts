// The one place server error codes become words a teacher or student reads. Typed as a
// Record over ErrorCode so that a code added on the server fails the build here until it
// has a text. The server's `message` is for developers and only goes to the console.

import type { ErrorCode } from "./generated/protocol";

export const ERROR_TEXT: Record<ErrorCode, string> = {
  bad_message: "Something went wrong talking to the server. Please try again.",
  message_too_large: "That request was too large for the server.",
  unknown_type: "This page is out of date. Reload it to get the latest version.",
  unsupported_version: "This page is out of date. Reload it to get the latest version.",
  hello_required: "The connection got out of step with the server. Reconnecting…",
  invalid_token: "This class link is not valid. Ask your teacher for a new one.",
  token_expired: "This class link has expired. Ask your teacher for a new one.",
  forbidden: "Only the teacher can do that.",
  room_locked: "The class is locked. Ask your teacher to unlock it.",
  removed: "You were removed from the class by the teacher.",
  denied: "The teacher did not let you in.",
  rate_limited: "You're doing that too fast. Wait a moment and try again.",
  unknown_member: "That person is no longer in the class.",
  unknown_track: "That camera or microphone is no longer available.",
  invalid_command: "That can't be done right now.",
  media_rejected: "Your camera and microphone could not be connected. Retrying may help.",
  replaced: "You joined this class from another tab or device, so this one was closed.",
  not_found: "This class or link does not exist.",
  invalid_request: "Please check what you entered and try again.",
  internal: "The server had a problem. Please try again in a moment.",
  shutting_down: "The server is restarting. Reconnecting…",
  limit_exceeded: "That is too big: split it up (a shorter text, fewer points, another page).",
  unknown_item: "That was already removed from the board.",
  token_revoked: "This link was withdrawn. Ask your teacher for a new one.",
  class_full: "The class is full. Ask your teacher to make room.",
  server_busy: "The server is busy. Trying again in a moment…",
};

/**
 * Errors after which this page must not reconnect: retrying would only be refused again,
 * or (for `replaced`) would kick out the user's other tab in turn.
 */
export const TERMINAL_CODES: ReadonlySet<ErrorCode> = new Set<ErrorCode>([
  "removed",
  "denied",
  "replaced",
  "invalid_token",
  "token_expired",
  "token_revoked",
  "unsupported_version",
]);

export function errorText(code: ErrorCode | string): string {
  return (ERROR_TEXT as Record<string, string>)[code] ?? "Something went wrong. Please try again.";
}
