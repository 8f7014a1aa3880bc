// The page's flow: pre-join → (invite exchange) → class → end screen, and back for a rejoin.

import { ApiFailure, forgetGrant, joinByInvite, saveGrant, savedGrant } from "./api";
import { personalName } from "./invite";
import { Call, type CallEnd } from "./call";
import { ERROR_TEXT } from "./errors";
import { LevelMeter, LocalMedia } from "./media";
import type { SessionPhase } from "./session";
import { PrejoinView } from "./ui/prejoin";
import { connectingScreen, messageScreen } from "./ui/screens";
import { toast } from "./ui/toasts";

export type AppPhase =
  /** Showing the pre-join screen. */
  | "prejoin"
  /** Join pressed: exchanging the invite or acquiring devices. */
  | "joining"
  | SessionPhase
  /** The link itself is unusable (no token or invite). */
  | "invalid_link";

export interface BootParams {
  /** A member token: the teacher's link. */
  token: string | null;
  /** An invite: a student's link; exchanged for a token with a name. */
  invite: string | null;
  /** Skip the pre-join screen (devices are still acquired first). */
  autojoin: boolean;
  name: string | null;
}

const NAME_KEY = "aula.name";

export class App {
  readonly local = new LocalMedia();
  readonly meter = new LevelMeter();
  call: Call | null = null;
  private prejoin: PrejoinView | null = null;
  private appPhase: AppPhase = "prejoin";
  private token: string | null;
  private acquiring: Promise<void> | null = null;

  constructor(
    private readonly root: HTMLElement,
    private readonly params: BootParams,
  ) {
    this.token = params.token;
  }

  get phase(): AppPhase {
    return this.call ? this.call.session.phase : this.appPhase;
  }

  async start(): Promise<void> {
    if (!this.params.token && !this.params.invite) {
      this.appPhase = "invalid_link";
      this.root.replaceChildren(
        messageScreen({
          testid: "invalid-link",
          title: "This link is incomplete",
          text: "Open the class link your teacher sent you. It should end with a long code.",
        }),
      );
      return;
    }
    if (this.params.autojoin) {
      this.appPhase = "joining";
      this.root.replaceChildren(connectingScreen());
      await this.acquireDevices();
      await this.doJoin(this.params.name ?? storedName() ?? "Guest").catch((err: unknown) => {
        this.root.replaceChildren(
          messageScreen({
            testid: "join-failed",
            title: "Could not join",
            text: err instanceof Error ? err.message : String(err),
            actions: [{ label: "Try again", primary: true, run: () => location.reload() }],
          }),
        );
      });
      return;
    }
    this.showPrejoin();
  }

  /** Clicks through the pre-join screen, as a person would; for tests and scripts. */
  async join(name?: string): Promise<void> {
    if (this.prejoin) return this.prejoin.submit(name);
    if (this.appPhase !== "prejoin") throw new Error(`cannot join in phase ${this.phase}`);
    return this.doJoin(name ?? this.params.name ?? "Guest");
  }

  private acquireDevices(): Promise<void> {
    // One request at a time: a second prompt while the first is open confuses browsers.
    this.acquiring ??= this.local.acquire().finally(() => (this.acquiring = null));
    return this.acquiring;
  }

  private showPrejoin(): void {
    this.appPhase = "prejoin";
    const grant = this.params.invite ? savedGrant(this.params.invite) : null;
    // A roster student's personal link already names them.
    const personal = this.params.invite ? personalName(this.params.invite) : null;
    const askName = !!this.params.invite && !this.token && !grant && !personal;
    this.prejoin = new PrejoinView({
      local: this.local,
      meter: this.meter,
      askName,
      initialName: this.params.name ?? storedName() ?? "",
      heading: this.params.token
        ? "Ready to teach?"
        : grant
          ? "Rejoin the class"
          : personal
            ? `Ready to join, ${personal}?`
            : "Ready to join?",
      onJoin: (name) => this.doJoin(name),
    });
    this.root.replaceChildren(this.prejoin.el);
    this.prejoin.focus();
    void this.acquireDevices();
  }

