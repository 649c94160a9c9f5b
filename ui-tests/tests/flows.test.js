// The main journeys, as a user goes through them in a real browser, with
// the email read from the real SMTP receiver.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import {
  DESKTOP, Mailbox, PASSWORD, PHONE, freshEmail, screenshot, setUp, signIn,
  signUpAndVerify, text,
} from '../lib/harness.js';

let env;
before(async () => { env = await setUp(); });
after(async () => { await env?.tearDown(); });

test('sign-up, email, verify, sign in, account, revoke a session, sign out everywhere else, log out', async () => {
  const email = freshEmail('ada');
  const page = await env.newPage({ viewport: DESKTOP, userAgent: 'First device' });
  await page.goto(env.latchkey.url('/login'));
  await page.getByRole('link', { name: 'Create an account' }).click();
  assert.equal(new URL(page.url()).pathname, '/signup');
  await page.getByLabel('Email address').fill(email);
  await page.getByLabel('Password', { exact: true }).fill(PASSWORD);
  await page.getByRole('button', { name: 'Create account' }).click();
  await page.getByRole('heading', { name: 'Check your email' }).waitFor();

  // The link from the email lands on /verify-email, and the token leaves
  // the address bar at once.
  const mail = await env.mailbox.waitFor(email, 1);
  const link = Mailbox.link(mail);
  assert.ok(link.startsWith(`${env.latchkey.base}/verify-email?token=`), link);
  await page.goto(link);
  assert.equal(page.url(), env.latchkey.url('/verify-email'));
  await page.getByRole('button', { name: 'Confirm email address' }).click();
  await page.getByRole('heading', { name: 'Email address confirmed' }).waitFor();
  await page.getByRole('link', { name: 'Go to sign in' }).click();

  await page.getByLabel('Email address').fill(email);
  await page.getByLabel('Password', { exact: true }).fill(PASSWORD);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.waitForURL(env.latchkey.url('/account'));
  assert.match(await text(page, '.lk-user-email'), new RegExp(email.replace(/[.+]/g, '\\$&')));
  assert.match(await text(page, '.lk-current'), /First device.*This device/);
  assert.match(await text(page, '.lk-events'), /Signed in/);

  // A second device signs in; the first signs it out by its own button.
  const second = await env.newPage({ viewport: DESKTOP, userAgent: 'Second device' });
  await signIn(second, env.latchkey.base, email);
  await second.waitForURL(env.latchkey.url('/account'));
  await page.reload();
  const other = page.locator('.lk-session', { hasText: 'Second device' });
  await other.getByRole('button', { name: 'Sign out' }).click();
  await page.getByText('The session has been signed out.').waitFor();
  assert.equal(await page.locator('.lk-session').count(), 1);
  await second.reload();
  assert.equal(new URL(second.url()).pathname, '/login', 'the revoked device is signed out');

  // Two more devices, then "sign out everywhere else".
  await signIn(second, env.latchkey.base, email);
  await second.waitForURL(env.latchkey.url('/account'));
  const third = await env.newPage({ viewport: PHONE, userAgent: 'Third device' });
  await signIn(third, env.latchkey.base, email);
  await third.waitForURL(env.latchkey.url('/account'));
  await page.reload();
  assert.equal(await page.locator('.lk-session').count(), 3);
  await page.getByRole('button', { name: 'Sign out everywhere else' }).click();
  await page.getByText('Every other session has been signed out.').waitFor();
  assert.equal(await page.locator('.lk-session').count(), 1);
  for (const p of [second, third]) {
    await p.reload();
    assert.equal(new URL(p.url()).pathname, '/login');
  }
  await screenshot(page, 'account-desktop');

  // Log out: a confirmation page, then the button.
  await page.getByRole('link', { name: 'Sign out' }).click();
  await page.getByRole('heading', { name: 'Sign out' }).waitFor();
  await page.getByRole('button', { name: 'Sign out' }).click();
  await page.getByText('You have been signed out.').waitFor();
  await page.goto(env.latchkey.url('/account'));
  assert.equal(new URL(page.url()).pathname, '/login');
  await screenshot(page, 'flow-signup-to-logout');
});

test('forgot password, email, reset, sign in with the new password (phone width)', async () => {
  const email = freshEmail('grace');
  await signUpAndVerify(env, email);
  const page = await env.newPage({ viewport: PHONE });
  await page.goto(env.latchkey.url('/login'));
  await page.getByRole('link', { name: 'Forgot your password?' }).click();
  await page.getByLabel('Email address').fill(email);
  await page.getByRole('button', { name: 'Send link' }).click();
  await page.getByRole('heading', { name: 'Check your email' }).waitFor();

  // Message 1 was the verification; 2 is the reset link.
  const link = Mailbox.link(await env.mailbox.waitFor(email, 2));
  assert.ok(link.startsWith(`${env.latchkey.base}/reset-password?token=`), link);
  const arrival = await page.goto(link);
  assert.equal(page.url(), env.latchkey.url('/reset-password'), 'the token left the URL');
  assert.equal(arrival.headers()['referrer-policy'], 'no-referrer');
  assert.match(await text(page, 'main'), new RegExp(`For the account: ${email.replace(/[.+]/g, '\\$&')}`));
  assert.equal(await page.getByLabel('New password').getAttribute('autocomplete'), 'new-password');

  // A weak password names the rule it fails; the form stays.
  await page.getByLabel('New password').fill('short');
  await page.getByRole('button', { name: 'Set new password' }).click();
  assert.match(await text(page, '.lk-error'), /does not meet these rules.*be at least 8 characters long/);

  const newPassword = 'a brand new passphrase';
  await page.getByLabel('New password').fill(newPassword);
  await page.getByRole('button', { name: 'Set new password' }).click();

  // On to the sign-in form with the address filled in; not signed in.
  await page.waitForURL((url) => url.pathname === '/login');
  assert.match(await text(page, '.lk-notice'), /Your password has been changed/);
  assert.equal(await page.getByLabel('Email address').inputValue(), email);
  // With the address there, the password field has the focus.
  await page.waitForFunction(() => document.activeElement?.name === 'password');
  await screenshot(page, 'reset-phone-done');
  await page.goto(env.latchkey.url('/account'));
  assert.equal(new URL(page.url()).pathname, '/login', 'not signed in by the reset');

  // The old password no longer works; the new one does.
  await page.getByLabel('Email address').fill(email);
  await page.getByLabel('Password', { exact: true }).fill(PASSWORD);
  await page.getByRole('button', { name: 'Sign in' }).click();
  assert.match(await text(page, '.lk-error'), /The email address or password is wrong/);
  await page.getByLabel('Password', { exact: true }).fill(newPassword);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.waitForURL(env.latchkey.url('/account'));
  assert.match(await text(page, '.lk-events'), /Password reset/);
  await screenshot(page, 'flow-reset-then-sign-in');
});

test('reset page as a phone user sees it (for the screenshots)', async () => {
  const email = freshEmail('linus');
  await signUpAndVerify(env, email);
  const page = await env.newPage({ viewport: PHONE });
  await page.goto(env.latchkey.url('/forgot-password'));
  await page.getByLabel('Email address').fill(email);
  await page.getByRole('button', { name: 'Send link' }).click();
  await page.goto(Mailbox.link(await env.mailbox.waitFor(email, 2)));
  await page.getByLabel('New password').waitFor();
  await screenshot(page, 'reset-phone');
});
