// The whiteboard, chat and hands in real Chromium pages through the real server:
// - a teacher and two students draw on one page at once with the mouse and keyboard (pen
//   strokes, a shape, text, an erase, an undo); afterwards all three hold the same board,
//   serialised and pixel for pixel;
// - a stroke shows on other screens while it is still being drawn;
// - chat (class-wide and private), the raised-hands queue, deleting and reactions;
// - a student cut off while others draw and chat (and who keeps drawing itself) comes back
//   with the same board, chat and hands as everyone, no event lost or applied twice;
// - a page exported to PNG and PDF holds the board's pixels (read back with pdftoppm and
//   pdfimages).

import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { eventually, launchChromium, openClassPage, root, startCutProxy, startServer, withParams } from './harness.mjs';

let server;
let browser;
let proxy;
const pages = {};
const outDir = path.join(root, 'tests/output');

before(async () => {
  server = await startServer();
  browser = await launchChromium();
  proxy = await startCutProxy(server.ready.http);
  const studentLink = server.ready.student_link;
  pages.teacher = await openClassPage(browser, withParams(server.ready.teacher_link, { autojoin: '1' }));
  pages.ana = await openClassPage(browser, withParams(studentLink, { autojoin: '1', name: 'Ana' }));
  pages.ben = await openClassPage(browser, withParams(studentLink.replace(server.base, proxy.url), { autojoin: '1', name: 'Ben' }));
  for (const p of Object.values(pages)) await p.setViewportSize({ width: 1280, height: 800 });
});

after(async () => {
  await browser?.close();
  proxy?.close();
  await server?.stop();
});

const all = () => Object.values(pages);
const me = (page) => page.evaluate(() => window.aula.state().me.id);
const board = (page) => page.evaluate(() => window.aula.board());
const hash = (page) => page.evaluate(() => window.aula.boardHash());
const snapshot = (page) => page.evaluate(() => window.aula.state().snapshot);

/** JSON with sorted keys, so equal states compare equal whatever the key order. */
function canonical(v) {
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  if (v && typeof v === 'object') {
    return `{${Object.keys(v).sort().filter((k) => v[k] !== undefined).map((k) => `${JSON.stringify(k)}:${canonical(v[k])}`).join(',')}}`;
  }
  return JSON.stringify(v);
}

/** Page units (1920×1080) → the page's screen coordinates over the board canvas. */
async function mapper(page) {
  const box = await page.locator('[data-testid=board-canvas]').boundingBox();
  const fit = Math.min(box.width / 1920, box.height / 1080);
  const ox = box.x + (box.width - 1920 * fit) / 2;
  const oy = box.y + (box.height - 1080 * fit) / 2;
  return (x, y) => [ox + x * fit, oy + y * fit];
}

async function stroke(page, pts, { steps = 4 } = {}) {
  const at = await mapper(page);
  await page.locator('[data-testid=board-canvas]').focus();
  await page.keyboard.press('p');
  await page.mouse.move(...at(...pts[0]));
  await page.mouse.down();
  for (const p of pts.slice(1)) await page.mouse.move(...at(...p), { steps });
  await page.mouse.up();
}

async function drag(page, key, from, to) {
  const at = await mapper(page);
  await page.locator('[data-testid=board-canvas]').focus();
  await page.keyboard.press(key);
  await page.mouse.move(...at(...from));
  await page.mouse.down();
  await page.mouse.move(...at(...to), { steps: 6 });
  await page.mouse.up();
}

async function click(page, key, p) {
  const at = await mapper(page);
  await page.locator('[data-testid=board-canvas]').focus();
  await page.keyboard.press(key);
  await page.mouse.click(...at(...p));
}

/** Every page has no own edit in flight and the same last event. */
async function settled() {
  return eventually(async () => {
    const s = await Promise.all(all().map((p) => p.evaluate(() => [window.aula.boardPending(), window.aula.state().lastSeq, window.aula.state().phase])));
    return s.every(([pending, seq, phase]) => pending === 0 && seq === s[0][1] && phase === 'joined') && s;
  }, { what: 'boards to settle', timeout: 30_000 });
}

