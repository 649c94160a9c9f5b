// Error states, each shown as a message on the page (never a stack trace or
// a raw JSON body), and the forms' defences: CSRF and return_to.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import {
  Mailbox, PASSWORD, PHONE, freshEmail, screenshot, setUp, signIn, signUpAndVerify, text,
} from '../lib/harness.js';

let env;
let email;
before(async () => {
  env = await setUp();
  email = freshEmail('ada');
  await signUpAndVerify(env, email);
});
after(async () => { await env?.tearDown(); });

test('wrong password and unknown account read the same', async () => {
  const page = await env.newPage();
  await signIn(page, env.latchkey.base, 'nobody@example.com', 'not the password');
  const unknown = await text(page, '.lk-error');
  await signIn(page, env.latchkey.base, email, 'not the password');
  const wrong = await text(page, '.lk-error');
  assert.equal(wrong, 'The email address or password is wrong.');
  assert.equal(unknown, wrong);
  // The address stays filled in and the password field has the focus.
  assert.equal(await page.getByLabel('Email address').inputValue(), email);
  await page.waitForFunction(() => document.activeElement?.id === 'password');
  assert.equal(new URL(page.url()).pathname, '/login');
  await screenshot(page, 'error-wrong-password');
});

test('a weak password names the rule it fails, before and after submit', async () => {
  const page = await env.newPage({ viewport: PHONE });
  await page.goto(env.latchkey.url('/signup'));
  // The rules are on the page before anything is sent.
  assert.match(await text(page, '#password-rules'), /be at least 8 characters long/);
  await page.getByLabel('Email address').fill(freshEmail('weak'));
  await page.getByLabel('Password', { exact: true }).fill('short');
  await page.getByRole('button', { name: 'Create account' }).click();
  const error = await text(page, '.lk-error');
  assert.match(error, /The password does not meet these rules: be at least 8 characters long/);
  await screenshot(page, 'error-weak-password');
});

test('a spent or tampered link is refused with a message and a way on', async () => {
  // No link can be made to expire here without waiting the shortest
  // configurable lifetime (60 s); the API tests move a clock past it. A
  // spent link gets the same page, so that is what this checks, plus a
  // token that was altered.
  const spender = freshEmail('spent');
  await signUpAndVerify(env, spender);
  const page = await env.newPage();
  await page.goto(env.latchkey.url('/forgot-password'));
  await page.getByLabel('Email address').fill(spender);
  await page.getByRole('button', { name: 'Send link' }).click();
  await page.getByRole('heading', { name: 'Check your email' }).waitFor();
  const link = Mailbox.link(await env.mailbox.waitFor(spender, 2));
  await page.goto(link);
  await page.getByLabel('New password').fill('a brand new passphrase');
  await page.getByRole('button', { name: 'Set new password' }).click();
  await page.waitForURL((url) => url.pathname === '/login');

  const spent = await page.goto(link);
  assert.equal(spent.status(), 410);
  assert.equal(await text(page, '.lk-error'), 'This link has expired or was already used. Ask for a new one.');
  assert.equal(await page.getByLabel('New password').count(), 0, 'no form for a dead link');
  await screenshot(page, 'error-expired-link');
  await page.getByRole('link', { name: 'Ask for a new link' }).click();
  assert.equal(new URL(page.url()).pathname, '/forgot-password');

  const tampered = link.replace(/token=(.)/, (_, c) => `token=${c === 'A' ? 'B' : 'A'}`);
  const r = await page.goto(tampered);
  assert.equal(r.status(), 400);
  assert.match(await text(page, '.lk-error'), /This link is not valid/);

  // A spent verification link: the page says so and offers a new one.
  const other = freshEmail('late');
  await signUpAndVerify(env, other);
  const verifyLink = Mailbox.link(await env.mailbox.waitFor(other, 1));
  await page.goto(verifyLink);
  await page.getByRole('button', { name: 'Confirm email address' }).click();
  assert.match(await text(page, '.lk-error'), /expired or was already used/);
  assert.equal(await page.getByRole('button', { name: 'Send a new confirmation link' }).count(), 1);
  await screenshot(page, 'error-spent-verify-link');
});

