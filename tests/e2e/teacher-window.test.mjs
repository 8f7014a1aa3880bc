// The real teacher window (Tauri 2, WebKitGTK) under Xvfb, driven by tauri-driver and
// WebKitWebDriver:
// - it creates a class and goes live with the synthetic camera and tone;
// - a Chromium student joins and the teacher's grid shows the student's tile playing;
// - a stroke drawn and a chat line sent in the window reach the student, and the
//   student's raised hand reaches the window's queue;
// - a question saved to the app's question bank and asked from it reaches the student;
// - the window's heatmap scores the student and the report exports to a CSV file;
// - a screenshot of the live screen is taken with `import -window root`;
// - the teacher ends the class;
// - with the server stopped, the app starts again, lists the class from its local cache
//   and opens it, with its chat, its board and its attendance/engagement table drawn
//   from the cache, and exports that report as CSV offline.

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { eventually, launchChromium, openClassPage, root, startServer, withParams } from './harness.mjs';
import { teacherAppEnv } from './teacher.mjs';
import { appState, createClassAndGoLive, newSession, startTauriDriver, startXvfb, tilePlays } from './webdriver.mjs';

const appBin = process.env.AULA_TEACHER_BIN ?? path.join(root, 'target/debug/aula-teacher');
const outDir = path.join(root, 'tests/output');

let xvfb;
let server;
let browser;
let home;
let className;

const appEnv = () => teacherAppEnv(xvfb.display, home, server);

/** One run of the app: tauri-driver, a WebDriver session, and cleanup. */
async function withApp(fn) {
  const driver = await startTauriDriver(appEnv());
  let session;
  try {
    session = await newSession(driver.url, appBin);
    return await fn(session);
  } catch (e) {
    e.message += `\ntauri-driver/app logs:\n${driver.logs.join('').slice(-4000)}`;
    throw e;
  } finally {
    await session?.close();
    await driver.stop();
  }
}

const state = appState;

before(async () => {
  home = mkdtempSync(path.join(os.tmpdir(), 'aula-teacher-'));
  mkdirSync(outDir, { recursive: true });
  xvfb = await startXvfb();
  server = await startServer();
  browser = await launchChromium();
});

after(async () => {
  await browser?.close();
  await server?.stop();
  await xvfb?.stop();
  if (home) rmSync(home, { recursive: true, force: true });
});

