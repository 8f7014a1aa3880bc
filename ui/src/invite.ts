// What a student link says about itself, read before joining.

/**
 * The student's name when the link is a roster student's personal link, else null.
 * The server signs the link and decides; this only lets the page say "Join as Ana"
 * instead of asking a name the server would not use.
 */
export function personalName(invite: string): string | null {
  const payload = invite.split(".")[1];
  if (!payload) return null;
  try {
    const b64 = payload.replace(/-/g, "+").replace(/_/g, "/");
    const bytes = Uint8Array.from(atob(b64 + "=".repeat((4 - (b64.length % 4)) % 4)), (c) => c.charCodeAt(0));
    const claims = JSON.parse(new TextDecoder().decode(bytes)) as { knd?: unknown; name?: unknown };
    return claims.knd === "invite" && typeof claims.name === "string" && claims.name.trim() ? claims.name : null;
  } catch {
    return null;
  }
}
