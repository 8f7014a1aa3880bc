// Boot: read the link, start the app, expose the test hooks.
//   /?token=<member token>            a teacher's link
//   /?invite=<invite>                  a student's link (asks for a name)
//   &autojoin=1&name=<display name>    skip the pre-join screen (tests, kiosks)

import "./style.css";
import { App, type BootParams } from "./app";
import { installHooks } from "./hooks";

function params(): BootParams {
  const q = new URLSearchParams(location.search);
  const nonEmpty = (k: string) => {
    const v = q.get(k)?.trim();
    return v ? v : null;
  };
  return {
    token: nonEmpty("token"),
    invite: nonEmpty("invite"),
    autojoin: q.get("autojoin") === "1" || q.get("autojoin") === "true",
    name: nonEmpty("name"),
  };
}

const root = document.getElementById("app");
if (!root) throw new Error("index.html has no #app");
if (location.pathname === "/check") {
  // The connectivity check: its own small page, loaded only here.
  void import("./check/page").then((m) => m.startCheck(root));
} else if ("__TAURI_INTERNALS__" in window) {
  // The teacher app's window: its own UI, loaded only here so students never download it.
  void import("./teacher/app").then((m) => m.startTeacher(root));
} else {
  startBrowserClient(root);
}

function startBrowserClient(root: HTMLElement): void {
const app = new App(root, params());
installHooks(app);
// Start once the page has loaded: a <video> whose stream has no frames yet delays the
// load event, and with a camera that never comes (denied, missing) it would never fire.
if (document.readyState === "complete") void app.start();
else window.addEventListener("load", () => void app.start(), { once: true });
}