test('the teacher window goes live, shows a student playing, and ends the class', async () => {
  className = `Window e2e ${Date.now()}`;
  await withApp(async (s) => {
    const link = await createClassAndGoLive(s, className);
    assert.match(link, /^http:\/\/127\.0\.0\.1:\d+\/.*invite=/);
    const qr = await s.exec("return document.querySelector('[data-testid=qr]').outerHTML.length;");
    assert.ok(qr > 200, 'the QR code is drawn');

    const student = await openClassPage(browser, withParams(link, { autojoin: '1', name: 'Ana' }));
    const studentId = await student.evaluate(() => window.aula.state().me.id);
    // The student's tile plays: frames keep arriving and the tile shows a picture.
    await tilePlays(s, studentId);
    // The teacher's camera reaches the student too.
    await eventually(async () => {
      const stats = await student.evaluate(() => window.aula.inboundStats());
      return stats.some((m) => m.framesDecoded > 5);
    }, { what: 'the student decoding the teacher app camera', timeout: 45_000 });

    // The board and chat in the window reach the student; the student's hand reaches the
    // window's queue.
    const canvas = await s.find('[data-testid=board-canvas]');
    const move = (x, y) => ({ type: 'pointerMove', duration: 30, origin: { 'element-6066-11e4-a52e-4f735466cecf': canvas }, x, y });
    await s.actions([{
      type: 'pointer', id: 'mouse', parameters: { pointerType: 'mouse' },
      actions: [move(-200, -40), { type: 'pointerDown', button: 0 }, move(-120, 0), move(-20, -30), move(80, 20), move(160, -20), { type: 'pointerUp', button: 0 }],
    }]);
    await s.type(await s.find('[data-testid=chat-input]'), 'Welcome to the board');
    await s.click(await s.find('[data-testid=chat-send]'));
    await student.evaluate(() => window.aula.command({ kind: 'raise_hand' }));
    const drawn = await eventually(async () => {
      const b = await student.evaluate(() => window.aula.board());
      const st = await student.evaluate(() => window.aula.state().snapshot);
      const stroke = b.pages[0].items.find((i) => i.tool === 'pen' && !i.open);
      return stroke && st.chat.some((m) => m.text === 'Welcome to the board') && b;
    }, { what: "the window's stroke and chat at the student" });
    assert.ok(drawn.pages[0].items[0].points.length >= 9, 'the stroke has its points');
    await eventually(async () => {
      const st = await state(s);
      const items = (b) => JSON.stringify(b.pages.map((p) => p.items.map((i) => [i.id, i.tool, i.z, i.points])));
      return items(st.snapshot.board) === items(drawn) && st.snapshot.hands.includes(studentId);
    }, { what: "the window's board to equal the student's and Ana's hand in its queue" });
    await eventually(() => s.exec(`return !!document.querySelector('[data-testid="hand-${studentId}"]');`), { what: 'the hand shown in the window' });

    // A question saved to the bank (the app's local cache) and asked from it reaches the
    // student.
    await s.click(await s.find('[data-testid=quiz-new]'));
    await s.type(await s.find('[data-testid=quiz-prompt]'), 'Is the sun a star?');
    await s.exec(`
      const k = document.querySelector('[data-testid=quiz-kind]');
      k.value = 'true_false';
      k.dispatchEvent(new Event('change', { bubbles: true }));`);
    await s.type(await s.find('[data-testid=quiz-right]'), '1');
    // The side panel scrolls; WebKitWebDriver does not scroll inner panels into view, so
    // these buttons are pressed from the page.
    const press = (css) => s.exec('const el = document.querySelector(arguments[0]); if (el) el.click(); return !!el;', [css]);
    assert.ok(await press('[data-testid=quiz-save]'));
    await press('[data-testid=quiz-bank] summary');
    await eventually(() => press('[data-testid^=bank-ask-]'), { what: 'the saved question in the bank, asked' });
    const asked = await eventually(async () => (await student.evaluate(() => window.aula.state().snapshot.quizzes))[0], { what: 'the banked question at the student' });
    assert.equal(asked.info.question.prompt, 'Is the sun a star?');
    assert.deepEqual(asked.info.question.options, ['True', 'False']);
    assert.deepEqual(asked.info.question.correct, [], 'the student does not get the answer');

    // The heatmap in the window scores the student, and the report exports to a file.
    await eventually(async () => (await state(s)).engagement?.students.some((x) => x.member === studentId), { what: 'the student on the window heatmap' });
    assert.ok(await press('[data-testid=report-csv]'));
    const reports = path.join(home, 'data', 'org.aula.teacher', 'reports');
    const csvFile = await eventually(() => {
      const f = existsSync(reports) && readdirSync(reports).find((n) => n.endsWith('.csv'));
      return f && path.join(reports, f);
    }, { what: 'the exported CSV report' });
    const csvText = readFileSync(csvFile, 'utf8');
    assert.match(csvText, /^member,name,/);
    assert.match(csvText, /Ana/);
    assert.match(csvText, /Is the sun a star\?/);

    // Every session by week: one PDF with the week's table and chart.
    await s.exec(`
      const p = document.querySelector('[data-testid=report-period]');
      p.value = 'week';
      p.dispatchEvent(new Event('change', { bubbles: true }));`);
    assert.ok(await press('[data-testid=report-pdf]'));
    const weekly = await eventually(() => {
      const f = existsSync(reports) && readdirSync(reports).find((n) => n.includes('-weekly-') && n.endsWith('.pdf'));
      return f && path.join(reports, f);
    }, { what: 'the exported weekly PDF' });
    const weeklyText = execFileSync('pdftotext', ['-layout', weekly, '-'], { encoding: 'utf8' });
    assert.match(weeklyText, /weekly attendance and engagement/);
    assert.match(weeklyText, /\d{4}-W\d{2} - 1 session/);
    assert.match(weeklyText, /Ana/);

    // The roster: a student added with an address gets a personal link, and the class
    // gets an attendance-alert threshold (both kept by the server).
    await s.exec("document.querySelector('[data-testid=roster]').open = true;");
    await s.exec(`
      const t = document.querySelector('[data-testid=roster-input]');
      t.value = 'Dora Reis, dora@school.test\\nFinn';
      document.querySelector('[data-testid=roster-add]').click();`);
    const dora = await eventually(async () => (await state(s)).roster?.students.find((r) => r.name === 'Dora Reis'), { what: 'Dora on the roster' });
    assert.equal(dora.email, 'dora@school.test');
    assert.match(dora.student_link, /\?invite=/);
    // Finn is taken off again: the server's roster is Dora's alone.
    const finn = (await state(s)).roster.students.find((r) => r.name === 'Finn');
    assert.ok(await s.exec('const b = document.querySelector(arguments[0]); b?.click(); return !!b;', [`[data-testid=roster-remove-${finn.member_id}]`]));
    await eventually(async () => (await state(s)).roster?.students.map((r) => r.name).join() === 'Dora Reis', { what: 'Finn off the roster' });
    await s.exec(`
      const t = document.querySelector('[data-testid=alert-threshold]');
      t.value = '75';
      document.querySelector('[data-testid=alert-save]').click();`);
    await eventually(async () => (await state(s)).roster?.alerts?.attendance_threshold_pct === 75, { what: 'the alert threshold saved' });

    // Two more students, one answering: the heatmap shows three, kept as a picture of
    // the real window under Xvfb (docs/heatmap.png is a copy of it).
    const more = [];
    for (const name of ['Ben', 'Cleo']) {
      const p = await openClassPage(browser, withParams(link, { autojoin: '1', name }));
      more.push(p);
    }
    await more[0].evaluate(async () => {
      const q = window.aula.state().snapshot.quizzes[0];
      await window.aula.command({ kind: 'answer_quiz', quiz: q.info.id, answer: { choices: [0] } });
    });
    await eventually(async () => (await state(s)).engagement?.students.length === 3, { what: 'three students on the window heatmap' });
    await s.exec(`
      const hm = document.querySelector('[data-testid=heatmap]');
      hm.open = true;
      hm.querySelector('[data-testid=heatmap-grid] > *')?.click();
      hm.scrollIntoView();`);
    // Toasts (the saved reports) last 6 s; the picture is of the panel alone.
    await eventually(() => s.exec("return !document.querySelector('.t-toast');"), { what: 'the toasts gone' });
    // WebKitGTK repaints the X window on its next frame, not when the DOM changes.
    await new Promise((r) => setTimeout(r, 1500));
    const heat = path.join(outDir, 'teacher-heatmap.png');
    execFileSync('import', ['-display', xvfb.display, '-window', 'root', heat]);
    assert.ok(statSync(heat).size > 10_000, 'a real screenshot');
    for (const p of more) await p.context().close();

    const shot = path.join(outDir, 'teacher-live.png');
    execFileSync('import', ['-display', xvfb.display, '-window', 'root', shot]);
    assert.ok(statSync(shot).size > 10_000, 'a real screenshot');

    await s.click(await s.find('[data-testid=end-class]'));
    await s.click(await s.find('[data-testid=confirm-end]'));
    await eventually(async () => (await state(s))?.screen === 'ended', { what: 'the class ended' });
    await eventually(async () => {
      const st = await student.evaluate(() => window.aula.state());
      const teacher = st.snapshot?.members.find((m) => m.role === 'teacher');
      return !teacher || !teacher.connected;
    }, { what: 'the student seeing the teacher gone' });
    await student.context().close();
  });
});

