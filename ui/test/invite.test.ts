// Unit tests of reading a student link: `npm run test:unit`.
import assert from "node:assert/strict";
import { test } from "node:test";

import { personalName } from "../src/invite.js";

const link = (claims: object) =>
  `eyJhbGciOiJIUzI1NiJ9.${Buffer.from(JSON.stringify(claims)).toString("base64url")}.sig`;

test("a personal link names its student; an open link, a join token and garbage do not", () => {
  assert.equal(personalName(link({ knd: "invite", name: "Zoë Ñandú", sub: "r1" })), "Zoë Ñandú");
  assert.equal(personalName(link({ knd: "invite", name: "", sub: "x" })), null);
  assert.equal(personalName(link({ knd: "join", name: "Teacher" })), null);
  assert.equal(personalName("not-a-token"), null);
  assert.equal(personalName("a.!!!.c"), null);
});
