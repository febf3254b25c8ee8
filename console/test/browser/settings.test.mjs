// Settings in real Chromium: the health configuration saved through the form is what the API then
// returns, and an invalid threshold shows the API's own message; a webhook is created (its secret
// shown once), tested and its delivery log shown as the API has it; a loopback URL shows the SSRF
// refusal; an API token is shown once; a member is invited, their role changed and removed; the
// sole owner's demotion shows the last-owner rule; a deletion request names its subject before it
// is sent; a viewer sees every control it lacks disabled with the reason; labels in zh-TW; the
// calibration: the API's refusal without churned accounts, then accounts marked churned (the write
// key's group call), "Calibrate now", the result as the API has it, "Apply these weights".
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { launch, signedIn, open, apiSend, stack } from './fixtures.mjs';

/** GET with the secret key (fixtures' apiGet reads the body twice; see the report). */
async function apiGet(/** @type {string} */ path) {
  const answer = await apiSend('GET', path);
  assert.equal(answer.status, 200, `GET ${path}: ${answer.status} ${JSON.stringify(answer.body)}`);
  return answer.body;
}

/** @type {import('playwright-core').Browser} */
let browser;
before(async () => { browser = await launch(); });
after(async () => { await browser?.close(); });

const suffix = () => Math.random().toString(36).slice(2, 8);

test('health: a weight and a threshold saved in the form are what GET /v1/health/config returns; an invalid threshold shows the API message', { timeout: 30_000 }, async () => {
  const original = await apiGet('/v1/health/config');
  const { page, problems } = await signedIn(browser, { role: 'owner' });
  try {
    await open(page, '/settings/health');
    assert.equal(await page.locator('nav.tabs a[aria-current="page"]').innerText(), 'Health');
    // The form shows what the API has.
    assert.equal(Number(await page.locator('input[name="green_at"]').inputValue()), original.green_at);
    assert.equal(Number(await page.locator('input[name="weight.adoption"]').inputValue()), original.weights.adoption);
    const weight = original.weights.adoption === 0.35 ? 0.3 : 0.35;
    const drop = original.drop_threshold === 12 ? 11 : 12;
    await page.fill('input[name="weight.adoption"]', String(weight));
    await page.fill('input[name="drop_threshold"]', String(drop));
    await page.getByRole('button', { name: 'Save health configuration' }).click();
    await page.locator('form[aria-labelledby="health-title"] .form-status.ok').waitFor();
    const saved = await apiGet('/v1/health/config');
    assert.equal(saved.weights.adoption, weight);
    assert.equal(saved.drop_threshold, drop);
    assert.equal(saved.green_at, original.green_at);

    // yellow above green: the API refuses, and the page shows its message word for word.
    const invalid = { ...saved, yellow_at: 90, green_at: 50 };
    const refusal = await apiSend('PUT', '/v1/health/config', invalid);
    assert.equal(refusal.status, 400);
    await page.fill('input[name="yellow_at"]', '90');
    await page.fill('input[name="green_at"]', '50');
    await page.getByRole('button', { name: 'Save health configuration' }).click();
    const error = page.locator('form[aria-labelledby="health-title"] .form-status[role="alert"]');
    await error.waitFor();
    assert.equal(await error.innerText(), refusal.body.message);
    assert.equal((await apiGet('/v1/health/config')).yellow_at, original.yellow_at);
    problems.allow(/status of 400/);
    problems.check();
  } finally {
    await apiSend('PUT', '/v1/health/config', original);
    await page.context().close();
  }
});

/** The write key's group call, as a vendor's CRM sync would send it. */
async function markChurned(/** @type {string} */ accountId) {
  const s = stack();
  const answer = await fetch(`${s.url}/v1/group`, {
    method: 'POST',
    headers: { Authorization: `Basic ${Buffer.from(`${s.write_key}:`).toString('base64')}`, 'Content-Type': 'application/json' },
    // A fresh messageId: the same bytes again would be deduplicated as a replay.
    body: JSON.stringify({ userId: 'crm-sync', groupId: accountId, traits: { status: 'churned' }, messageId: randomUUID(), timestamp: new Date().toISOString() }),
  });
  assert.equal(answer.status, 200, await answer.text());
}

