//! Second factors: TOTP enrolment, the two-step login, recovery codes.
//! Codes are computed here by an RFC 6238 implementation of the test's own
//! (hmac + sha1), not the server's.

use hmac::{KeyInit, Mac};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{Backend, PASSWORD, TestApp, jwt_parts, problem};

const EMAIL: &str = "mfa@example.com";

fn base32_decode(s: &str) -> Vec<u8> {
    let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let (mut buffer, mut bits, mut out) = (0u32, 0u32, Vec::new());
    for c in s.bytes() {
        let v = alphabet.iter().position(|&a| a == c).unwrap() as u32;
        buffer = (buffer << 5) | v;
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push((buffer >> bits) as u8);
            buffer &= (1 << bits) - 1;
        }
    }
    out
}

/// RFC 6238 with SHA-1, 6 digits, 30-second steps.
fn totp(secret_b32: &str, at: i64) -> String {
    let key = base32_decode(secret_b32);
    let mut mac = hmac::Hmac::<sha1::Sha1>::new_from_slice(&key).unwrap();
    mac.update(&((at / 30) as u64).to_be_bytes());
    let d = mac.finalize().into_bytes();
    let o = (d[19] & 0xf) as usize;
    let n = u32::from_be_bytes([d[o] & 0x7f, d[o + 1], d[o + 2], d[o + 3]]);
    format!("{:06}", n % 1_000_000)
}

