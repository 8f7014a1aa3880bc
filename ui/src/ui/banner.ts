// The connection banner across the top of the class screen. It stays until the session is
// back, because the user needs to know the grid may be stale meanwhile.

import { h, setText } from "./dom";
import { icon } from "./icons";

export class ConnectionBanner {
  readonly el: HTMLElement;
  private readonly title: HTMLElement;
  private readonly detail: HTMLElement;
  private readonly retry: HTMLButtonElement;

  constructor(onRetry: () => void) {
    this.title = h("strong", { class: "banner-title" });
    this.detail = h("span", { class: "banner-detail" });
    this.retry = h("button", { class: "btn btn-small", type: "button", onclick: onRetry }, "Retry now");
    this.el = h(
      "div",
      { class: "banner", role: "alert", hidden: true, "data-testid": "connection-banner" },
      icon("wifiOff"),
      h("div", { class: "banner-text" }, this.title, this.detail),
      this.retry,
    );
  }

  reconnecting(reason: string, attempt: number): void {
    setText(this.title, "Reconnecting…");
    setText(this.detail, `${reason} · attempt ${attempt}`);
    this.retry.hidden = false;
    this.el.hidden = false;
  }

  notice(title: string, detail: string): void {
    setText(this.title, title);
    setText(this.detail, detail);
    this.retry.hidden = true;
    this.el.hidden = false;
  }

  hide(): void {
    this.el.hidden = true;
  }
}
