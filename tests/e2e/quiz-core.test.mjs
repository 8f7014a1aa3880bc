// Quizzes with the teacher app's core as the class's host: the headless teacher core
// (aula-teacher-core, the same session code as the teacher window) asks a
// multiple-choice question with two right answers and then a short-answer question;
// three Chromium students answer from their class view; the core's replica and a
// co-teacher's browser view count the answers live and see the same final results; a
// second answer from the same student changes nothing; the co-teacher marks the short
// answers from the UI; the reveal reaches every student with its own verdict.

import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { eventually, launchChromium, openClassPage, root, startServer, withParams } from './harness.mjs';
import { startTeacherCore } from './teacher.mjs';

const coreBin = process.env.AULA_TEACHER_CORE_BIN ?? path.join(root, 'target/debug/aula-teacher-core');

let server;
let browser;
let core;
let coTeacher;
const students = {};

before(async () => {
  server = await startServer();
  browser = await launchChromium();
  core = startTeacherCore(coreBin, server, ['--title', 'Quiz class', '--screen', 'none', '--camera-size', '320x180']);
  await eventually(() => core.out.ready, { what: `the teacher core's class; logs:\n${core.out.logs.join('')}` });
  await eventually(() => core.out.stats?.link?.state === 'live', { what: 'the core to go live' });
  // A co-teacher link, so a browser teacher view is in the class beside the core.
  const { class_id: classId, teacher_token: token } = core.out.ready;
  const res = await fetch(`${server.base}/api/classes/${classId}/teachers`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ name: 'Assistant' }),
  });
  assert.equal(res.status, 200);
  const granted = await res.json();
  assert.equal(granted.role, 'teacher');
  coTeacher = await openClassPage(browser, `${server.base}/?token=${granted.token}&autojoin=1`);
  for (const name of ['Ana', 'Ben', 'Cleo']) {
    students[name] = await openClassPage(browser, withParams(core.out.ready.student_link, { autojoin: '1', name }));
  }
});

after(async () => {
  await core?.stop();
  await browser?.close();
  await server?.stop();
});

/** The core's quizzes, as its replica holds them. */
async function coreQuizzes() {
  const before = core.out.lines.length;
  core.send('quizzes');
  const line = await eventually(() => core.out.lines.slice(before).find((l) => l.quizzes), { what: "the core's quizzes" });
  return line.quizzes;
}

async function ask(question) {
  const id = `q-${question.kind}`;
  core.send({ command: { kind: 'start_quiz', quiz: id, question, time_limit_ms: null, anonymous: false } });
  for (const page of Object.values(students)) {
    const q = await eventually(async () => (await page.evaluate((id) => window.aula.state().snapshot.quizzes.find((x) => x.info.id === id), id)), { what: `${question.kind} at a student` });
    assert.deepEqual(q.info.question.correct, [], 'no right answers before the reveal');
  }
  return id;
}

const coTeacherQuiz = (id) => coTeacher.evaluate((id) => window.aula.state().snapshot.quizzes.find((x) => x.info.id === id), id);

