// How the pages look and feel: phone and desktop widths, the dark scheme,
// a whole flow with the keyboard only, the language switcher and the
// attributes browsers and password managers rely on.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import {
  DESKTOP, Mailbox, PASSWORD, PHONE, freshEmail, overflowsHorizontally, screenshot, setUp,
  signIn, signUpAndVerify, tabTo, text,
} from '../lib/harness.js';

let env;
let email;
before(async () => {
  env = await setUp();
  email = freshEmail('ada');
  await signUpAndVerify(env, email);
});
after(async () => { await env?.tearDown(); });

const PAGES = ['/login', '/signup', '/forgot-password', '/verify-email', '/reset-password'];

test('every page fits a 360 px phone and a 1440 px desktop', async () => {
  for (const [label, viewport] of [['phone', PHONE], ['desktop', DESKTOP]]) {
    const page = await env.newPage({ viewport });
    for (const path of PAGES) {
      await page.goto(env.latchkey.url(path));
      assert.equal(await overflowsHorizontally(page), false, `${path} overflows at ${viewport.width} px`);
      // No page loads anything from elsewhere, and every input has a label.
      const unlabelled = await page.evaluate(() => [...document.querySelectorAll('input:not([type=hidden])')]
        .filter((i) => !i.labels || i.labels.length === 0).map((i) => i.name));
      assert.deepEqual(unlabelled, [], `${path}: inputs without a label`);
      await screenshot(page, `page-${path.slice(1)}-${label}`);
    }
    await page.goto(env.latchkey.url('/login'));
    await screenshot(page, `login-${label}-light`);
    await signIn(page, env.latchkey.base, email);
    await page.waitForURL(env.latchkey.url('/account'));
    assert.equal(await overflowsHorizontally(page), false, `/account overflows at ${viewport.width} px`);
    await screenshot(page, `account-${label}`);
    if (label === 'desktop') {
      // The sign-in card stays a readable column, centred.
      await page.goto(env.latchkey.url('/logout'));
      const box = await page.locator('main').boundingBox();
      assert.ok(box.width <= 500, `main is ${box.width} px wide`);
      assert.ok(Math.abs(box.x + box.width / 2 - viewport.width / 2) < 20, 'main is centred');
    }
  }
});

test('dark scheme on a phone', async () => {
  const page = await env.newPage({ viewport: PHONE, colorScheme: 'dark' });
  await page.goto(env.latchkey.url('/login'));
  const [bg, fg] = await page.evaluate(() => {
    const s = getComputedStyle(document.body);
    return [s.backgroundColor, s.color];
  });
  const lum = (c) => c.match(/\d+/g).slice(0, 3).reduce((a, b) => a + Number(b), 0) / 3;
  assert.ok(lum(bg) < 60, `dark background, got ${bg}`);
  assert.ok(lum(fg) > 180, `light text, got ${fg}`);
  await signIn(page, env.latchkey.base, email, 'not the password');
  await page.locator('.lk-error').waitFor();
  await page.goto(env.latchkey.url('/login'));
  await screenshot(page, 'login-phone-dark');
});