async function assertSameEverywhere(what) {
  await settled();
  const boards = await Promise.all(all().map(board));
  const texts = boards.map(canonical);
  assert.equal(texts[1], texts[0], `${what}: Ana's board equals the teacher's`);
  assert.equal(texts[2], texts[0], `${what}: Ben's board equals the teacher's`);
  const hashes = await Promise.all(all().map(hash));
  assert.ok(hashes[0], 'a hash');
  assert.deepEqual(hashes, [hashes[0], hashes[0], hashes[0]], `${what}: same pixels everywhere`);
  return boards[0];
}

test('a teacher and two students draw at once and end with the same board', async () => {
  await pages.teacher.selectOption('[data-testid=draw-policy]', 'everyone');
  await eventually(() => pages.ben.evaluate(() => window.aula.board()?.draw === 'everyone'), { what: 'permission to reach Ben' });
  const ids = { teacher: await me(pages.teacher), ana: await me(pages.ana), ben: await me(pages.ben) };
  await Promise.all([
    (async () => {
      const t = pages.teacher;
      await stroke(t, [[100, 100], [300, 200], [500, 120], [700, 260]]);
      await drag(t, 'r', [800, 100], [1100, 400]);
      // A stroke and its undo.
      await stroke(t, [[100, 900], [600, 950]]);
      await t.waitForFunction(() => window.aula.boardPending() === 0);
      await t.keyboard.press('Control+z');
    })(),
    (async () => {
      const a = pages.ana;
      await stroke(a, [[200, 500], [400, 450], [600, 650], [800, 500]]);
      await click(a, 't', [1200, 600]);
      await a.locator('[data-testid=board-text-input]').fill('Photosynthesis');
      await a.keyboard.press('Enter');
      await drag(a, 'o', [1300, 700], [1600, 900]);
    })(),
    (async () => {
      const b = pages.ben;
      await stroke(b, [[300, 300], [900, 320], [1500, 300]]);
      await stroke(b, [[1000, 800], [1400, 1000]]);
      await b.waitForFunction(() => window.aula.boardPending() === 0);
      // The stroke eraser, on the second stroke.
      await click(b, 'e', [1200, 900]);
    })(),
  ]);
  const b = await assertSameEverywhere('after drawing at once');
  const items = b.pages[0].items;
  const by = (who, tool) => items.filter((i) => i.author === ids[who] && i.tool === tool).length;
  assert.equal(by('teacher', 'pen'), 1, "the teacher's undone stroke is gone, the first stays");
  assert.equal(by('teacher', 'rect'), 1);
  assert.equal(by('ana', 'pen'), 1);
  assert.equal(by('ana', 'ellipse'), 1);
  assert.equal(items.find((i) => i.tool === 'text')?.text, 'Photosynthesis');
  assert.equal(by('ben', 'pen'), 1, "Ben's erased stroke is gone");
  assert.ok(items.every((i) => !i.open), 'every stroke closed');
  for (const i of items.filter((x) => x.tool === 'pen')) assert.ok(i.points.length >= 9, 'strokes carry many points');
  mkdirSync(outDir, { recursive: true });
  await pages.ana.screenshot({ path: path.join(outDir, 'board-student.png') });
  // A late joiner's snapshot from the server equals the live replicas.
  const late = await openClassPage(browser, withParams(server.ready.student_link, { autojoin: '1', name: 'Late' }));
  try {
    assert.equal(canonical(await board(late)), canonical(b), "a late joiner's snapshot equals the board");
    assert.equal(await hash(late), await hash(pages.teacher));
  } finally {
    await late.evaluate(() => window.aula.leave());
    await late.context().close();
  }
});

test('other screens show a stroke while it is being drawn', async () => {
  const t = pages.teacher;
  const at = await mapper(t);
  await t.locator('[data-testid=board-canvas]').focus();
  await t.keyboard.press('p');
  await t.mouse.move(...at(100, 700));
  await t.mouse.down();
  await t.mouse.move(...at(400, 760), { steps: 10 });
  const teacher = await me(t);
  const growing = await eventually(async () => {
    const bd = await board(pages.ana);
    const open = bd.pages[0].items.find((i) => i.open && i.author === teacher);
    return open && open.points.length >= 6 && open;
  }, { what: 'an open stroke with points on Ana' });
  await t.mouse.move(...at(700, 700), { steps: 10 });
  await eventually(async () => {
    const bd = await board(pages.ana);
    const it = bd.pages[0].items.find((i) => i.id === growing.id);
    return it && it.open && it.points.length > growing.points.length;
  }, { what: 'the open stroke to grow on Ana' });
  await t.mouse.up();
  await assertSameEverywhere('after a live stroke');
});