test('calibration: refused without churned accounts (the API message), then run on marked churners, shown as the API has it, and applied', { timeout: 60_000 }, async () => {
  const original = await apiGet('/v1/health/config');
  const { page, problems } = await signedIn(browser, { role: 'owner' });
  problems.allow(/status of 409/);
  try {
    const section = page.locator('section[aria-labelledby="calibration-title"]');
    const form = section.locator('form.calibrate');
    const churned = await apiGet('/v1/accounts?trait=status:churned&limit=1');
    if (churned.total === 0) {
      // Nothing marked churned (a fresh demo): the page shows the API's refusal word for word.
      const refusal = await apiSend('POST', '/v1/health/calibrate', {});
      assert.equal(refusal.status, 409);
      assert.equal(refusal.body.code, 'cannot_calibrate');
      await open(page, '/settings/health');
      await form.getByRole('button', { name: 'Calibrate now' }).click();
      const error = form.locator('.form-status[role="alert"]');
      await error.waitFor();
      assert.equal(await error.innerText(), refusal.body.message);
      assert.match(await error.innerText(), /status: churned/);
    }

    // Mark the four lowest-scored accounts churned and wait until the projection has them.
    const { accounts } = await apiGet('/v1/accounts?sort=score&limit=4');
    for (const account of accounts) await markChurned(account.account_id);
    const deadline = Date.now() + 20_000;
    for (const account of accounts) {
      while ((await apiGet(`/v1/accounts/${account.account_id}`)).traits.status !== 'churned') {
        assert.ok(Date.now() < deadline, `${account.account_id} not projected as churned in 20 s`);
        await new Promise((r) => setTimeout(r, 250));
      }
    }

    await open(page, '/settings/health');
    const before = (await apiGet('/v1/health/calibration')).latest;
    await form.locator('input[name="horizon_days"]').fill('7');
    await form.getByRole('button', { name: 'Calibrate now' }).click();
    const shown = section.locator('[data-calibration-latest]:not([data-calibration-latest="none"])');
    await page.waitForFunction((old) => {
      const el = document.querySelector('[data-calibration-latest]');
      return document.body.hasAttribute('data-ready') && el && el.getAttribute('data-calibration-latest') !== 'none' && el.getAttribute('data-calibration-latest') !== old;
    }, before ? String(before.id) : 'none', { timeout: 20_000 });
    const state = await apiGet('/v1/health/calibration');
    const run = state.latest;
    assert.equal(await shown.getAttribute('data-calibration-latest'), String(run.id));
    assert.equal(run.horizon_days, 7);
    assert.equal(run.applied, false);
    assert.ok(run.churned >= 1 && run.others >= 1, JSON.stringify(run));
    const en = (/** @type {number} */ v) => new Intl.NumberFormat('en', { maximumFractionDigits: 3 }).format(v);
    assert.equal(await shown.locator('[data-auc="current"]').innerText(), en(run.auc_current));
    assert.equal(await shown.locator('[data-auc="calibrated"]').innerText(), en(run.auc_calibrated));
    const summary = await shown.locator('p').first().innerText();
    assert.match(summary, new RegExp(`${run.churned} churned accounts \\(scored 7 days before .*\\) against ${run.others} other accounts`));
    for (const [name, weight] of Object.entries(run.weights)) {
      assert.equal(Number(await shown.locator(`tr[data-component="${name}"] td[data-fitted]`).getAttribute('data-fitted')), weight);
    }
    assert.equal(await shown.locator('[data-applied]').getAttribute('data-applied'), 'false');
    assert.equal((await apiGet('/v1/health/config')).weights.adoption, original.weights.adoption);

    // Apply: the fitted weights become the project's (the form above shows them too).
    await shown.getByRole('button', { name: 'Apply these weights' }).click();
    await section.locator(`[data-calibration-latest="${run.id}"] [data-in-use="true"]`).waitFor();
    await page.waitForSelector('body[data-ready]');
    const config = await apiGet('/v1/health/config');
    assert.deepEqual(config.weights, run.weights);
    assert.equal(Number(await page.locator('input[name="weight.trend"]').inputValue()), run.weights.trend);
    assert.equal((await apiGet('/v1/health/calibration')).last_applied.id, run.id);
    assert.equal(await section.getByRole('button', { name: 'Apply these weights' }).count(), 0);
    assert.equal(await section.locator('[data-calibration]').getAttribute('data-calibration'), 'calibrated');
    problems.check();
  } finally {
    await apiSend('PUT', '/v1/health/config', original);
    await page.context().close();
  }
});

