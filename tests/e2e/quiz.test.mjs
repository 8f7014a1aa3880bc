// A quiz in real Chromium pages through the real server: the teacher asks from the class
// view, two students answer from theirs, the teacher's bar chart counts them live, a
// second answer changes nothing, students see neither the right answer nor each other's
// answers before the reveal, and after it each sees the results and its own verdict.
// Then engagement: a student who hides its tab and turns its camera off falls below the
// others on the teacher's heatmap, and the report shows the hidden time.

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { eventually, launchChromium, openClassPage, root, startServer, withParams } from './harness.mjs';

let server;
let browser;
const pages = {};
const outDir = path.join(root, 'tests/output');

before(async () => {
  server = await startServer();
  browser = await launchChromium();
  pages.teacher = await openClassPage(browser, withParams(server.ready.teacher_link, { autojoin: '1' }));
  pages.ana = await openClassPage(browser, withParams(server.ready.student_link, { autojoin: '1', name: 'Ana' }));
  pages.ben = await openClassPage(browser, withParams(server.ready.student_link, { autojoin: '1', name: 'Ben' }));
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

const snapshot = (page) => page.evaluate(() => window.aula.state().snapshot);

test('a quiz asked from the class view is answered once per student and revealed', async () => {
  const t = pages.teacher;
  await t.locator('[data-testid=quiz-new]').click();
  await t.locator('[data-testid=quiz-prompt]').fill('2 + 2 = ?');
  await t.locator('[data-testid=quiz-options]').fill('3\n4\n5');
  await t.locator('[data-testid=quiz-right]').fill('2');
  await t.locator('[data-testid=quiz-start]').click();
  const quiz = await eventually(async () => (await snapshot(t)).quizzes[0], { what: 'the quiz at the teacher' });
  const id = quiz.info.id;
  assert.deepEqual(quiz.info.question.correct, [1]);

  // Students see the question without its answer.
  for (const s of [pages.ana, pages.ben]) {
    const q = await eventually(async () => (await snapshot(s)).quizzes[0], { what: 'the quiz at a student' });
    assert.deepEqual(q.info.question.correct, [], 'no right answer before the reveal');
  }
  await pages.ana.locator(`[data-testid=quiz-choice-${id}-1]`).click();
  await pages.ben.locator(`[data-testid=quiz-choice-${id}-2]`).click();

  // The teacher's chart counts both, live.
  await eventually(async () => (await t.locator(`[data-testid=quiz-${id}]`).getAttribute('data-answered')) === '2', { what: 'two answers on the teacher chart' });
  const counts = await t.locator(`[data-testid=quiz-${id}] [data-testid=quiz-bars] li`).evaluateAll((els) => els.map((e) => Number(e.dataset.count)));
  assert.deepEqual(counts, [0, 1, 1]);
  mkdirSync(outDir, { recursive: true });
  await t.screenshot({ path: path.join(outDir, 'quiz-teacher.png') });

  // A second answer from Ana is acked and changes nothing.
  const again = await pages.ana.evaluate((quiz) => window.aula.command({ kind: 'answer_quiz', quiz, answer: { choices: [0] } }), id);
  assert.equal(again.type, 'ack');
  await t.evaluate(() => window.aula.command({ kind: 'set_waiting_room', enabled: false }));
  const teacherQuiz = (await snapshot(t)).quizzes[0];
  assert.equal(teacherQuiz.answered, 2);
  assert.deepEqual(teacherQuiz.answers.map((a) => a.answer.choices), [[1], [2]]);
  assert.ok(teacherQuiz.answers.every((a) => a.response_ms >= 0 && a.member));

  // Ben holds only his own answer.
  const benQuiz = (await snapshot(pages.ben)).quizzes[0];
  assert.equal(benQuiz.answers.length, 1);
  assert.deepEqual(benQuiz.answers[0].answer.choices, [2]);
  await eventually(async () => (await pages.ben.locator('[data-testid=quiz-sent]').count()) === 1, { what: "Ben's 'answer sent'" });

  await t.locator(`[data-testid=quiz-reveal-${id}]`).click();
  for (const [page, verdict] of [[pages.ana, 'You were right.'], [pages.ben, 'Not this time.']]) {
    await eventually(async () => {
      const q = (await snapshot(page)).quizzes[0];
      return q.results && q.results.answered === 2 && q.results.right === 1 && q.info.question.correct[0] === 1;
    }, { what: 'the results at a student' });
    await eventually(async () => (await page.locator('[data-testid=quiz-verdict]').textContent()) === verdict, { what: `the verdict "${verdict}"` });
  }
  // Closed by the reveal: a newcomer's answer is refused with a typed error.
  const cid = await openClassPage(browser, withParams(server.ready.student_link, { autojoin: '1', name: 'Cid' }));
  const late = await cid.evaluate((quiz) => window.aula.command({ kind: 'answer_quiz', quiz, answer: { choices: [1] } }), id);
  assert.equal(late.type, 'error');
  assert.equal(late.code, 'invalid_command');
  await cid.context().close();
});

test('a student with its tab hidden and camera off falls below the others on the heatmap', async () => {
  const [t, a, b] = [pages.teacher, pages.ana, pages.ben];
  const ids = { ana: await a.evaluate(() => window.aula.state().me.id), ben: await b.evaluate(() => window.aula.state().me.id) };
  assert.equal(await b.locator('[data-testid=tracking-notice]').isVisible(), true, 'students are told tracking is on');
  await b.locator('[data-testid=ctl-cam]').click();
  await b.evaluate(() => {
    Object.defineProperty(document, 'visibilityState', { get: () => 'hidden', configurable: true });
    Object.defineProperty(document, 'hidden', { get: () => true, configurable: true });
    document.dispatchEvent(new Event('visibilitychange'));
  });
  await eventually(async () => {
    const m = (await snapshot(t)).members.find((x) => x.id === ids.ben);
    return m && m.tab_visible === false;
  }, { what: "Ben's hidden tab at the teacher" });
  await a.locator('[data-testid=chat-input]').fill('Can we do another one?');
  await a.locator('[data-testid=chat-send]').click();
  await new Promise((r) => setTimeout(r, 1500));
  const report = await t.evaluate(() => window.aula.refreshEngagement());
  const row = (id) => report.students.find((s) => s.member === id);
  assert.ok(row(ids.ana).score > row(ids.ben).score, `Ana ${row(ids.ana).score} > Ben ${row(ids.ben).score}`);
  assert.ok(row(ids.ben).hidden_ms >= 1000, `Ben's hidden time ${row(ids.ben).hidden_ms} ms`);
  assert.ok(row(ids.ben).camera_ms < row(ids.ana).camera_ms);
  // The heatmap shows both, sorted lowest first, with the scores of the report.
  await t.locator('[data-testid=heatmap] summary').click();
  await eventually(async () => (await t.locator(`[data-testid=heat-${ids.ben}]`).count()) === 1, { what: 'heatmap cells' });
  const cells = await t.locator('[data-testid=heatmap-grid] .heat-cell').evaluateAll((els) => els.map((e) => Number(e.dataset.score)));
  assert.deepEqual(cells, [...cells].sort((x, y) => x - y), 'lowest first');
  await t.locator(`[data-testid=heat-${ids.ben}]`).click();
  assert.match(await t.locator('[data-testid=heatmap-detail]').textContent(), /hidden/);
  await t.screenshot({ path: path.join(outDir, 'heatmap.png') });
});

test('the class report exports to CSV and PDF with the right students, times and answers', async () => {
  const teacherToken = new URL(server.ready.teacher_link).searchParams.get('token');
  const url = `${server.base}/api/classes/${server.ready.class_id}/report`;
  const get = (format) => fetch(`${url}?format=${format}`, { headers: { authorization: `Bearer ${teacherToken}` } });
  const ids = { ana: await pages.ana.evaluate(() => window.aula.state().me.id), ben: await pages.ben.evaluate(() => window.aula.state().me.id) };

  // CSV: parsed, one row per student, the answers under the quiz's column.
  const csvRes = await get('csv');
  assert.equal(csvRes.status, 200);
  const rows = parseCsv(await csvRes.text());
  const header = rows[0];
  const col = (name) => header.indexOf(name);
  const answerCol = header.findIndex((h) => h.startsWith('quiz 1: 2 + 2 = ?'));
  assert.ok(answerCol > 0, `a column for the quiz: ${header}`);
  const row = (id) => rows.find((r) => r[col('member')] === id);
  assert.equal(row(ids.ana)[col('name')], 'Ana');
  assert.equal(row(ids.ana)[answerCol], '4');
  assert.equal(row(ids.ben)[answerCol], '5');
  assert.equal(row(ids.ana)[col('quizzes_right')], '1');
  assert.ok(Number(row(ids.ben)[col('hidden_s')]) >= 1, 'hidden time in seconds');
  assert.ok(Number(row(ids.ana)[col('present_s')]) > Number(row(ids.ben)[col('hidden_s')]));
  assert.ok(Number(row(ids.ana)[col('score')]) > Number(row(ids.ben)[col('score')]));

  // PDF: read back with pdftotext.
  const pdfRes = await get('pdf');
  assert.equal(pdfRes.headers.get('content-type'), 'application/pdf');
  mkdirSync(outDir, { recursive: true });
  const file = path.join(outDir, 'report.pdf');
  writeFileSync(file, Buffer.from(await pdfRes.arrayBuffer()));
  const text = execFileSync('pdftotext', ['-layout', file, '-']).toString();
  assert.match(text, /attendance and engagement/);
  assert.match(text, /Ana/);
  assert.match(text, /Ben/);
  assert.match(text, /Quiz 1: 2 \+ 2 = \? \(single choice, 2 answered\)/);
  assert.match(text, /2\. 4 \(right\)/);
  const anaLine = text.split('\n').find((l) => /^\s*Ana\b/.test(l));
  // Times and the score move with the clock between the two downloads; the quiz count
  // does not.
  assert.ok(anaLine && /\s1\/1\s/.test(anaLine), `Ana's row: 1 answered, 1 right: ${anaLine}`);
  const pdfScore = (name) => Number(text.split('\n').find((l) => new RegExp(`^\\s*${name}\\b`).test(l)).trim().split(/\s+/).at(-1));
  assert.ok(pdfScore('Ana') > pdfScore('Ben'), 'the PDF ranks the scores as the CSV does');
});

test('a roster student joins from its personal link as itself, and the weekly report counts it', async () => {
  const teacherToken = new URL(server.ready.teacher_link).searchParams.get('token');
  const api = (p, init = {}) => fetch(`${server.base}/api/classes/${server.ready.class_id}${p}`, {
    ...init,
    headers: { authorization: `Bearer ${teacherToken}`, 'content-type': 'application/json' },
  });
  const res = await api('/roster', { method: 'POST', body: JSON.stringify({ students: [{ name: 'Dora Reis', email: 'dora@school.test' }, { name: 'Eli' }] }) });
  assert.equal(res.status, 200);
  const roster = await res.json();
  const dora = roster.find((r) => r.name === 'Dora Reis');
  // The pre-join screen names her instead of asking.
  const look = await openClassPage(browser, dora.student_link, { expectPhase: 'prejoin' });
  await eventually(() => look.evaluate(() => document.body.innerText.includes('Ready to join, Dora Reis?')), { what: 'the personal pre-join heading' });
  assert.equal(await look.evaluate(() => document.querySelectorAll('input[type=text]').length), 0, 'no name asked');
  await look.context().close();
  // Joining (with any name typed) makes her the roster member.
  const page = await openClassPage(browser, withParams(dora.student_link, { autojoin: '1', name: 'Someone Else' }));
  const me = await eventually(() => page.evaluate(() => window.aula.state().me), { what: 'Dora in the class' });
  assert.deepEqual([me.id, me.name], [dora.member_id, 'Dora Reis']);
  const weeks = await (await api('/report?period=week&utc_offset_min=0')).json();
  const week = weeks.at(-1);
  const row = (id) => week.students.find((s) => s.member === id);
  assert.equal(row(dora.member_id).sessions_attended, 1);
  assert.ok(row(dora.member_id).on_roster);
  const eli = roster.find((r) => r.name === 'Eli');
  assert.deepEqual([row(eli.member_id).sessions_attended, row(eli.member_id).attendance_pct], [0, 0], 'Eli never came');
  await page.context().close();
});

/** RFC 4180 CSV: quoted fields, doubled quotes, commas and newlines inside quotes. */
function parseCsv(text) {
  const rows = [];
  let row = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') { field += '"'; i++; } else if (c === '"') quoted = false; else field += c;
    } else if (c === '"') quoted = true;
    else if (c === ',') { row.push(field); field = ''; } else if (c === '\n') { row.push(field); rows.push(row); row = []; field = ''; } else if (c !== '\r') field += c;
  }
  if (field || row.length) { row.push(field); rows.push(row); }
  return rows;
}
