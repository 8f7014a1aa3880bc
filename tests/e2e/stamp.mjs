// Reading the frame stamp that aula-media's synthetic pattern draws (see its `stamp`
// module) back out of received video in a Chromium page: used by the end-to-end tests
// and the glass-to-glass benchmark.

// In-page: reads the frame stamp the synthetic source draws (see aula-media's `stamp`
// module) from a received video track, `samples` times.
export async function readStamps(page, trackId, samples) {
  return page.evaluate(async ({ trackId, samples }) => {
    const rt = window.aula.receivedTracks().find((t) => t.trackId === trackId);
    if (!rt) throw new Error(`no received track ${trackId}`);
    const video = document.createElement('video');
    video.muted = true;
    video.srcObject = new MediaStream([rt.track]);
    await video.play();
    const canvas = document.createElement('canvas');
    const ctx = canvas.getContext('2d', { willReadFrequently: true });
    const out = [];
    for (let i = 0; i < samples; i++) {
      const shownAt = await new Promise((resolve) =>
        video.requestVideoFrameCallback((now) => resolve(performance.timeOrigin + now)));
      const w = video.videoWidth;
      const h = video.videoHeight;
      canvas.width = w;
      canvas.height = h;
      ctx.drawImage(video, 0, 0, w, h);
      const img = ctx.getImageData(0, 0, w, h).data;
      out.push({ stamp: window.__aulaReadStamp(img, w, h), shownAt, w, h });
    }
    video.srcObject = null;
    return out;
  }, { trackId, samples });
}

// The JavaScript twin of aula_media::stamp::read_stamp_from_luma, installed in the page.
export function installStampReader() {
  return () => {
    window.__aulaReadStamp = (rgba, w, h) => {
      const cols = 64;
      const bw = Math.floor(w / cols);
      const bh = Math.max(8, Math.floor(h / 24));
      const bit = (row, i) => {
        let sum = 0;
        let n = 0;
        const x0 = i * bw + Math.floor(bw / 4);
        const y0 = row * bh + Math.floor(bh / 4);
        for (let y = y0; y < y0 + Math.max(1, Math.floor(bh / 2)); y++) {
          for (let x = x0; x < x0 + Math.max(1, Math.floor(bw / 2)); x++) {
            const p = (y * w + x) * 4;
            sum += 0.299 * rgba[p] + 0.587 * rgba[p + 1] + 0.114 * rgba[p + 2];
            n++;
          }
        }
        return sum / n > 128 ? 1 : 0;
      };
      const bits = (row, from, count) => {
        let v = 0n;
        for (let i = from; i < from + count; i++) v = (v << 1n) | BigInt(bit(row, i));
        return v;
      };
      const counter = bits(0, 0, 32);
      const check = bits(0, 32, 32);
      if ((counter ^ check) !== 0xffffffffn) return null;
      const ts = bits(1, 0, 48);
      const sum = bits(1, 48, 16);
      let s = 0n;
      for (let k = 0n; k < 6n; k++) s += (ts >> (8n * k)) & 0xffn;
      if ((s & 0xffffn) !== sum) return null;
      return { counter: Number(counter), captureMs: Number(ts) };
    };
  };
}
