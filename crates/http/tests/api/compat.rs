//! The SanctumTools and leochilds.uk routes, in their seed documents' shapes,
//! and imported legacy hashes upgraded on login.

use std::time::Duration;

use latchkey_core::{Email, NewUser, Username};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{Backend, PASSWORD, TestApp, jwt_parts};

const BCRYPT_PASSWORD: &str = "correct horse battery staple";
const BCRYPT: &str = "$2b$05$fSUO/oLSH1DIYrWopIN59OVc8PWwwZgKQChMAmyedJQAxNdLemoPW";
/// Made by leochilds.uk's own `hashPassword` (Node `crypto.scrypt`), same password.
const SCRYPT: &str = "rMinp8B51y4D8wv9ygaGiOobFifWMQuMCy8vLLeSbuQ=:p/LFmOhekXGRiSK+KUqPukMGL19utE5EVPdLfM3EUjaJD1gr/4sLg38+75PhXzokDHkpwbKyNaeYZoqwdp4KJg==";

/// Typed with full-width letters, a ligature and a superscript; NFKC makes it
/// "correct horse battery fine 2". These hashes were made from the typed form
/// (Python's `crypt.crypt`; Node's `crypto.scrypt` the leochilds.uk way), as
/// the old systems, which did not normalise, would have.
const TYPED: &str =
    "correct horse \u{ff42}\u{ff41}\u{ff54}\u{ff54}\u{ff45}\u{ff52}\u{ff59} \u{fb01}ne \u{b2}";
const NORMALISED: &str = "correct horse battery fine 2";
const TYPED_BCRYPT: &str = "$2b$05$0m3g0..pGVyhrT/rSB1W6.LQ5BEiR2i01CegYKlPSFKf.csJE7YTi";
const TYPED_SCRYPT: &str = "GWWrid8pkMQi/vJht52dKRmineID/RDq3WDspor5wVI=:8pPef4NCvT10CTUMkvUlzM3Se07WnC7BLitdAqIHYvuifngYShDbkfuZXroWHl/mNgL+a5pS3qBg1zNuaHH5pw==";

async fn compat_app(backend: Backend) -> Option<TestApp> {
    TestApp::spawn_with(backend, |c| {
        c.compat = vec!["sanctumtools".into(), "leochilds".into()]
    })
    .await
}

async fn legacy_user(t: &TestApp, email: Option<&str>, username: Option<&str>, hash: &str) {
    t.app
        .store()
        .create_user(
            NewUser {
                email: email.map(|e| Email::parse(e).unwrap()),
                username: username.map(|u| Username::parse(u).unwrap()),
                password_hash: hash.into(),
                email_verified: true,
                custom_claims: Default::default(),
            },
            t.now(),
        )
        .await
        .unwrap();
}