test('a form without its CSRF token is refused with a 403 page and changes nothing', async () => {
  const page = await env.newPage();
  await signIn(page, env.latchkey.base, email, PASSWORD);
  await page.waitForURL(env.latchkey.url('/account'));
  // Remove the hidden field, then submit the change-password form as a
  // user would.
  const form = page.locator('form[action="/account/password"]');
  await form.locator('input[name="csrf"]').evaluate((el) => el.remove());
  await form.getByLabel('Current password').fill(PASSWORD);
  await form.getByLabel('New password').fill('another brand new passphrase');
  const [response] = await Promise.all([
    page.waitForResponse((r) => r.url().endsWith('/account/password')),
    form.getByRole('button', { name: 'Change password' }).click(),
  ]);
  assert.equal(response.status(), 403);
  await page.getByRole('heading', { name: 'This form has expired' }).waitFor();
  assert.match(await text(page, 'main'), /Nothing was changed/);
  await screenshot(page, 'error-csrf-missing');

  // A login form whose CSRF cookie was removed: refused too, no session.
  const stranger = await env.newPage();
  await stranger.goto(env.latchkey.url('/login'));
  await stranger.context().clearCookies({ name: 'latchkey_csrf' });
  await stranger.getByLabel('Email address').fill(email);
  await stranger.getByLabel('Password', { exact: true }).fill(PASSWORD);
  await stranger.getByRole('button', { name: 'Sign in' }).click();
  await stranger.getByRole('heading', { name: 'This form has expired' }).waitFor();
  const cookies = await stranger.context().cookies();
  assert.ok(!cookies.some((c) => c.name === 'latchkey_session'), 'no session was made');

  // Nothing changed: the old password still signs in, the session lives.
  const check = await env.newPage();
  await signIn(check, env.latchkey.base, email, PASSWORD);
  await check.waitForURL(env.latchkey.url('/account'));
  await page.goto(env.latchkey.url('/account'));
  assert.equal(new URL(page.url()).pathname, '/account');
});

test('a token from another session is refused', async () => {
  const a = await env.newPage({ userAgent: 'Device A' });
  const b = await env.newPage({ userAgent: 'Device B' });
  await signIn(a, env.latchkey.base, email);
  await signIn(b, env.latchkey.base, email);
  await a.waitForURL(env.latchkey.url('/account'));
  await b.waitForURL(env.latchkey.url('/account'));
  const tokenA = await a.locator('input[name="csrf"]').first().inputValue();
  // B's "sign out everywhere else" carries A's token.
  const form = b.locator('form[action="/account/sessions/end-others"]');
  await form.locator('input[name="csrf"]').evaluate((el, t) => { el.value = t; }, tokenA);
  await form.getByRole('button').click();
  await b.getByRole('heading', { name: 'This form has expired' }).waitFor();
  await screenshot(b, 'error-csrf-other-session');
  await a.reload();
  assert.equal(new URL(a.url()).pathname, '/account', 'A is still signed in');
});

test('return_to goes back to a configured origin, never to a foreign one', async () => {
  const foreign = `http://localhost:${env.application.port}/stolen`;
  const page = await env.newPage();
  await page.goto(env.latchkey.url(`/login?return_to=${encodeURIComponent(foreign)}`));
  assert.equal(await page.locator('input[name="return_to"]').count(), 0);
  await page.getByLabel('Email address').fill(email);
  await page.getByLabel('Password', { exact: true }).fill(PASSWORD);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.waitForURL(env.latchkey.url('/account'));
  await screenshot(page, 'return-to-foreign-refused');

  // The configured application's origin is allowed.
  const home = `${env.application.origin}/welcome?from=latchkey`;
  const allowed = await env.newPage();
  await allowed.goto(env.latchkey.url(`/login?return_to=${encodeURIComponent(home)}`));
  await allowed.getByLabel('Email address').fill(email);
  await allowed.getByLabel('Password', { exact: true }).fill(PASSWORD);
  await allowed.getByRole('button', { name: 'Sign in' }).click();
  // A page of ours moves on by itself (a form's redirect to another origin
  // would break the CSP's form-action 'self').
  await allowed.waitForURL(home);
  await allowed.getByRole('heading', { name: 'Back in the application' }).waitFor();
  await screenshot(allowed, 'return-to-application');
});