test('with the server stopped, the app lists past classes from its cache and opens one', async () => {
  await server.stop();
  await withApp(async (s) => {
    const item = await eventually(async () => {
      const items = await s.exec(
        "return [...document.querySelectorAll('[data-testid=class-item]')].map(e => e.textContent);");
      return items.find((t) => t.includes(className)) ? items : null;
    }, { what: 'the cached class in the list' });
    assert.ok(item.length >= 1);
    await s.exec(`
      const el = [...document.querySelectorAll('[data-testid=class-item]')].find(e => e.textContent.includes(arguments[0]));
      (el.querySelector('button, a') || el).click();`, [className]);
    await eventually(async () => {
      const n = await s.exec("return document.querySelectorAll('[data-testid=history-event]').length;");
      return n > 0;
    }, { what: 'the class history from the cache' });
    const text = await s.exec("return document.querySelector('[data-testid=history]').textContent;");
    assert.match(text, /Ana/, 'the history names the student who joined');
    assert.match(text, /Welcome to the board/, 'the history holds the chat');
    // The board as the class left it, drawn from the cache: the stroke's dark pixels.
    const inked = await eventually(() => s.exec(`
      const c = document.querySelector('[data-testid=history-board] canvas');
      if (!c || !c.width) return 0;
      const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
      let n = 0;
      for (let i = 0; i < d.length; i += 4) if (d[i] < 80 && d[i + 1] < 80 && d[i + 2] < 80) n++;
      return n;`), { what: 'the stroke on the history board' });
    assert.ok(inked > 50, `the cached board shows the stroke (${inked} dark pixels)`);
    // Attendance and engagement as last fetched while live, and its export, offline.
    const table = await s.exec("return document.querySelector('[data-testid=history-report]')?.textContent ?? '';");
    for (const name of ['Ana', 'Ben', 'Cleo']) assert.match(table, new RegExp(name), `${name} in the cached report`);
    const reports = path.join(home, 'data', 'org.aula.teacher', 'reports');
    const before = new Set(readdirSync(reports));
    assert.ok(await s.exec("const b = document.querySelector('[data-testid=history-report-csv]'); b?.click(); return !!b;"));
    const offline = await eventually(() => {
      const f = readdirSync(reports).find((n) => !before.has(n) && n.endsWith('.csv'));
      return f && path.join(reports, f);
    }, { what: 'the CSV exported with the server stopped' });
    const rows = readFileSync(offline, 'utf8').trim().split('\n');
    assert.match(rows[0], /^member,name,/);
    assert.ok(rows.some((r) => r.includes(',Cleo,')), 'the offline CSV holds the students');
  });
});