  private async doJoin(name: string): Promise<void> {
    this.appPhase = "joining";
    try {
      if (this.acquiring) await this.acquiring;
      if (!this.token && this.params.invite) {
        const invite = this.params.invite;
        let grant = savedGrant(invite);
        if (!grant) {
          const personal = personalName(invite);
          grant = await joinByInvite(invite, personal ?? name);
          saveGrant(invite, grant);
          try {
            if (!personal) localStorage.setItem(NAME_KEY, name);
          } catch {
            /* private mode */
          }
        }
        this.token = grant.token;
      }
    } catch (err) {
      this.appPhase = "prejoin";
      if (err instanceof ApiFailure) throw new Error(err.message);
      throw err;
    }
    this.prejoin?.destroy();
    this.prejoin = null;
    this.startCall();
  }

  private startCall(): void {
    const token = this.token;
    if (!token) return;
    const call = new Call(token, this.local, this.meter, (end) => this.onCallEnd(call, end));
    this.call = call;
    call.mount(this.root);
  }

  private onCallEnd(call: Call, end: CallEnd): void {
    // Keep the ended call reachable for the test hooks (its logs), but free the devices.
    this.appPhase = end.phase;
    this.local.stop();
    this.meter.setTrack(null);
    const rejoin = async () => {
      if (this.call !== call) return;
      this.call = null;
      this.appPhase = "joining";
      this.root.replaceChildren(connectingScreen());
      await this.acquireDevices();
      this.startCall();
    };
    const freshJoin = () => {
      if (this.params.invite) forgetGrant(this.params.invite);
      this.token = this.params.token;
      this.call = null;
      this.showPrejoin();
    };
    const student = !!this.params.invite;
    if (end.phase === "left") {
      this.root.replaceChildren(
        messageScreen({
          testid: "left-screen",
          title: "You left the class",
          text: "You can rejoin while the class is still going.",
          actions: [{ label: "Rejoin", primary: true, run: () => void rejoin(), testid: "rejoin" }],
        }),
      );
      return;
    }
    const code = end.code ?? "internal";
    const text = ERROR_TEXT[code];
    switch (code) {
      case "removed":
      case "denied":
        if (this.params.invite) forgetGrant(this.params.invite);
        this.show(code, code === "removed" ? "You were removed" : "You were not let in", text, []);
        break;
      case "replaced":
        this.show(code, "Opened somewhere else", text, [
          { label: "Use this tab instead", primary: true, run: () => void rejoin(), testid: "rejoin" },
        ]);
        break;
      case "room_locked":
        this.show(code, "The class is locked", text, [
          { label: "Try again", primary: true, run: () => void rejoin(), testid: "rejoin" },
        ]);
        break;
      case "invalid_token":
      case "token_expired":
        this.show(code, "This link no longer works", text, student ? [{ label: "Join again", primary: true, run: freshJoin }] : []);
        break;
      case "unsupported_version":
        this.show(code, "Update needed", text, [{ label: "Reload", primary: true, run: () => location.reload() }]);
        break;
      default:
        toast(text, "error");
        this.show(code, "Disconnected", text, [{ label: "Rejoin", primary: true, run: () => void rejoin(), testid: "rejoin" }]);
    }
  }

  private show(
    code: string,
    title: string,
    text: string,
    actions: Array<{ label: string; primary?: boolean; run: () => void; testid?: string }>,
  ): void {
    const el = messageScreen({ testid: "ended-screen", title, text, actions });
    el.dataset.code = code;
    this.root.replaceChildren(el);
  }
}

function storedName(): string | null {
  try {
    return localStorage.getItem(NAME_KEY);
  } catch {
    return null;
  }
}