test('chat, private messages, hands and reactions', async () => {
  const [t, a, b] = [pages.teacher, pages.ana, pages.ben];
  const ids = { ana: await me(a), ben: await me(b) };
  await a.locator('[data-testid=chat-input]').fill('Is this on the exam?');
  await a.locator('[data-testid=chat-send]').click();
  await a.selectOption('[data-testid=chat-to]', ids.ana);
  await a.locator('[data-testid=chat-input]').fill('I missed the last class');
  await a.locator('[data-testid=chat-send]').click();
  await b.locator('[data-testid=raise-hand]').click();
  await a.locator('[data-testid=raise-hand]').click();
  await b.locator('[data-testid=react-clap]').click();
  await eventually(async () => (await snapshot(t)).hands.length === 2 && (await snapshot(t)).chat.length >= 2, { what: 'chat and hands at the teacher' });
  const ts = await snapshot(t);
  assert.deepEqual(ts.hands, [ids.ben, ids.ana], 'hands queue in raise order');
  assert.deepEqual(ts.chat.map((m) => m.text), ['Is this on the exam?', 'I missed the last class']);
  await eventually(async () => (await t.locator('[data-testid=chat-message]').count()) === 2, { what: 'the teacher to show both messages' });
  await eventually(() => t.evaluate(() => window.aula.reactions().some((r) => r.reaction === 'clap')), { what: "Ben's clap at the teacher" });
  // Ben sees the class-wide message only.
  await settled();
  const bs = await snapshot(b);
  assert.deepEqual(bs.chat.map((m) => m.text), ['Is this on the exam?']);
  assert.equal(await b.locator('[data-testid=chat-message]').count(), 1);
  // The teacher deletes the first message and lowers everyone's hand.
  await t.locator(`[data-testid=chat-delete-${ts.chat[0].id}]`).click();
  await t.locator('[data-testid=lower-all]').click();
  await eventually(async () => {
    const s = await snapshot(b);
    return s.hands.length === 0 && s.chat[0].deleted;
  }, { what: 'deletion and lowered hands to reach Ben' });
  // Chat off: a student's message is refused with a typed error.
  await t.locator('[data-testid=chat-toggle]').click();
  await eventually(async () => (await snapshot(a)).settings.chat_enabled === false, { what: 'chat off at Ana' });
  const reply = await a.evaluate(() => window.aula.command({ kind: 'send_chat', text: 'hello?', private_with: null }));
  assert.equal(reply.code, 'forbidden');
  await t.locator('[data-testid=chat-toggle]').click();
  await eventually(async () => (await snapshot(a)).settings.chat_enabled === true, { what: 'chat on again' });
});

test('a student cut off while others draw comes back with everything, once', async () => {
  const [t, a, b] = [pages.teacher, pages.ana, pages.ben];
  const seqBefore = await b.evaluate(() => window.aula.state().lastSeq);
  proxy.cut();
  await eventually(() => b.evaluate(() => window.aula.state().phase !== 'joined'), { what: 'Ben to notice the cut' });
  await Promise.all([
    stroke(t, [[1500, 100], [1800, 300], [1600, 500]]),
    stroke(a, [[50, 1000], [500, 1050]]),
    // Ben keeps drawing offline: his stroke is queued and sent on reconnect.
    stroke(b, [[1700, 800], [1900, 1000]]),
  ]);
  await t.evaluate(() => window.aula.command({ kind: 'send_chat', text: 'While Ben was away', private_with: null }));
  await a.evaluate(() => window.aula.command({ kind: 'raise_hand' }));
  await drag(t, 'a', [200, 200], [600, 400]);
  proxy.restore();
  await eventually(() => b.evaluate(() => window.aula.state().phase === 'joined'), { what: 'Ben to reconnect', timeout: 45_000 });
  const board0 = await assertSameEverywhere('after the reconnect');
  const benId = await me(b);
  assert.ok(board0.pages[0].items.some((i) => i.author === benId && i.points[0] === 1700), "Ben's offline stroke reached everyone");
  const [ts, as, bs] = await Promise.all([t, a, b].map(snapshot));
  // Ben's replica holds the same chat (minus private lines) and hands as the others.
  assert.deepEqual(bs.hands, ts.hands);
  assert.deepEqual(bs.chat, as.chat.filter((m) => !m.private_with), "Ben's chat is Ana's without her private line");
  assert.deepEqual(bs.chat, ts.chat.filter((m) => !m.private_with), "Ben's chat is the teacher's without private lines");
  assert.ok(bs.chat.some((m) => m.text === 'While Ben was away'));
  // Resumed, not re-snapshotted: Ben's event log after the cut is gap-free and each seq
  // was applied once.
  // Every event received, in arrival order and with nothing removed: a duplicate or a
  // reordering fails here as surely as a gap.
  const log = await b.evaluate(() => window.aula.eventLog().map((e) => e.seq));
  const after = log.filter((s) => s > seqBefore);
  assert.ok(after.length > 5, 'events arrived after the cut');
  after.forEach((s, i) => assert.equal(s, seqBefore + 1 + i, `event ${i} after the cut is seq ${seqBefore + 1 + i}, once`));
  // Presence (who speaks) goes on meanwhile, so the logs meet again rather than stand still.
  await eventually(async () => (await snapshot(b)).seq === (await snapshot(t)).seq, { what: "Ben's log to reach the teacher's" });
});

