// The harness: a real SMTP receiver, the real `latchkey serve` binary and a
// headless Debian chromium driven by playwright-core. Nothing is mocked and
// nothing is downloaded: the browser is /usr/bin/chromium (or
// LATCHKEY_CHROMIUM), the binary is LATCHKEY_BIN.

import { spawn } from 'node:child_process';
import { once } from 'node:events';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { simpleParser } from 'mailparser';
import { chromium } from 'playwright-core';
import { SMTPServer } from 'smtp-server';

const here = path.dirname(fileURLToPath(import.meta.url));
export const REPO = path.resolve(here, '..', '..');
export const SCREENSHOTS = process.env.UI_SCREENSHOTS || path.join(REPO, 'target', 'ui-screenshots');
export const CHROMIUM = process.env.LATCHKEY_CHROMIUM || '/usr/bin/chromium';
export const PASSWORD = 'correct horse battery';
export const PHONE = { width: 360, height: 740 };
export const DESKTOP = { width: 1440, height: 900 };

let counter = 0;
/** A fresh address for each account a test makes. */
export function freshEmail(name) {
  counter += 1;
  return `${name}-${process.pid}-${counter}@example.com`;
}

/** A free loopback port (bound, read and released). */
async function freePort() {
  const server = net.createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address();
  server.close();
  await once(server, 'close');
  return port;
}

// ---------------------------------------------------------------------------
// Mail

/** An SMTP server on loopback (plain, no TLS, no auth) that keeps every message. */
export class Mailbox {
  constructor() {
    this.messages = [];
    this.waiters = [];
    this.server = new SMTPServer({
      secure: false,
      authOptional: true,
      disabledCommands: ['STARTTLS', 'AUTH'],
      logger: false,
      onData: (stream, session, callback) => {
        simpleParser(stream)
          .then((mail) => {
            const to = (mail.to?.value ?? []).map((a) => a.address.toLowerCase());
            this.messages.push({ to, subject: mail.subject ?? '', text: mail.text ?? '' });
            for (const wake of this.waiters.splice(0)) wake();
            callback();
          })
          .catch(callback);
      },
    });
  }

  async start() {
    this.server.listen(0, '127.0.0.1');
    await once(this.server.server, 'listening');
    this.port = this.server.server.address().port;
    return this;
  }

  async stop() {
    await new Promise((resolve) => this.server.close(resolve));
  }

  to(address) {
    return this.messages.filter((m) => m.to.includes(address.toLowerCase()));
  }

