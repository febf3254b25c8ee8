// The Accounts page in real Chromium against the demo stack: the rows and the total are the
// API's for the same filters; filters, sort and paging change rows and URL; saved views; the CSV
// export; a viewer cannot save; everything works from the keyboard.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { launch, signedIn, open, apiGet, apiSend, stack } from './fixtures.mjs';

/** @type {import('playwright-core').Browser} */
let browser;
before(async () => { browser = await launch(); });
after(async () => { await browser.close(); });

/** The account ids the table shows, in order. */
const shown = (/** @type {import('playwright-core').Page} */ page) => page.$$eval('.accounts-results tbody tr', (rows) => rows.map((r) => r.getAttribute('data-key')));
const total = (/** @type {import('playwright-core').Page} */ page) => page.$eval('.accounts-total', (el) => Number(el.getAttribute('data-total')));
const ids = (/** @type {any} */ answer) => answer.accounts.map((/** @type {any} */ a) => a.account_id);
/** Waits until the URL has `fragment` and the page has shown the answer to it. */
async function settled(/** @type {import('playwright-core').Page} */ page, /** @type {string} */ fragment) {
  await page.waitForFunction((f) => decodeURIComponent(location.search).includes(f) && document.body.hasAttribute('data-ready'), fragment, { timeout: 10000 });
}
/** API query string (the page's default page size is 50). */
const accounts = (/** @type {string} */ search) => apiGet(`/v1/accounts?limit=50${search ? `&${search}` : ''}`);

test('the total and the first page are the API\'s', async () => {
  const { page, problems } = await signedIn(browser);
  await open(page, '/accounts');
  const truth = await accounts('');
  assert.equal(await total(page), truth.total);
  assert.match(await page.textContent('.accounts-total'), new RegExp(`^${truth.total.toLocaleString('en')} accounts?$`));
  assert.deepEqual(await shown(page), ids(truth));
  // The first row's cells say what the API says.
  const first = truth.accounts[0];
  const cells = await page.$$eval('.accounts-results tbody tr:first-child > *', (c) => c.map((x) => x.textContent.trim()));
  assert.equal(cells[0], first.name || first.account_id);
  assert.equal(cells[2], first.score === null ? '–' : first.score.toFixed(1));
  if (first.mrr !== null) assert.equal(cells[4], Math.round(first.mrr).toLocaleString('en'));
  assert.equal(cells[6], first.csm || '–');
  problems.check();
});

