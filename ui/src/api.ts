// The REST calls the page makes: only joining by invite, for now.

import { errorText } from "./errors";
import type { ApiError, ErrorCode, JoinGranted, JoinRequest } from "./generated/protocol";

export class ApiFailure extends Error {
  constructor(
    readonly code: ErrorCode | null,
    message: string,
    readonly status: number,
  ) {
    super(message);
  }
}

const DEVICE_KEY = "aula.device";

/**
 * A random id this browser keeps for good (localStorage), sent with every join so a
 * student a teacher removed cannot come straight back through the same open link.
 * Not an identity: clearing site data makes a new one. Null when storage is blocked.
 */
export function deviceId(): string | null {
  try {
    let id = localStorage.getItem(DEVICE_KEY);
    if (!id || !/^[A-Za-z0-9_-]{8,64}$/.test(id)) {
      const bytes = new Uint8Array(16);
      crypto.getRandomValues(bytes);
      id = Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
      localStorage.setItem(DEVICE_KEY, id);
    }
    return id;
  } catch {
    return null;
  }
}

/** Trades an invite for a member token. Rejects with a message fit to show the user. */
export async function joinByInvite(invite: string, name: string): Promise<JoinGranted> {
  const device = deviceId();
  const body: JoinRequest = device ? { invite, name, device } : { invite, name };
  let res: Response;
  try {
    res = await fetch("/api/join", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(body),
    });
  } catch {
    throw new ApiFailure(null, "Can't reach the class server. Check your connection and try again.", 0);
  }
  if (res.ok) return (await res.json()) as JoinGranted;
  let err: ApiError | null = null;
  try {
    err = (await res.json()) as ApiError;
  } catch {
    /* not our error body: a proxy's page, say */
  }
  if (err?.code) {
    console.warn(`aula: join refused: ${err.code}: ${err.message}`);
    throw new ApiFailure(err.code, errorText(err.code), res.status);
  }
  throw new ApiFailure(null, `The server could not let you in (HTTP ${res.status}). Please try again.`, res.status);
}

const GRANT_KEY = "aula.grant.";

/**
 * Remembers the member token for this invite in this tab, so a reload rejoins as the same
 * member instead of appearing twice. Per tab: two tabs are two members, on purpose.
 */
export function savedGrant(invite: string): JoinGranted | null {
  try {
    const raw = sessionStorage.getItem(GRANT_KEY + invite);
    if (!raw) return null;
    const g = JSON.parse(raw) as JoinGranted;
    return g.expires_at_ms > Date.now() + 60_000 ? g : null;
  } catch {
    return null;
  }
}

export function saveGrant(invite: string, grant: JoinGranted): void {
  try {
    sessionStorage.setItem(GRANT_KEY + invite, JSON.stringify(grant));
  } catch {
    /* private mode: reloading will simply join anew */
  }
}

export function forgetGrant(invite: string): void {
  try {
    sessionStorage.removeItem(GRANT_KEY + invite);
  } catch {
    /* ignore */
  }
}
