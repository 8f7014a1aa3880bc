// Picks the active speaker from audio levels sampled a few times a second. Pure, so the
// hysteresis can be unit-tested: without it the highlight flickers between pauses.

export interface SpeakerOptions {
  /** Level (0..1) a member must exceed to count as speaking. */
  threshold: number;
  /** How long the highlight stays after the speaker goes quiet. */
  holdMs: number;
  /** A new speaker takes over only when louder than the current one by this factor. */
  switchRatio: number;
}

const DEFAULTS: SpeakerOptions = { threshold: 0.03, holdMs: 900, switchRatio: 1.3 };

export class SpeakerDetector {
  private current: string | null = null;
  private lastHeard = 0;
  private readonly opts: SpeakerOptions;

  constructor(opts: Partial<SpeakerOptions> = {}) {
    this.opts = { ...DEFAULTS, ...opts };
  }

  /** Feeds one sample of every member's level; returns who is highlighted now. */
  update(levels: ReadonlyMap<string, number>, nowMs: number): string | null {
    let loudest: string | null = null;
    let max = this.opts.threshold;
    for (const [id, level] of levels) {
      if (level > max) {
        max = level;
        loudest = id;
      }
    }
    const currentLevel = this.current ? (levels.get(this.current) ?? 0) : 0;
    if (this.current && currentLevel > this.opts.threshold) this.lastHeard = nowMs;

    if (loudest && loudest !== this.current) {
      const currentQuiet = nowMs - this.lastHeard > this.opts.holdMs;
      if (!this.current || currentQuiet || max > currentLevel * this.opts.switchRatio) {
        this.current = loudest;
        this.lastHeard = nowMs;
      }
    } else if (this.current && nowMs - this.lastHeard > this.opts.holdMs) {
      this.current = null;
    }
    return this.current;
  }
}