test('search, band, plan and renewal filters change the rows and the URL', async () => {
  const { page, problems } = await signedIn(browser);
  await open(page, '/accounts');
  const all = await apiGet('/v1/accounts?limit=200');
  // Search: a name fragment of some account.
  const word = all.accounts.find((/** @type {any} */ a) => a.name)?.name.split(' ')[0];
  await page.fill('input[name="q"]', word);
  await settled(page, `q=${word}`);
  const bySearch = await accounts(`q=${encodeURIComponent(word)}`);
  assert.ok(bySearch.total < all.total || all.total === bySearch.total, 'search narrows or keeps');
  assert.deepEqual(await shown(page), ids(bySearch));
  assert.equal(await total(page), bySearch.total);
  await page.fill('input[name="q"]', '');
  await page.press('input[name="q"]', 'Enter');
  await page.waitForFunction(() => !location.search.includes('q=') && document.body.hasAttribute('data-ready'));

  // Band: red only.
  await page.check('input[name="band"][value="red"]');
  await settled(page, 'band=red');
  const red = await accounts('band=red');
  assert.deepEqual(await shown(page), ids(red));
  assert.equal(await total(page), red.total);
  const bands = await page.$$eval('.accounts-results tbody tr td:nth-child(2) .band', (b) => b.map((x) => x.className));
  assert.ok(bands.every((c) => c.includes('band-red')), 'only red rows');
  await page.uncheck('input[name="band"][value="red"]');
  await page.waitForFunction(() => !location.search.includes('band=') && document.body.hasAttribute('data-ready'));

  // Plan: one the portfolio has, picked in the Plan disclosure.
  const plan = all.accounts.find((/** @type {any} */ a) => a.plan)?.plan;
  await page.click('details.picker-plan > summary');
  await page.check(`input[name="plan"][value="${plan}"]`);
  await settled(page, `plan=${plan}`);
  const byPlan = await accounts(`plan=${encodeURIComponent(plan)}`);
  assert.deepEqual(await shown(page), ids(byPlan));
  assert.equal(await total(page), byPlan.total);
  assert.ok(byPlan.accounts.every((/** @type {any} */ a) => a.plan === plan));

  // Renewal window on top of the plan: both filters in the URL and in the request.
  await page.selectOption('select[name="renewal"]', '90');
  await settled(page, 'renewal_within=90');
  const byRenewal = await accounts(`plan=${encodeURIComponent(plan)}&renewal_within=90`);
  assert.deepEqual(await shown(page), ids(byRenewal));
  assert.equal(await total(page), byRenewal.total);
  assert.ok(byRenewal.accounts.every((/** @type {any} */ a) => a.days_to_renewal !== null && a.days_to_renewal >= 0 && a.days_to_renewal <= 90));

  // Reloading keeps the filters (they live in the URL).
  await page.reload();
  await page.waitForSelector('body[data-ready]');
  assert.ok(await page.isChecked(`input[name="plan"][value="${plan}"]`), 'the plan stays picked');
  assert.equal(await page.inputValue('select[name="renewal"]'), '90');
  assert.deepEqual(await shown(page), ids(byRenewal));

  // A trait filter written name=value goes to the API as name:value.
  await open(page, '/accounts');
  await page.fill('input[name="trait"]', `plan = ${plan}`);
  await page.press('input[name="trait"]', 'Enter');
  await settled(page, `trait=plan:${plan}`);
  const byTrait = await accounts(`trait=${encodeURIComponent(`plan:${plan}`)}`);
  assert.equal(byTrait.total, byPlan.total);
  assert.deepEqual(await shown(page), ids(byTrait));

  // A malformed trait filter says how to write it, and asks nothing of the API.
  await page.fill('input[name="trait"]', 'nonsense');
  await page.press('input[name="trait"]', 'Enter');
  await page.waitForSelector('.field-error:has-text("name=value")');
  assert.ok(page.url().includes(`trait=plan%3A${encodeURIComponent(plan)}`), 'the URL keeps the last valid filter');
  assert.equal(await page.getAttribute('input[name="trait"]', 'aria-invalid'), 'true');
  problems.check();
});

test('the plan and CSM pickers show the facets\' counts; two plans filter as either', async () => {
  const { page, problems } = await signedIn(browser);
  await open(page, '/accounts');
  const facets = await apiGet('/v1/accounts/facets');
  for (const [name, key] of [['plan', 'plans'], ['csm', 'csms']]) {
    const counts = await page.$$eval(`details.picker-${name} label.check`, (labels) => labels.map((l) => [
      /** @type {HTMLInputElement} */ (l.querySelector('input')).value, Number(l.querySelector('.facet-count')?.getAttribute('data-count'))]));
    assert.deepEqual(counts, facets[key].map((/** @type {any} */ f) => [f.value, f.accounts]), `${name} counts are the API's`);
  }
  // Each count is what the list answers for that value.
  const first = facets.plans[0];
  assert.equal((await accounts(`plan=${encodeURIComponent(first.value)}`)).total, first.accounts);
  // The trait input suggests the trait names.
  const options = await page.$$eval('datalist option', (o) => o.map((x) => /** @type {HTMLOptionElement} */ (x).value));
  assert.deepEqual(options, facets.traits.map((/** @type {string} */ n) => `${n}=`));
  // Two plans from the keyboard: open the disclosure, tick two boxes with Space.
  if (facets.plans.length >= 2) {
    const [a, b] = facets.plans;
    await page.focus('details.picker-plan > summary');
    await page.keyboard.press('Enter');
    await page.focus(`input[name="plan"][value="${a.value}"]`);
    await page.keyboard.press('Space');
    await settled(page, `plan=${a.value}`);
    await page.focus(`input[name="plan"][value="${b.value}"]`);
    await page.keyboard.press('Space');
    await settled(page, `plan=${b.value}`);
    const both = await accounts(`plan=${encodeURIComponent(a.value)}&plan=${encodeURIComponent(b.value)}`);
    assert.equal(both.total, a.accounts + b.accounts);
    assert.equal(await total(page), both.total);
    assert.match(await page.textContent('details.picker-plan summary'), /2/);
    // Escape closes the list and puts focus back on its summary.
    await page.keyboard.press('Escape');
    assert.equal(await page.$eval('details.picker-plan', (d) => /** @type {HTMLDetailsElement} */ (d).open), false);
    assert.equal(await page.evaluate(() => document.activeElement?.tagName), 'SUMMARY');
  }
  problems.check();
});