test('sign-up to sign-out with the keyboard only, focus always visible', async () => {
  const address = freshEmail('keys');
  const page = await env.newPage({ viewport: DESKTOP });
  const type = async (s) => page.keyboard.type(s);
  const press = async (k) => page.keyboard.press(k);
  // `autofocus` applies when the page is next rendered, which can come
  // after the load event on a busy machine: wait for it as a user would.
  const focusOn = async (selector) => page.waitForFunction(
    (sel) => document.activeElement && document.activeElement.matches(sel),
    selector,
  );

  await page.goto(env.latchkey.url('/signup'));
  // The address field has the focus on arrival.
  await focusOn('input[name="email"]');
  await type(address);
  const pw = await tabTo(page, (f) => f.name === 'password');
  assert.ok(pw.outline, 'the focused input has a visible outline');
  await type(PASSWORD);
  const submit = await tabTo(page, (f) => f.tag === 'button');
  assert.ok(submit.outline, 'the focused button has a visible outline');
  await press('Enter');
  await page.getByRole('heading', { name: 'Check your email' }).waitFor();

  await page.goto(Mailbox.link(await env.mailbox.waitFor(address, 1)));
  // The confirm button has the focus on arrival.
  await focusOn('button[type="submit"]');
  await press('Enter');
  await page.getByRole('heading', { name: 'Email address confirmed' }).waitFor();
  await tabTo(page, (f) => f.text === 'Go to sign in');
  await press('Enter');
  await page.waitForURL(env.latchkey.url('/login'));

  // On /login the address field has the focus.
  await focusOn('input[name="email"]');
  await type(address);
  await press('Tab');
  await type(PASSWORD);
  await press('Enter');
  await page.waitForURL(env.latchkey.url('/account'));

  // The first Tab reaches the skip link, which shows when focused.
  const skip = await tabTo(page, (f) => f.text === 'Skip to content', 1);
  assert.ok(skip.outline, 'the skip link shows its focus');
  assert.ok(await page.locator('.lk-skip').isVisible());

  // Change the password from the account page.
  await tabTo(page, (f) => f.name === 'current_password');
  await type(PASSWORD);
  await press('Tab');
  const newPassword = 'keyboard only passphrase';
  await type(newPassword);
  await tabTo(page, (f) => f.text === 'Change password');
  await press('Enter');
  await page.getByText('Your password has been changed.').waitFor();

  await tabTo(page, (f) => f.tag === 'a' && f.text === 'Sign out');
  await press('Enter');
  await page.waitForURL(env.latchkey.url('/logout'));
  await tabTo(page, (f) => f.tag === 'button' && f.text === 'Sign out');
  await press('Enter');
  await page.getByText('You have been signed out.').waitFor();
  await screenshot(page, 'keyboard-signed-out');

  const again = await env.newPage();
  await signIn(again, env.latchkey.base, address, newPassword);
  await again.waitForURL(env.latchkey.url('/account'));
});

test('German from Accept-Language, and the switcher', async () => {
  const page = await env.newPage({ locale: 'de-DE' });
  await page.goto(env.latchkey.url('/login'));
  assert.equal(await page.getAttribute('html', 'lang'), 'de');
  await page.getByRole('heading', { name: 'Anmelden' }).waitFor();
  await page.getByLabel('E-Mail-Adresse').fill(email);
  await page.getByLabel('Passwort', { exact: true }).fill('nicht das Passwort');
  await page.getByRole('button', { name: 'Anmelden' }).click();
  assert.equal(await text(page, '.lk-error'), 'E-Mail-Adresse oder Passwort ist falsch.');
  await screenshot(page, 'login-desktop-german-error');
  await page.getByRole('link', { name: 'English' }).click();
  await page.getByRole('heading', { name: 'Sign in' }).waitFor();
  await page.goto(env.latchkey.url('/signup'));
  assert.equal(await page.getAttribute('html', 'lang'), 'en', 'the choice is remembered');
  await page.getByRole('link', { name: 'Deutsch' }).click();
  await page.getByRole('heading', { name: 'Konto erstellen' }).waitFor();
});

test('autocomplete attributes', async () => {
  const page = await env.newPage();
  const expect = {
    '/login': { email: 'username', password: 'current-password' },
    '/signup': { email: 'email', password: 'new-password' },
    '/forgot-password': { email: 'email' },
    '/verify-email': { email: 'email' },
  };
  for (const [path, fields] of Object.entries(expect)) {
    await page.goto(env.latchkey.url(path));
    for (const [name, value] of Object.entries(fields)) {
      assert.equal(await page.locator(`input[name="${name}"]`).getAttribute('autocomplete'), value, `${path} ${name}`);
    }
  }
  await signIn(page, env.latchkey.base, email);
  await page.waitForURL(env.latchkey.url('/account'));
  const account = await page.evaluate(() => [...document.querySelectorAll('input:not([type=hidden])')]
    .map((i) => `${i.name}=${i.getAttribute('autocomplete')}`));
  assert.deepEqual(account, [
    'current_password=current-password',
    'new_password=new-password',
    'new_email=email',
    'current_password=current-password',
  ]);
  await screenshot(page, 'autocomplete-account');
});