test('a page exports to PNG and PDF with the board\'s pixels', async () => {
  mkdirSync(outDir, { recursive: true });
  const t = pages.teacher;
  const png = Buffer.from(await t.evaluate(() => window.aula.exportBoard('png')), 'base64');
  const pdf = Buffer.from(await t.evaluate(() => window.aula.exportBoard('pdf')), 'base64');
  const pngFile = path.join(outDir, 'board.png');
  const pdfFile = path.join(outDir, 'board.pdf');
  writeFileSync(pngFile, png);
  writeFileSync(pdfFile, pdf);
  assert.equal(execFileSync('identify', ['-format', '%w %h', pngFile]).toString(), '1920 1080');
  // Not blank: count the pixels that are not (nearly) white.
  const inked = Number(execFileSync('convert', [pngFile, '-colorspace', 'Gray', '-threshold', '95%', '-format', '%[fx:(1-mean)*w*h]', 'info:']).toString());
  assert.ok(inked > 5000, `the page has drawing on it (${inked} inked pixels)`);
  const info = execFileSync('pdfinfo', [pdfFile]).toString();
  assert.match(info, /Pages:\s+1/);
  const prefix = path.join(outDir, 'board-pdf');
  execFileSync('pdftoppm', ['-png', '-r', '144', '-singlefile', pdfFile, prefix]);
  const fromPdf = `${prefix}.png`;
  assert.equal(execFileSync('identify', ['-format', '%w %h', fromPdf]).toString(), '1920 1080');
  // compare prints its metric on stderr (and exits 1 when the images differ).
  const metric = (args) => spawnSync('compare', args, { encoding: 'utf8' }).stderr;
  // Poppler's rasteriser resamples images slightly, so its render is compared for
  // likeness; the image the PDF embeds must be the PNG's pixels exactly.
  const psnr = Number.parseFloat(metric(['-metric', 'PSNR', pngFile, fromPdf, 'null:']));
  assert.ok(psnr > 25, `pdftoppm's render looks like the PNG (PSNR ${psnr} dB)`);
  execFileSync('pdfimages', ['-png', pdfFile, prefix]);
  const exact = Number.parseFloat(metric(['-metric', 'AE', pngFile, `${prefix}-000.png`, 'null:']));
  assert.equal(exact, 0, 'the PDF embeds exactly the PNG\'s pixels');
  // And the PNG is the page as the board shows it: the same hash as every screen.
  const pixels = await t.evaluate(async (b64) => {
    const img = await createImageBitmap(new Blob([Uint8Array.from(atob(b64), (c) => c.charCodeAt(0))]), { colorSpaceConversion: 'none', premultiplyAlpha: 'none' });
    const c = new OffscreenCanvas(img.width, img.height).getContext('2d');
    c.drawImage(img, 0, 0);
    const d = c.getImageData(0, 0, img.width, img.height).data;
    const digest = await crypto.subtle.digest('SHA-256', d);
    return [...new Uint8Array(digest)].map((x) => x.toString(16).padStart(2, '0')).join('');
  }, png.toString('base64'));
  assert.equal(pixels, await hash(t), 'the exported PNG decodes to the hashed pixels');
});