test('sorting by MRR, descending, orders the rows as the API does', async () => {
  const { page, problems } = await signedIn(browser);
  await open(page, '/accounts');
  const header = page.locator('th button.sort[data-sort="mrr"]');
  await header.click();
  await settled(page, 'sort=mrr');
  await page.locator('th button.sort[data-sort="mrr"]').click();
  await settled(page, 'sort=-mrr');
  const truth = await accounts('sort=-mrr');
  assert.deepEqual(await shown(page), ids(truth));
  assert.equal(await page.getAttribute('th:has(button.sort[data-sort="mrr"])', 'aria-sort'), 'descending');
  const mrrs = truth.accounts.map((/** @type {any} */ a) => a.mrr).filter((/** @type {any} */ v) => v !== null);
  assert.deepEqual(mrrs, [...mrrs].sort((a, b) => b - a));
  problems.check();
});

test('paging forward and back by cursor', async () => {
  const { page, problems } = await signedIn(browser);
  await open(page, '/accounts?limit=10&sort=name');
  const first = await apiGet('/v1/accounts?limit=10&sort=name');
  assert.ok(first.next_cursor, 'the demo has more than 10 accounts');
  const second = await apiGet(`/v1/accounts?limit=10&sort=name&cursor=${first.next_cursor}`);
  assert.deepEqual(await shown(page), ids(first));
  assert.ok(await page.isDisabled('.pager-previous'));
  await page.click('.pager-next');
  await settled(page, 'cursor=');
  assert.deepEqual(await shown(page), ids(second));
  assert.match(await page.textContent('.pager-position'), /Showing 11–20 of/);
  await page.click('.pager-previous');
  await page.waitForFunction(() => !location.search.includes('cursor=') && document.body.hasAttribute('data-ready'));
  assert.deepEqual(await shown(page), ids(first));
  problems.check();
});

test('save a view, reload, pick it, delete it', async () => {
  const { page, problems } = await signedIn(browser);
  await open(page, '/accounts?band=red&sort=-mrr');
  const name = `Red by MRR ${Date.now()}`;
  await page.click('.views-save');
  await page.fill('.views-dialog input[name="name"]', name);
  await page.check('.views-dialog input[name="shared"]');
  await page.click('.views-dialog button[type="submit"]');
  await page.waitForFunction((n) => [...document.querySelectorAll('select[name="view"] option')].some((o) => o.selected && o.textContent.startsWith(n)), name);
  const saved = (await apiGet('/v1/views?page=accounts')).views.find((/** @type {any} */ v) => v.name === name);
  assert.deepEqual(saved.query, { band: 'red', sort: '-mrr' });
  assert.equal(saved.shared, true);
  // Changing a filter in place: the picker no longer claims the view; back to it, it does again.
  await page.uncheck('input[name="band"][value="red"]');
  await page.waitForFunction(() => !location.search.includes('band=') && document.body.hasAttribute('data-ready'));
  assert.equal(await page.inputValue('select[name="view"]'), '');
  await page.check('input[name="band"][value="red"]');
  await settled(page, 'band=red');
  assert.equal(await page.inputValue('select[name="view"]'), saved.id);

  // Elsewhere, then back to the view by picking it.
  await open(page, '/accounts');
  await page.waitForSelector(`select[name="view"] option:has-text("${name}")`, { state: 'attached' });
  await page.selectOption('select[name="view"]', saved.id);
  await page.click('.views-apply');
  await settled(page, 'band=red');
  assert.ok(page.url().includes('sort=-mrr'));
  assert.deepEqual(await shown(page), ids(await accounts('band=red&sort=-mrr')));

  // Delete it (own view), confirmed in a dialog.
  await page.waitForSelector(`select[name="view"] option:has-text("${name}")`, { state: 'attached' });
  await page.selectOption('select[name="view"]', saved.id);
  await page.click('.views-delete');
  await page.click('.views-confirm-delete');
  await page.waitForFunction((id) => !document.querySelector(`select[name="view"] option[value="${id}"]`), saved.id);
  assert.ok(!(await apiGet('/v1/views?page=accounts')).views.some((/** @type {any} */ v) => v.id === saved.id));
  problems.check();
});