  /** Waits until `address` has `count` messages, and returns the last one. */
  async waitFor(address, count = 1, timeoutMs = 15000) {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const got = this.to(address);
      if (got.length >= count) return got[count - 1];
      const left = deadline - Date.now();
      if (left <= 0) {
        throw new Error(`no message #${count} for ${address} within ${timeoutMs} ms; got ${got.length}`);
      }
      await new Promise((resolve) => {
        const timer = setTimeout(resolve, Math.min(left, 250));
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  /** The link (the first http URL) in a message's text. */
  static link(message) {
    const found = message.text.match(/https?:\/\/\S+/);
    if (!found) throw new Error(`no link in: ${message.text}`);
    return found[0];
  }
}

// ---------------------------------------------------------------------------
// The application a user comes from, and goes back to (for return_to)

export async function startApplication() {
  const server = http.createServer((req, res) => {
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
    res.end(`<!doctype html><title>Application</title><h1>Back in the application</h1><p>${req.url.replace(/[<>&"]/g, '')}</p>`);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address();
  return { server, port, origin: `http://127.0.0.1:${port}` };
}

// ---------------------------------------------------------------------------
// Latchkey

/** Starts `latchkey serve` on a free port with a temporary data directory. */
export async function startLatchkey({ smtpPort, env = {} }) {
  const bin = process.env.LATCHKEY_BIN;
  if (!bin || !fs.existsSync(bin)) {
    throw new Error(`LATCHKEY_BIN must name the latchkey binary (got ${JSON.stringify(bin)})`);
  }
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'latchkey-ui-'));
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const childEnv = Object.fromEntries(
    Object.entries(process.env).filter(([k]) => !k.startsWith('LATCHKEY_')),
  );
  Object.assign(childEnv, {
    LATCHKEY_LOG: 'warn',
    LATCHKEY_LISTEN: `127.0.0.1:${port}`,
    LATCHKEY_DATA_DIR: dataDir,
    LATCHKEY_PUBLIC_URL: base,
    LATCHKEY_SMTP_HOST: '127.0.0.1',
    LATCHKEY_SMTP_PORT: String(smtpPort),
    LATCHKEY_SMTP_TLS: 'none',
    LATCHKEY_SMTP_FROM: 'Latchkey <noreply@latchkey.test>',
    LATCHKEY_EMAIL_RETRY_BASE_SECS: '1',
    // One browser signs up and signs in many times from one address.
    LATCHKEY_RATE_LIMIT_LOGIN_PER_IP: 'off',
    LATCHKEY_RATE_LIMIT_LOGIN_PER_ACCOUNT: 'off',
    LATCHKEY_RATE_LIMIT_SIGNUP_PER_IP: 'off',
    LATCHKEY_RATE_LIMIT_FORGOT_PER_IP: 'off',
    LATCHKEY_RATE_LIMIT_FORGOT_PER_ACCOUNT: 'off',
    LATCHKEY_RATE_LIMIT_RESEND_PER_IP: 'off',
    LATCHKEY_RATE_LIMIT_RESEND_PER_ACCOUNT: 'off',
    ...env,
  });
  const child = spawn(bin, ['serve'], { env: childEnv, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (d) => { output += d; });
  child.stderr.on('data', (d) => { output += d; });
  const exited = once(child, 'exit');
  const deadline = Date.now() + 20000;
  for (;;) {
    if (child.exitCode !== null) {
      throw new Error(`latchkey exited with ${child.exitCode}:\n${output}`);
    }
    try {
      const r = await fetch(`${base}/health`);
      if (r.ok) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`latchkey did not answer on ${base} within 20 s:\n${output}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    base,
    url: (p) => `${base}${p}`,
    output: () => output,
    async stop() {
      if (child.exitCode === null) {
        child.kill('SIGTERM');
        await exited;
      }
      fs.rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

// ---------------------------------------------------------------------------
// The browser

export async function launchBrowser() {
  if (!fs.existsSync(CHROMIUM)) {
    throw new Error(`no chromium at ${CHROMIUM}: apt-get install -y chromium`);
  }
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    // Root in a container: no user namespaces for the sandbox.
    args: ['--no-sandbox', '--disable-dev-shm-usage', '--font-render-hinting=none'],
  });
}

/** Everything one test file needs, started together and stopped together. */
export async function setUp({ env = {} } = {}) {
  const mailbox = await new Mailbox().start();
  const application = await startApplication();
  const latchkey = await startLatchkey({
    smtpPort: mailbox.port,
    env: { LATCHKEY_UI_RETURN_TO_ORIGINS: application.origin, ...env },
  });
  const browser = await launchBrowser();
  fs.mkdirSync(SCREENSHOTS, { recursive: true });
  const contexts = [];
  return {
    mailbox,
    application,
    latchkey,
    browser,
    /** A new browser profile (its own cookies), with a page in it. */
    async newPage({ viewport = DESKTOP, colorScheme = 'light', userAgent, locale = 'en-GB' } = {}) {
      const context = await browser.newContext({ viewport, colorScheme, userAgent, locale });
      contexts.push(context);
      const page = await context.newPage();
      page.setDefaultTimeout(10000);
      return page;
    },
    async tearDown() {
      for (const c of contexts) await c.close().catch(() => {});
      await browser.close().catch(() => {});
      await latchkey.stop();
      await mailbox.stop();
      application.server.close();
    },
  };
}

/** Saves the page as it is now to SCREENSHOTS/<name>.png. */
export async function screenshot(page, name) {
  const file = path.join(SCREENSHOTS, `${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  return file;
}

/** The page's text, whitespace collapsed. */
export async function text(page, selector = 'body') {
  return (await page.locator(selector).first().innerText()).replace(/\s+/g, ' ').trim();
}

/** Whether the page is wider than its viewport (a layout that does not fit). */
export async function overflowsHorizontally(page) {
  return page.evaluate(() => document.documentElement.scrollWidth > window.innerWidth);
}

/**
 * Presses Tab until the focused element matches `describe(el)`, failing
 * after `max` presses: what a keyboard user does to reach a control.
 */
export async function tabTo(page, wanted, max = 40) {
  for (let i = 0; i < max; i += 1) {
    await page.keyboard.press('Tab');
    const focused = await page.evaluate(() => {
      const el = document.activeElement;
      if (!el) return null;
      const style = getComputedStyle(el);
      return {
        tag: el.tagName.toLowerCase(),
        name: el.getAttribute('name'),
        type: el.getAttribute('type'),
        text: (el.innerText || el.value || '').trim(),
        outline: style.outlineStyle !== 'none' && parseFloat(style.outlineWidth) > 0,
      };
    });
    if (focused && wanted(focused)) return focused;
  }
  throw new Error(`Tab never reached the wanted control on ${page.url()}`);
}

/** Signs up and confirms an account in a throwaway browser profile. */
export async function signUpAndVerify(env, email, password = PASSWORD) {
  const page = await env.newPage();
  await page.goto(env.latchkey.url('/signup'));
  await page.getByLabel('Email address').fill(email);
  await page.getByLabel('Password', { exact: true }).fill(password);
  await page.getByRole('button', { name: 'Create account' }).click();
  await page.getByRole('heading', { name: 'Check your email' }).waitFor();
  const mail = await env.mailbox.waitFor(email, 1);
  await page.goto(Mailbox.link(mail));
  await page.getByRole('button', { name: 'Confirm email address' }).click();
  await page.getByRole('heading', { name: 'Email address confirmed' }).waitFor();
  await page.context().close();
}

/** Signs in through the form in `page`. */
export async function signIn(page, base, email, password = PASSWORD) {
  await page.goto(`${base}/login`);
  await page.getByLabel('Email address').fill(email);
  await page.getByLabel('Password', { exact: true }).fill(password);
  await page.getByRole('button', { name: 'Sign in' }).click();
}