test('webhooks: create (secret shown once), send a test, the delivery log as the API has it, delete; a loopback URL shows the refusal', { timeout: 40_000 }, async () => {
  const { page, problems } = await signedIn(browser, { role: 'owner' });
  problems.allow(/status of 400/);
  try {
    await open(page, '/settings/webhooks');
    // The SSRF guard refuses loopback: the API's message is shown.
    await page.fill('input[name="url"]', 'http://127.0.0.1:9/hook');
    await page.getByRole('button', { name: 'Add webhook' }).click();
    const refusal = page.locator('form[aria-labelledby="new-webhook"] .form-status[role="alert"]');
    await refusal.waitFor();
    assert.match(await refusal.innerText(), /loopback.*CXLOOP_WEBHOOK_ALLOW_PRIVATE/);

    // A public name (never resolvable: .invalid) is accepted; deliveries to it fail and are retried.
    const url = `https://hooks-${suffix()}.cxloop.invalid/console-test`;
    await page.fill('input[name="url"]', url);
    await page.locator('input[name="events"][value="ping"]').check();
    await page.getByRole('button', { name: 'Add webhook' }).click();
    const secret = page.locator('.once [data-secret]');
    await secret.waitFor();
    assert.match(await secret.innerText(), /^whsec_/);
    const { webhooks } = await apiGet('/v1/webhooks');
    const created = webhooks.find((/** @type {any} */ w) => w.url === url);
    assert.ok(created, 'the webhook is in the API');
    assert.ok((await secret.innerText()).startsWith(created.secret_prefix));
    assert.deepEqual([...created.events].sort(), ['alert.opened', 'alert.updated', 'ping']);
    const row = page.locator(`tr[data-webhook="${created.id}"]`);
    assert.equal(await row.locator('th').innerText(), url);

    // Send a test: the log opens with the queued ping, as the API lists it.
    await row.getByRole('button', { name: 'Send test' }).click();
    const log = page.locator(`section[data-log-for="${created.id}"]`);
    await log.locator('tr[data-delivery]').first().waitFor();
    const { deliveries } = await apiGet(`/v1/webhooks/${created.id}/deliveries?limit=50`);
    assert.equal(deliveries.length, 1);
    assert.equal(deliveries[0].event_type, 'ping');
    assert.equal(await log.locator('tr[data-delivery]').count(), 1);
    assert.equal(await log.locator(`tr[data-delivery="${deliveries[0].id}"] th`).innerText(), 'ping');
    assert.match(page.url(), new RegExp(`webhook=${created.id}`));

    // Delete through the confirmation dialog; focus returns; the API no longer has it.
    await row.getByRole('button', { name: 'Delete' }).click();
    const dialog = page.locator('dialog[open]');
    assert.match(await dialog.innerText(), new RegExp(url.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')));
    await dialog.getByRole('button', { name: 'Delete' }).click();
    await page.locator(`tr[data-webhook="${created.id}"]`).waitFor({ state: 'detached' });
    assert.equal((await apiGet('/v1/webhooks')).webhooks.some((/** @type {any} */ w) => w.id === created.id), false);
    problems.check();
  } finally {
    await page.context().close();
  }
});

test('tokens: a new token is shown once, listed with its scopes, and revoked', { timeout: 30_000 }, async () => {
  const { page, problems } = await signedIn(browser, { role: 'analyst' });
  try {
    await open(page, '/settings/tokens');
    // An analyst is offered its own permissions, never the admin shorthand.
    assert.equal(await page.locator('input[name="scopes"][value="admin"]').count(), 0);
    assert.equal(await page.locator('input[name="scopes"][value="alerts:write"]').count(), 1);
    const name = `console ${suffix()}`;
    await page.fill('input[name="name"]', name);
    await page.locator('input[name="scopes"][value="alerts:write"]').check();
    await page.getByRole('button', { name: 'Make token' }).click();
    const shown = page.locator('.once [data-secret]');
    await shown.waitFor();
    const token = await shown.innerText();
    assert.match(token, /^cxp_/);
    const row = page.locator('tr[data-token]', { hasText: name });
    assert.equal(await row.count(), 1);
    assert.match(await row.innerText(), /alerts:write/);
    // The token works as the analyst, with its scopes.
    const s = JSON.parse((await import('node:fs')).readFileSync(/** @type {string} */ (process.env.CONSOLE_STACK), 'utf8'));
    const check = await fetch(`${s.url}/v1/alerts?limit=1`, { headers: { Authorization: `Bearer ${token}` } });
    assert.equal(check.status, 200);
    // Shown once: after a reload only the prefix is left.
    await open(page, '/settings/tokens');
    assert.equal(await page.locator('.once').count(), 0);
    assert.equal((await page.locator('main').innerText()).includes(token), false);
    await page.locator('tr[data-token]', { hasText: name }).getByRole('button', { name: 'Revoke' }).click();
    await page.locator('dialog[open]').getByRole('button', { name: 'Revoke' }).click();
    await page.locator('tr[data-token]', { hasText: name }).waitFor({ state: 'detached' });
    const after = await fetch(`${s.url}/v1/alerts?limit=1`, { headers: { Authorization: `Bearer ${token}` } });
    assert.equal(after.status, 401);
    problems.check();
  } finally {
    await page.context().close();
  }
});

test('members: invite (a one-time link), change the role, remove; the sole owner cannot be demoted and the page says why', { timeout: 60_000 }, async () => {
  const { page, problems } = await signedIn(browser, { role: 'owner' });
  problems.allow(/status of 409|status of 400|status of 403/);
  const email = `hs-${suffix()}@acme.test`;
  try {
    await open(page, '/settings/members');
    const { members } = await apiGet('/v1/members');
    assert.equal(await page.locator('tr[data-member]').count(), members.length);
    await page.fill('input[name="email"]', email);
    await page.fill('form[aria-labelledby="invite-title"] input[name="name"]', 'Console Invitee');
    await page.selectOption('form[aria-labelledby="invite-title"] select[name="role"]', 'viewer');
    await page.getByRole('button', { name: 'Invite' }).click();
    const link = page.locator('.once [data-secret]');
    await link.waitFor();
    assert.match(await link.innerText(), /^https?:\/\/.+/);
    const row = page.locator(`tr[data-member="${email}"]`);
    await row.locator('select[name="role"]').selectOption('analyst');
    await row.getByRole('button', { name: 'Change role' }).click();
    await page.locator('.members-status', { hasText: 'Console Invitee is now Analyst.' }).waitFor();
    const changed = (await apiGet('/v1/members')).members.find((/** @type {any} */ m) => m.email === email);
    assert.equal(changed.role, 'analyst');

    // The last-owner rule, as the API words it.
    const owners = (await apiGet('/v1/members')).members.filter((/** @type {any} */ m) => m.role === 'owner');
    assert.equal(owners.length, 1, 'the stack has one owner');
    const me = page.locator(`tr[data-member="${owners[0].email}"]`);
    await me.locator('select[name="role"]').selectOption('admin');
    await me.getByRole('button', { name: 'Change role' }).click();
    const refusal = page.locator('.members-status[role="alert"]');
    await refusal.waitFor();
    assert.match(await refusal.innerText(), /owner/i);
    assert.equal(await me.locator('select[name="role"]').inputValue(), 'owner');
    assert.equal((await apiGet('/v1/members')).members.find((/** @type {any} */ m) => m.email === owners[0].email).role, 'owner');

    await page.locator(`tr[data-member="${email}"]`).getByRole('button', { name: 'Remove' }).click();
    const dialog = page.locator('dialog[open]');
    assert.match(await dialog.innerText(), new RegExp(email.replace('.', '\\.')));
    await dialog.getByRole('button', { name: 'Remove' }).click();
    await page.locator(`tr[data-member="${email}"]`).waitFor({ state: 'detached' });
    assert.equal((await apiGet('/v1/members')).members.some((/** @type {any} */ m) => m.email === email), false);
    problems.check();
  } finally {
    await page.context().close();
  }
});

test('privacy: a deletion names its subject before it is sent and is listed as the API has it; keys as the API has them', { timeout: 30_000 }, async () => {
  const { page, problems } = await signedIn(browser, { role: 'owner' });
  try {
    await open(page, '/settings/keys');
    const keys = await apiGet('/v1/keys');
    assert.equal(await page.locator('[data-key="write"]').innerText(), keys.write_key);
    assert.match(await page.locator('[data-key="secret"]').innerText(), new RegExp(`^${keys.secret_key_prefix}…`));

    await open(page, '/settings/privacy');
    const user = `nobody-${suffix()}`;
    await page.fill('form[aria-labelledby="delete-title"] input[name="userId"]', user);
    await page.getByRole('button', { name: 'Delete…' }).click();
    const dialog = page.locator('dialog[open]');
    assert.match(await dialog.innerText(), new RegExp(`User id: ${user}`));
    await dialog.getByRole('button', { name: 'Erase for good' }).click();
    const note = page.locator('.once-slot', { hasText: 'queued' });
    await note.waitFor();
    const id = /** @type {string} */ ((await note.innerText()).match(/del_\w+/)?.[0]);
    const { deletions } = await apiGet('/v1/privacy/deletions?limit=100');
    const mine = deletions.find((/** @type {any} */ d) => d.id === id);
    assert.ok(mine, `the API has the request ${id}`);
    assert.equal(mine.requested_by.length > 0, true);
    assert.equal(await page.locator(`tr[data-request="${id}"]`).count(), 1, 'the new request is listed');
    assert.equal(await page.locator('tr[data-request]').count(), deletions.length);
    problems.check();
  } finally {
    await page.context().close();
  }
});

test('a viewer sees the data it may read and every control it lacks disabled with the reason', { timeout: 30_000 }, async () => {
  const { page, problems } = await signedIn(browser, { role: 'viewer' });
  try {
    await open(page, '/settings/health');
    assert.equal(await page.locator('input[name="green_at"]').isDisabled(), true);
    const save = page.getByRole('button', { name: /Save health configuration/ });
    assert.equal(await save.getAttribute('aria-disabled'), 'true');
    assert.match(await save.getAttribute('title') || '', /Viewer.*config:write/);
    await save.click({ force: true });
    await page.locator('#live', { hasText: 'config:write' }).waitFor();
    assert.equal((await apiGet('/v1/health/config')).green_at, Number(await page.locator('input[name="green_at"]').inputValue()));
    // The calibration: readable, but "Calibrate now" (and any "Apply") says it needs config:write.
    const calibrate = page.locator('form.calibrate').getByRole('button', { name: /Calibrate now/ });
    assert.equal(await calibrate.getAttribute('data-denied'), 'config:write');
    assert.equal(await page.locator('input[name="horizon_days"]').isDisabled(), true);
    assert.equal(await page.locator('[data-apply]:not([data-denied])').count(), 0);

    await open(page, '/settings/webhooks');
    assert.equal(await page.locator('form[aria-labelledby="new-webhook"] [data-denied="webhooks:write"]').count(), 1);
    assert.equal((await apiGet('/v1/webhooks')).webhooks.length, await page.locator('tr[data-webhook]').count());

    await open(page, '/settings/members');
    assert.equal(await page.locator('tr[data-member]').count(), (await apiGet('/v1/members')).members.length);
    assert.ok(await page.locator('[data-denied="members:write"]').count() > 0);
    assert.equal(await page.locator('select[name="role"]:not([disabled])').count(), 0);

    for (const [tab, permission] of [['keys', 'keys:read'], ['privacy', 'privacy:read']]) {
      await open(page, `/settings/${tab}`);
      assert.match(await page.locator(`[data-no-access="${permission}"]`).innerText(), new RegExp(`Viewer.*${permission}`));
    }
    // Tokens are every role's own: a viewer may make them.
    await open(page, '/settings/tokens');
    assert.equal(await page.locator('[data-denied]').count(), 0);
    problems.check();
  } finally {
    await page.context().close();
  }
});

test('zh-TW: the tabs and the health form in Traditional Chinese', { timeout: 20_000 }, async () => {
  const { page, problems } = await signedIn(browser, { role: 'owner', locale: 'zh-TW' });
  try {
    await open(page, '/settings');
    assert.equal(await page.locator('h1').innerText(), '設定');
    assert.deepEqual(await page.locator('nav.tabs a').allInnerTexts(), ['健康度', 'Webhook', '金鑰', 'API 權杖', '成員', '隱私']);
    assert.equal(await page.locator('#health-title').innerText(), '健康度評分');
    assert.equal(await page.getByRole('button', { name: '儲存健康度設定' }).count(), 1);
    assert.equal(await page.locator('html').getAttribute('lang'), 'zh-TW');
    problems.check();
  } finally {
    await page.context().close();
  }
});