test('a viewer sees saving disabled with the reason, and cannot delete others\' views', async () => {
  const made = await apiSend('POST', '/v1/views', { name: `Shared ${Date.now()}`, page: 'accounts', query: { band: 'yellow' }, shared: true });
  assert.equal(made.status, 201, JSON.stringify(made.body));
  const { page, problems } = await signedIn(browser, { role: 'viewer' });
  await open(page, '/accounts');
  const save = page.locator('.views-save');
  assert.equal(await save.getAttribute('aria-disabled'), 'true');
  assert.match(await save.getAttribute('title'), /views:write/);
  await page.waitForSelector(`select[name="view"] option[value="${made.body.id}"]`, { state: 'attached' });
  await page.selectOption('select[name="view"]', made.body.id);
  const remove = page.locator('.views-delete');
  assert.equal(await remove.getAttribute('aria-disabled'), 'true');
  assert.ok((await remove.getAttribute('title')).length > 10);
  // It stays focusable and, pressed, says why instead of opening the dialog.
  await save.focus();
  await page.keyboard.press('Enter');
  await page.waitForFunction(() => document.getElementById('live')?.textContent?.includes('views:write'));
  assert.equal(await page.locator('dialog[open]').count(), 0, 'no save dialog for a viewer');
  // The viewer can still show the shared view.
  await page.click('.views-apply');
  await settled(page, 'band=yellow');
  assert.deepEqual(await shown(page), ids(await accounts('band=yellow')));
  await apiSend('DELETE', `/v1/views/${made.body.id}`);
  problems.check();
});

test('CSV export downloads the filtered rows the API exports', async () => {
  const { page, problems } = await signedIn(browser);
  await open(page, '/accounts?band=red&sort=-mrr');
  const [download] = await Promise.all([page.waitForEvent('download'), page.click('.accounts-export')]);
  const text = readFileSync(await download.path(), 'utf8');
  const lines = text.trim().split(/\r?\n/);
  assert.match(lines[0], /^"?account_id"?,/);
  const exported = lines.slice(1).map((l) => JSON.parse(l.split(',')[0]));
  // The same rows as the API's export and as its list, in the same order.
  const s = stack();
  const answer = await fetch(`${s.url}/v1/accounts/export?band=red&sort=-mrr&format=csv`, { headers: { Authorization: `Bearer ${s.secret_key}` } });
  assert.equal(await answer.text(), text);
  const first = await accounts('band=red&sort=-mrr');
  assert.equal(exported.length, first.total);
  assert.deepEqual(exported.slice(0, first.accounts.length), ids(first));
  assert.ok(download.suggestedFilename().endsWith('.csv'));
  problems.check();
});

test('keyboard only: a band filter with Space, sorting with Enter', async () => {
  const { page, problems } = await signedIn(browser);
  await open(page, '/accounts');
  /** Presses Tab until `selector` has the focus. */
  async function tabTo(/** @type {string} */ selector) {
    for (let i = 0; i < 80; i += 1) {
      await page.keyboard.press('Tab');
      if (await page.evaluate((s) => document.activeElement?.matches(s), selector)) return;
    }
    throw new Error(`Tab never reached ${selector}`);
  }
  await tabTo('input[name="band"][value="yellow"]');
  await page.keyboard.press('Space');
  await settled(page, 'band=yellow');
  await tabTo('th button.sort[data-sort="score"]');
  await page.keyboard.press('Enter');
  await settled(page, 'sort=-score');
  assert.deepEqual(await shown(page), ids(await accounts('band=yellow&sort=-score')));
  // Focus stays on the header pressed, so pressing again sorts back.
  assert.ok(await page.evaluate(() => document.activeElement?.matches('th button.sort[data-sort="score"]')));
  await page.keyboard.press('Enter');
  await page.waitForFunction(() => /sort=score(&|$)/.test(location.search) && document.body.hasAttribute('data-ready'));
  assert.deepEqual(await shown(page), ids(await accounts('band=yellow&sort=score')));
  problems.check();
});