/// A user with a confirmed TOTP factor: (secret, recovery codes).
async fn enrolled(t: &TestApp) -> (String, Vec<String>) {
    t.user(EMAIL).await;
    let (body, _) = t.login(EMAIL, PASSWORD).await;
    let token = body["access_token"].as_str().unwrap().to_owned();
    let r = t
        .post_bearer("/api/v1/me/mfa/totp", &token, json!({}))
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let e: Value = r.json().await.unwrap();
    let secret = e["secret"].as_str().unwrap().to_owned();
    assert_eq!(secret.len(), 32);
    assert!(
        e["otpauth_uri"]
            .as_str()
            .unwrap()
            .starts_with("otpauth://totp/")
    );
    assert!(e["otpauth_uri"].as_str().unwrap().contains(&secret));
    assert!(e["qr_svg"].as_str().unwrap().contains("<svg"));
    let id = e["id"].as_str().unwrap();
    // Pending: not yet asked for at login.
    let (pending, _) = t.login(EMAIL, PASSWORD).await;
    let (_, claims) = jwt_parts(pending["access_token"].as_str().unwrap());
    assert_eq!(claims["amr"], json!(["pwd"]));

    let wrong = t
        .post_bearer(
            "/api/v1/me/mfa/totp/confirm",
            &token,
            json!({"id": id, "code": "000000"}),
        )
        .await;
    // (A chance in a few hundred thousand that 000000 is right.)
    problem(wrong, StatusCode::BAD_REQUEST, "invalid-code").await;
    let r = t
        .post_bearer(
            "/api/v1/me/mfa/totp/confirm",
            &token,
            json!({"id": id, "code": totp(&secret, t.now())}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let c: Value = r.json().await.unwrap();
    let codes: Vec<String> = c["recovery_codes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_owned())
        .collect();
    assert_eq!(codes.len(), 10);
    // The secret is not stored in the clear.
    let stored = t.app.store().factors(pending_user(t).await).await.unwrap();
    assert_eq!(stored.len(), 1);
    assert!(
        !stored[0]
            .secret
            .windows(20)
            .any(|w| w == base32_decode(&secret).as_slice())
    );
    assert!(!String::from_utf8_lossy(&stored[0].secret).contains(&secret));
    // The step used to confirm is spent.
    t.advance(30).await;
    (secret, codes)
}

async fn pending_user(t: &TestApp) -> latchkey_core::UserId {
    t.app
        .store()
        .user_by_email(latchkey_core::Email::parse(EMAIL).unwrap().key())
        .await
        .unwrap()
        .unwrap()
        .id
}

/// The first step: an mfa_token and no session.
async fn first_step(t: &TestApp) -> String {
    let r = t
        .post(
            "/api/v1/login",
            json!({"email": EMAIL, "password": PASSWORD}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.headers().get("set-cookie").is_none());
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["mfa_required"], true, "{body}");
    assert_eq!(body["factors"], json!(["totp", "recovery_code"]));
    assert!(body.get("access_token").is_none());
    body["mfa_token"].as_str().unwrap().to_owned()
}

async fn second_step(t: &TestApp, token: &str, factor: &str, code: &str) -> reqwest::Response {
    t.post(
        "/api/v1/login/mfa",
        json!({"mfa_token": token, "factor": factor, "code": code}),
    )
    .await
}

async fn totp_login_takes_two_steps_and_each_code_works_once(backend: Backend) {
    let Some(t) = TestApp::spawn(backend).await else {
        return;
    };
    let (secret, _) = enrolled(&t).await;
    let mfa_token = first_step(&t).await;
    // The mfa_token is no bearer token.
    problem(
        t.get_bearer("/api/v1/me", &mfa_token).await,
        StatusCode::UNAUTHORIZED,
        "unauthenticated",
    )
    .await;
    let code = totp(&secret, t.now());
    let r = second_step(&t, &mfa_token, "totp", &code).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.headers().get("set-cookie").is_some());
    let body: Value = r.json().await.unwrap();
    let access = body["access_token"].as_str().unwrap();
    let (_, claims) = jwt_parts(access);
    assert_eq!(claims["amr"], json!(["pwd", "otp", "mfa"]));
    // A refresh keeps it.
    let r = t
        .post(
            "/api/v1/token/refresh",
            json!({"refresh_token": body["refresh_token"]}),
        )
        .await;
    let refreshed: Value = r.json().await.unwrap();
    let (_, claims) = jwt_parts(refreshed["access_token"].as_str().unwrap());
    assert_eq!(claims["amr"], json!(["pwd", "otp", "mfa"]));
    assert_eq!(
        t.get_bearer("/api/v1/me", access).await.status(),
        StatusCode::OK
    );
    // The token is spent; and the same code on a new token is a replay.
    problem(
        second_step(&t, &mfa_token, "totp", &code).await,
        StatusCode::BAD_REQUEST,
        "invalid-code",
    )
    .await;
    let again = first_step(&t).await;
    problem(
        second_step(&t, &again, "totp", &code).await,
        StatusCode::BAD_REQUEST,
        "invalid-code",
    )
    .await;
    // GET /me/mfa shows the factor, never its secret.
    let r = t.get_bearer("/api/v1/me/mfa", access).await;
    assert_eq!(r.status(), StatusCode::OK);
    let text = r.text().await.unwrap();
    assert!(!text.contains(&secret));
    let list: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(list["recovery_codes_left"], 10);
    assert_eq!(list["factors"][0]["type"], "totp");
    assert_eq!(list["factors"][0]["confirmed"], true);
}

async fn one_step_either_side_is_accepted_two_are_not(backend: Backend) {
    let Some(t) = TestApp::spawn(backend).await else {
        return;
    };
    let (secret, _) = enrolled(&t).await;
    for (offset, ok) in [(-60, false), (60, false), (-30, true), (30, true)] {
        t.advance(90).await;
        let code = totp(&secret, t.now() + offset);
        // Skip the rare code that is also right for a nearer step.
        if [-30, 0, 30]
            .iter()
            .any(|d| *d != offset && totp(&secret, t.now() + d) == code)
        {
            continue;
        }
        let token = first_step(&t).await;
        let r = second_step(&t, &token, "totp", &code).await;
        let status = if ok {
            StatusCode::OK
        } else {
            StatusCode::BAD_REQUEST
        };
        assert_eq!(r.status(), status, "offset {offset}");
    }
}

async fn five_wrong_codes_lock_the_second_step(backend: Backend) {
    let Some(t) = TestApp::spawn(backend).await else {
        return;
    };
    let (secret, _) = enrolled(&t).await;
    let right = totp(&secret, t.now());
    let wrong = if right == "123456" {
        "654321"
    } else {
        "123456"
    };
    for _ in 0..5 {
        let token = first_step(&t).await;
        problem(
            second_step(&t, &token, "totp", wrong).await,
            StatusCode::BAD_REQUEST,
            "invalid-code",
        )
        .await;
    }
    let token = first_step(&t).await;
    problem(
        second_step(&t, &token, "totp", &right).await,
        StatusCode::TOO_MANY_REQUESTS,
        "too-many-attempts",
    )
    .await;
    // The password's lockout is apart: the first step still answers.
    let token = first_step(&t).await;
    // An operator's unlock lifts the second step's lock too.
    let user = t
        .app
        .store()
        .user_by_id(pending_user(&t).await)
        .await
        .unwrap()
        .unwrap();
    t.app.admin().unlock(&user).await.unwrap();
    let r = second_step(&t, &token, "totp", &right).await;
    assert_eq!(r.status(), StatusCode::OK);
}

async fn recovery_codes_work_once(backend: Backend) {
    let Some(t) = TestApp::spawn(backend).await else {
        return;
    };
    let (_, codes) = enrolled(&t).await;
    let token = first_step(&t).await;
    let sloppy = codes[3].to_lowercase();
    let r = second_step(&t, &token, "recovery_code", &sloppy).await;
    assert_eq!(r.status(), StatusCode::OK);
    let body: Value = r.json().await.unwrap();
    let access = body["access_token"].as_str().unwrap();
    // The owner hears of it, and the trail records it.
    let mail = t.smtp.wait_for(EMAIL, 1).await.remove(0);
    assert!(
        mail.subject().contains("recovery code"),
        "{}",
        mail.subject()
    );
    let events: Value = t
        .get_bearer("/api/v1/me/events", access)
        .await
        .json()
        .await
        .unwrap();
    let kinds: Vec<&str> = events["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event"].as_str().unwrap())
        .collect();
    for kind in ["recovery_code_used", "mfa_verified", "mfa_enrolled"] {
        assert!(kinds.contains(&kind), "{kind} in {kinds:?}");
    }
    let token = first_step(&t).await;
    problem(
        second_step(&t, &token, "recovery_code", &codes[3]).await,
        StatusCode::BAD_REQUEST,
        "invalid-code",
    )
    .await;
    let token = first_step(&t).await;
    problem(
        second_step(&t, &token, "bogus", &codes[4]).await,
        StatusCode::BAD_REQUEST,
        "invalid-request",
    )
    .await;
}

async fn mfa_tokens_expire_after_five_minutes(backend: Backend) {
    let Some(t) = TestApp::spawn(backend).await else {
        return;
    };
    let (secret, _) = enrolled(&t).await;
    let token = first_step(&t).await;
    t.advance(301).await;
    problem(
        second_step(&t, &token, "totp", &totp(&secret, t.now())).await,
        StatusCode::BAD_REQUEST,
        "invalid-code",
    )
    .await;
}

async fn enrolment_needs_a_recent_login(backend: Backend) {
    let Some(t) = TestApp::spawn(backend).await else {
        return;
    };
    t.user(EMAIL).await;
    let (body, _) = t.login(EMAIL, PASSWORD).await;
    let token = body["access_token"].as_str().unwrap();
    t.advance(240).await;
    // Tokens live shorter than five minutes: refresh, same session.
    let r = t.post_bearer("/api/v1/me/mfa/totp", token, json!({})).await;
    assert_eq!(r.status(), StatusCode::OK);
    t.advance(70).await;
    let r = t
        .post(
            "/api/v1/token/refresh",
            json!({"refresh_token": body["refresh_token"]}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let fresh: Value = r.json().await.unwrap();
    let fresh = fresh["access_token"].as_str().unwrap();
    problem(
        t.post_bearer("/api/v1/me/mfa/totp", fresh, json!({})).await,
        StatusCode::FORBIDDEN,
        "reauthentication-required",
    )
    .await;
    // A wrong password does not renew it; the right one does.
    problem(
        t.post_bearer(
            "/api/v1/reauthenticate",
            fresh,
            json!({"password": "not it at all"}),
        )
        .await,
        StatusCode::FORBIDDEN,
        "current-password-wrong",
    )
    .await;
    let r = t
        .post_bearer(
            "/api/v1/reauthenticate",
            fresh,
            json!({"password": PASSWORD}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let r = t.post_bearer("/api/v1/me/mfa/totp", fresh, json!({})).await;
    assert_eq!(r.status(), StatusCode::OK);
    t.advance(301).await;
    problem(
        t.post_bearer("/api/v1/me/mfa/totp", fresh, json!({})).await,
        StatusCode::FORBIDDEN,
        "reauthentication-required",
    )
    .await;
}

/// Signs in with both steps and returns the access token.
async fn full_login(t: &TestApp, codes: &[String], which: usize) -> String {
    let token = first_step(t).await;
    let r = second_step(t, &token, "recovery_code", &codes[which]).await;
    assert_eq!(r.status(), StatusCode::OK);
    let body: Value = r.json().await.unwrap();
    body["access_token"].as_str().unwrap().to_owned()
}

async fn regenerating_replaces_the_codes_and_removing_the_factor_ends_the_second_step(
    backend: Backend,
) {
    let Some(t) = TestApp::spawn(backend).await else {
        return;
    };
    let (_, old) = enrolled(&t).await;
    let access = full_login(&t, &old, 0).await;
    let r = t
        .post_bearer("/api/v1/me/mfa/recovery-codes", &access, json!({}))
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let body: Value = r.json().await.unwrap();
    let new: Vec<String> = body["recovery_codes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_owned())
        .collect();
    assert_eq!(new.len(), 10);
    let token = first_step(&t).await;
    problem(
        second_step(&t, &token, "recovery_code", &old[1]).await,
        StatusCode::BAD_REQUEST,
        "invalid-code",
    )
    .await;
    let access = full_login(&t, &new, 1).await;

    let list: Value = t
        .get_bearer("/api/v1/me/mfa", &access)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(list["recovery_codes_left"], 9);
    let id = list["factors"][0]["id"].as_str().unwrap().to_owned();
    // Not after five minutes.
    t.advance(301).await;
    problem(
        t.delete_bearer(&format!("/api/v1/me/mfa/{id}"), &access)
            .await,
        StatusCode::FORBIDDEN,
        "reauthentication-required",
    )
    .await;
    let access = full_login(&t, &new, 2).await;
    let r = t
        .delete_bearer(&format!("/api/v1/me/mfa/{id}"), &access)
        .await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    problem(
        t.delete_bearer(&format!("/api/v1/me/mfa/{id}"), &access)
            .await,
        StatusCode::NOT_FOUND,
        "not-found",
    )
    .await;
    // A password alone signs in again.
    let (body, _) = t.login(EMAIL, PASSWORD).await;
    assert!(body["access_token"].is_string());
}

async fn logins_without_a_second_step_refuse_a_user_with_a_factor(backend: Backend) {
    let Some(t) = TestApp::spawn_with(backend, |c| {
        c.compat = vec!["sanctumtools".into()];
    })
    .await
    else {
        return;
    };
    enrolled(&t).await;
    let r = t
        .post("/api/login", json!({"email": EMAIL, "password": PASSWORD}))
        .await;
    assert_ne!(r.status(), StatusCode::OK);
    assert!(r.headers().get("set-cookie").is_none());
    let text = r.text().await.unwrap();
    assert!(!text.contains("sessionToken"), "{text}");
    // No session was opened by either attempt.
    let id = pending_user(&t).await;
    let open = t.app.store().open_sessions(id).await.unwrap();
    // The two password logins of the enrolment, nothing since.
    assert_eq!(open.len(), 2);
}

crate::on_both_backends!(
    logins_without_a_second_step_refuse_a_user_with_a_factor,
    regenerating_replaces_the_codes_and_removing_the_factor_ends_the_second_step,
    totp_login_takes_two_steps_and_each_code_works_once,
    one_step_either_side_is_accepted_two_are_not,
    five_wrong_codes_lock_the_second_step,
    recovery_codes_work_once,
    mfa_tokens_expire_after_five_minutes,
    enrolment_needs_a_recent_login,
);