test('three students answer a multiple-choice and a short-answer question; core and UI count live and agree', async () => {
  const { Ana, Ben, Cleo } = students;
  const ids = {};
  for (const [n, p] of Object.entries(students)) ids[n] = await p.evaluate(() => window.aula.state().me.id);

  // Multiple choice, two right answers (1 and 3).
  const mc = await ask({ prompt: 'Which are prime?', kind: 'multiple_choice', options: ['2', '4', '7', '9'], correct: [0, 2] });
  const pick = async (page, choices) => {
    for (const c of choices) await page.locator(`[data-testid=quiz-choice-${mc}-${c}]`).click();
    await page.locator(`[data-testid=quiz-submit-${mc}]`).click();
  };
  await pick(Ana, [0, 2]);
  // The live count, at the core and in the co-teacher's view, before everyone answered.
  await eventually(async () => (await coreQuizzes()).find((q) => q.info.id === mc)?.answered === 1, { what: 'one answer at the core' });
  await eventually(async () => (await coTeacher.locator(`[data-testid=quiz-${mc}]`).getAttribute('data-answered')) === '1', { what: 'one answer on the co-teacher chart' });
  await pick(Ben, [0]);
  await pick(Cleo, [1, 3]);
  await eventually(async () => (await coreQuizzes()).find((q) => q.info.id === mc)?.answered === 3, { what: 'three answers at the core' });
  await eventually(async () => (await coTeacher.locator(`[data-testid=quiz-${mc}]`).getAttribute('data-answered')) === '3', { what: 'three answers on the co-teacher chart' });
  const bars = await coTeacher.locator(`[data-testid=quiz-${mc}] [data-testid=quiz-bars] li`).evaluateAll((els) => els.map((e) => Number(e.dataset.count)));
  assert.deepEqual(bars, [2, 1, 1, 1]);

  // A second answer from Ana is acknowledged and changes nothing anywhere.
  const again = await Ana.evaluate((quiz) => window.aula.command({ kind: 'answer_quiz', quiz, answer: { choices: [3] } }), mc);
  assert.equal(again.type, 'ack');
  const atCore = (await coreQuizzes()).find((q) => q.info.id === mc);
  assert.equal(atCore.answered, 3);
  const byMember = Object.fromEntries(atCore.answers.map((a) => [a.member, a.answer.choices]));
  assert.deepEqual(byMember, { [ids.Ana]: [0, 2], [ids.Ben]: [0], [ids.Cleo]: [1, 3] });
  assert.deepEqual((await coTeacherQuiz(mc)).answers.map((a) => a.answer.choices), atCore.answers.map((a) => a.answer.choices));

  // Short answer: typed by each student, marked by the co-teacher from the UI.
  const sa = await ask({ prompt: 'Capital of France?', kind: 'short_answer', options: [], correct: [] });
  for (const [page, text] of [[Ana, 'Paris'], [Ben, 'Lyon'], [Cleo, 'paris']]) {
    await page.locator(`[data-testid=quiz-text-${sa}]`).fill(text);
    await page.locator(`[data-testid=quiz-submit-${sa}]`).click();
  }
  await eventually(async () => (await coreQuizzes()).find((q) => q.info.id === sa)?.answered === 3, { what: 'three short answers at the core' });
  for (const [who, mark] of [['Ana', 'right'], ['Ben', 'wrong'], ['Cleo', 'right']]) {
    await eventually(async () => (await coTeacher.locator(`[data-testid=quiz-mark-${sa}-${ids[who]}-${mark}]`).count()) === 1, { what: `${who}'s mark button` });
    await coTeacher.locator(`[data-testid=quiz-mark-${sa}-${ids[who]}-${mark}]`).click();
  }
  await eventually(async () => (await coreQuizzes()).find((q) => q.info.id === sa)?.answers.every((a) => a.correct !== null), { what: 'the marks at the core' });

  // The core reveals both; the final results agree at the core, the co-teacher and
  // each student, and each student sees its own verdict.
  core.send({ command: { kind: 'reveal_quiz', quiz: mc } });
  core.send({ command: { kind: 'reveal_quiz', quiz: sa } });
  const final = await eventually(async () => {
    const qs = await coreQuizzes();
    return qs.every((q) => q.results) && qs;
  }, { what: 'both revealed at the core' });
  const results = Object.fromEntries(final.map((q) => [q.info.id, q.results]));
  assert.equal(results[mc].answered, 3);
  assert.equal(results[mc].right, 1, 'only Ana chose exactly 2 and 7');
  assert.deepEqual(results[mc].tally, [2, 1, 1, 1]);
  assert.equal(results[sa].right, 2);
  for (const id of [mc, sa]) {
    const theirs = await eventually(async () => (await coTeacherQuiz(id))?.results, { what: `the co-teacher's results of ${id}` });
    assert.deepEqual(theirs, results[id], `the co-teacher's results of ${id}`);
  }
  const verdicts = { Ana: [true, true], Ben: [false, false], Cleo: [false, true] };
  for (const [name, page] of Object.entries(students)) {
    const seen = await eventually(async () => {
      const qs = await page.evaluate(() => window.aula.state().snapshot.quizzes);
      return qs.length === 2 && qs.every((q) => q.results) && qs;
    }, { what: `the results at ${name}` });
    for (const q of seen) {
      assert.deepEqual(q.results, results[q.info.id], `${name} sees the same results`);
      assert.equal(q.answers.length, 1, `${name} holds only its own answer`);
    }
    assert.deepEqual(seen.map((q) => q.answers[0].correct), verdicts[name], `${name}'s verdicts`);
  }
});
