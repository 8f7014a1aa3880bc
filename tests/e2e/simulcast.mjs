// A class for simulcast tests and benches: the server and the teacher (publishing three
// layers) on the server's host, two students on links of their own, one of which can be
// weakened (`hosts.shape`). Hosts are network namespaces made here.

import { openClassPage, startServer, withParams } from './harness.mjs';
import { makeHosts } from './netns.mjs';

/** Full width of the teacher's camera (its top layer); the low layer is a quarter. */
export const FULL = 960;
/** The weak link: about 300 kbit/s with 2% loss. */
export const WEAK = { rate: '300kbit', lossPct: 2 };

export async function startWeakLinkClass() {
  const hosts = makeHosts({ students: 2 });
  const srv = hosts.server;
  const browsers = [];
  let server;
  const close = async () => {
    try { hosts.shape(hosts.students[1], null); } catch { /* already gone */ }
    for (const b of browsers) await b.close().catch(() => {});
    await server?.stop();
    hosts.destroy();
  };
  try {
    server = await startServer(hosts.serverEnv(), { argvPrefix: hosts.exec(srv) });
    const secure = { contextOptions: { ignoreHTTPSErrors: true } };
    // Students on a large high-density screen: their tiles are tall enough (in device
    // pixels) for the full layer, so only the link decides.
    const large = { contextOptions: { ignoreHTTPSErrors: true, viewport: { width: 1920, height: 1080 }, deviceScaleFactor: 2 } };
    for (const h of [srv, hosts.students[0], hosts.students[1]]) browsers.push(await hosts.chromium(h));
    const pages = {
      teacher: await openClassPage(browsers[0], withParams(server.ready.teacher_link, { autojoin: '1' }), secure),
      clean: await openClassPage(browsers[1], withParams(server.ready.student_link, { autojoin: '1', name: 'Cleo' }), large),
      weak: await openClassPage(browsers[2], withParams(server.ready.student_link, { autojoin: '1', name: 'Wes' }), large),
    };
    const teacher = await pages.teacher.evaluate(() => window.aula.state().me.id);
    return {
      hosts,
      server,
      pages,
      teacher,
      weaken: (on) => hosts.shape(hosts.students[1], on ? WEAK : null),
      /** What `page` receives from the teacher now: stats plus the tile's paused flag. */
      async view(page) {
        const stats = await page.evaluate(() => window.aula.inboundStats());
        const r = stats.find((x) => x.memberId === teacher) ?? {};
        const paused = await page.evaluate(
          (m) => document.querySelector(`[data-testid=tile][data-member="${m}"]`)?.dataset.videoPaused === 'true',
          teacher,
        );
        return { ...r, paused, at: Date.now() };
      },
      close,
    };
  } catch (e) {
    await close();
    throw e;
  }
}

/** Whether a view shows the low layer or audio only. */
export const isLow = (v) => v.paused || (v.frameWidth > 0 && v.frameWidth <= FULL / 4);
/** Whether a view shows a higher layer again. */
export const isHigh = (v) => !v.paused && v.frameWidth >= FULL / 2;