async fn stored_hash_becomes_argon2id(t: &TestApp, username_or_email: &str) {
    for _ in 0..100 {
        let user = match t
            .app
            .store()
            .user_by_email(username_or_email)
            .await
            .unwrap()
        {
            Some(u) => u,
            None => t
                .app
                .store()
                .user_by_username(username_or_email)
                .await
                .unwrap()
                .unwrap(),
        };
        if user
            .password_hash
            .starts_with("$argon2id$v=19$m=19456,t=2,p=1$")
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the hash of {username_or_email} was not upgraded");
}

async fn compat_routes_are_off_unless_configured(backend: Backend) {
    let Some(t) = TestApp::spawn(backend).await else {
        return;
    };
    for path in [
        "/api/forgot-password",
        "/api/login",
        "/auth/login",
        "/auth/signup",
    ] {
        let r = t.post(path, json!({})).await;
        assert_eq!(r.status(), StatusCode::NOT_FOUND, "{path}");
    }
}

async fn sanctumtools_reset_flow_in_its_own_shapes(backend: Backend) {
    let Some(t) = compat_app(backend).await else {
        return;
    };
    legacy_user(&t, Some("alice@example.com"), None, BCRYPT).await;
    let (old, _) = t.login("alice@example.com", BCRYPT_PASSWORD).await;
    for email in ["alice@example.com", "nobody@example.com"] {
        let r = t
            .post("/api/forgot-password", json!({"email": email}))
            .await;
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(
            r.json::<Value>().await.unwrap(),
            json!({"success": true, "message": "Check your email"})
        );
    }
    let mail = t.smtp.wait_for("alice@example.com", 1).await.remove(0);
    assert!(
        mail.link()
            .starts_with(&format!("{}/reset-password?token=", t.base)),
        "{}",
        mail.link()
    );
    let token = mail.token();
    let r = t
        .client
        .get(t.url(&format!("/api/validate-reset-token?token={token}")))
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.json::<Value>().await.unwrap(),
        json!({"valid": true, "email": "alice@example.com"})
    );
    let r = t
        .post(
            "/api/reset-password",
            json!({"token": token, "newPassword": "sanctum new password"}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(
        r.json::<Value>().await.unwrap(),
        json!({"success": true, "message": "Password updated"})
    );
    // Old sessions are gone; the old and reused links fail in the same shape.
    assert_eq!(
        t.get_bearer("/api/v1/me", old["access_token"].as_str().unwrap())
            .await
            .status(),
        StatusCode::UNAUTHORIZED
    );
    let r = t
        .post(
            "/api/reset-password",
            json!({"token": token, "newPassword": "another new password"}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert_eq!(r.json::<Value>().await.unwrap()["success"], false);
    let r = t
        .client
        .get(t.url(&format!("/api/validate-reset-token?token={token}")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert_eq!(r.json::<Value>().await.unwrap()["valid"], false);
    // Login in SanctumTools' shape; the session token works on /api/v1 too.
    let r = t
        .post(
            "/api/login",
            json!({"email": "alice@example.com", "password": BCRYPT_PASSWORD}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        r.json::<Value>().await.unwrap(),
        json!({"success": false, "message": "Invalid email or password"})
    );
    let r = t
        .post(
            "/api/login",
            json!({"email": "alice@example.com", "password": "sanctum new password"}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.headers().get("set-cookie").is_some());
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["success"], true);
    let session = body["sessionToken"].as_str().unwrap();
    let me: Value = t
        .get_bearer("/api/v1/me", session)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(me["email"], "alice@example.com");
    let r = t
        .post(
            "/api/forgot-password",
            json!({"email": ["alice@example.com", "eve@example.com"]}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert_eq!(r.json::<Value>().await.unwrap()["success"], false);
}

async fn leochilds_username_accounts_and_24_hour_tokens(backend: Backend) {
    let Some(t) = compat_app(backend).await else {
        return;
    };
    let r = t
        .post(
            "/auth/signup",
            json!({"username": "leo", "password": PASSWORD}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    assert_eq!(
        r.json::<Value>().await.unwrap(),
        json!({"message": "User created", "username": "leo"})
    );
    let r = t
        .post(
            "/auth/signup",
            json!({"username": "LEO", "password": PASSWORD}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    assert_eq!(
        r.json::<Value>().await.unwrap(),
        json!({"error": "User already exists"})
    );
    let r = t
        .post(
            "/auth/signup",
            json!({"username": "mia", "password": "short"}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(
        r.json::<Value>().await.unwrap()["error"]
            .as_str()
            .unwrap()
            .contains("8 characters")
    );
    let r = t
        .post(
            "/auth/login",
            json!({"username": "leo", "password": "wrong password"}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        r.json::<Value>().await.unwrap(),
        json!({"error": "Invalid credentials"})
    );
    let r = t
        .post(
            "/auth/login",
            json!({"username": "leo", "password": PASSWORD}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body.as_object().unwrap().len(), 1, "{body}");
    let token = body["token"].as_str().unwrap();
    let (_, claims) = jwt_parts(token);
    assert_eq!(claims["username"], "leo");
    assert_eq!(
        claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
        86_400
    );
    let r = t.get_bearer("/auth/user", token).await;
    let user: Value = r.json().await.unwrap();
    assert_eq!(user["username"], "leo");
    assert!(!user.to_string().contains("argon2") && user.get("passwordHash").is_none());
    // Idle for hours, still valid within its day; then not.
    t.advance(6 * 3600).await;
    assert_eq!(
        t.get_bearer("/auth/user", token).await.status(),
        StatusCode::OK
    );
    t.advance(18 * 3600).await;
    let r = t.get_bearer("/auth/user", token).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        r.json::<Value>().await.unwrap(),
        json!({"error": "Unauthorized"})
    );
    assert_eq!(
        t.client
            .get(t.url("/auth/user"))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::UNAUTHORIZED
    );
}

async fn imported_hashes_log_in_and_are_upgraded(backend: Backend) {
    let Some(t) = compat_app(backend).await else {
        return;
    };
    legacy_user(&t, Some("bcrypt@example.com"), None, BCRYPT).await;
    legacy_user(&t, None, Some("scrypt_user"), SCRYPT).await;
    let r = t
        .post(
            "/api/v1/login",
            json!({"email": "bcrypt@example.com", "password": "wrong password"}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    t.login("bcrypt@example.com", BCRYPT_PASSWORD).await;
    stored_hash_becomes_argon2id(&t, "bcrypt@example.com").await;
    t.login("bcrypt@example.com", BCRYPT_PASSWORD).await;
    let r = t
        .post(
            "/auth/login",
            json!({"username": "scrypt_user", "password": BCRYPT_PASSWORD}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    stored_hash_becomes_argon2id(&t, "scrypt_user").await;
    let r = t
        .post(
            "/auth/login",
            json!({"username": "scrypt_user", "password": BCRYPT_PASSWORD}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
}

/// A password with compatibility characters, imported with a hash of it as
/// typed, signs in as typed; the upgraded hash is of the normalised form, so
/// either spelling works from then on.
async fn imported_hashes_of_unnormalised_passwords_log_in_as_typed(backend: Backend) {
    let Some(t) = compat_app(backend).await else {
        return;
    };
    legacy_user(&t, Some("typed@example.com"), None, TYPED_BCRYPT).await;
    legacy_user(&t, None, Some("typed_scrypt"), TYPED_SCRYPT).await;
    t.login("typed@example.com", TYPED).await;
    stored_hash_becomes_argon2id(&t, "typed@example.com").await;
    t.login("typed@example.com", TYPED).await;
    t.login("typed@example.com", NORMALISED).await;
    let login = |password: &'static str| {
        t.post(
            "/auth/login",
            json!({"username": "typed_scrypt", "password": password}),
        )
    };
    assert_eq!(login(TYPED).await.status(), StatusCode::OK);
    stored_hash_becomes_argon2id(&t, "typed_scrypt").await;
    assert_eq!(login(NORMALISED).await.status(), StatusCode::OK);
}

/// `require_verified_email` concerns accounts with an address: one named
/// only by a username has none to verify and signs in on `/api/v1/login`;
/// one with an unconfirmed address does not, by username either.
async fn username_only_accounts_sign_in_while_addresses_must_be_verified(backend: Backend) {
    let Some(t) = compat_app(backend).await else {
        return;
    };
    assert!(t.app.config().require_verified_email);
    let r = t
        .post(
            "/auth/signup",
            json!({"username": "leo", "password": PASSWORD}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let r = t
        .post(
            "/api/v1/login",
            json!({"username": "leo", "password": PASSWORD}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["user"]["username"], "leo");
    assert_eq!(body["user"]["email"], Value::Null);
    assert_eq!(body["user"]["email_verified"], false);
    let r = t
        .post(
            "/api/v1/signup",
            json!({"email": "mia@example.com", "username": "mia", "password": PASSWORD}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    for id in [
        json!({"username": "mia"}),
        json!({"email": "mia@example.com"}),
    ] {
        let mut body = id.clone();
        body["password"] = json!(PASSWORD);
        let r = t.post("/api/v1/login", body).await;
        crate::helpers::problem(r, StatusCode::FORBIDDEN, "email-not-verified").await;
    }
}

/// Issue 11, item 4: the opaque session token (the session cookie's value)
/// is a bearer token on `/api/v1` only for SanctumTools' `sessionToken`;
/// without those routes it is refused, while the cookie keeps working.
async fn the_session_token_is_a_bearer_token_only_with_sanctumtools(backend: Backend) {
    for (compat, works) in [
        (vec![], false),
        (vec!["leochilds".to_owned()], false),
        (vec!["sanctumtools".to_owned()], true),
    ] {
        let Some(t) = TestApp::spawn_with(backend, |c| c.compat = compat.clone()).await else {
            return;
        };
        t.user("opaque@example.com").await;
        let (_, cookie) = t.login("opaque@example.com", PASSWORD).await;
        let pair = cookie.split(';').next().unwrap();
        let token = pair.split_once('=').unwrap().1;
        assert!(!token.contains('.'), "{token}");
        let r = t.get_bearer("/api/v1/me", token).await;
        if works {
            assert_eq!(r.status(), StatusCode::OK, "{compat:?}");
        } else {
            crate::helpers::problem(r, StatusCode::UNAUTHORIZED, "unauthenticated").await;
        }
        let r = t
            .client
            .get(t.url("/api/v1/me"))
            .header("cookie", pair)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK, "the cookie works: {compat:?}");
    }
}

crate::on_both_backends!(
    the_session_token_is_a_bearer_token_only_with_sanctumtools,
    compat_routes_are_off_unless_configured,
    sanctumtools_reset_flow_in_its_own_shapes,
    leochilds_username_accounts_and_24_hour_tokens,
    imported_hashes_log_in_and_are_upgraded,
    imported_hashes_of_unnormalised_passwords_log_in_as_typed,
    username_only_accounts_sign_in_while_addresses_must_be_verified,
);
