//! Access tokens: real signatures checked against the JWKS, and forgeries refused.

use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_FIXED, ED25519, Ed25519KeyPair, KeyPair, RSA_PKCS1_2048_8192_SHA256,
    RsaPublicKeyComponents, UnparsedPublicKey,
};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{Backend, PASSWORD, TestApp, jwt_assemble, jwt_parts, problem};

fn b64(s: &Value) -> Vec<u8> {
    URL_SAFE_NO_PAD.decode(s.as_str().unwrap()).unwrap()
}

/// Verifies a token's signature with the JWKS key its `kid` names, using
/// aws-lc-rs directly rather than the server's JWT library.
fn signature_checks_out(token: &str, jwks: &Value) -> bool {
    let (header, _) = jwt_parts(token);
    let Some(jwk) = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kid"] == header["kid"])
    else {
        return false;
    };
    let (signed, sig) = token.rsplit_once('.').unwrap();
    let sig = URL_SAFE_NO_PAD.decode(sig).unwrap();
    match jwk["kty"].as_str().unwrap() {
        "OKP" => UnparsedPublicKey::new(&ED25519, b64(&jwk["x"]))
            .verify(signed.as_bytes(), &sig)
            .is_ok(),
        "EC" => {
            let mut point = vec![4u8];
            point.extend(b64(&jwk["x"]));
            point.extend(b64(&jwk["y"]));
            UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, point)
                .verify(signed.as_bytes(), &sig)
                .is_ok()
        }
        "RSA" => RsaPublicKeyComponents {
            n: b64(&jwk["n"]),
            e: b64(&jwk["e"]),
        }
        .verify(&RSA_PKCS1_2048_8192_SHA256, signed.as_bytes(), &sig)
        .is_ok(),
        _ => false,
    }
}

async fn jwks(t: &TestApp) -> Value {
    t.client
        .get(t.url("/.well-known/jwks.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

async fn each_algorithm_signs_tokens_that_verify_against_the_jwks(backend: Backend) {
    for alg in ["EdDSA", "ES256", "RS256"] {
        let Some(t) = TestApp::spawn_with(backend, |c| c.tokens.algorithm = alg.into()).await
        else {
            return;
        };
        t.user("jwt@example.com").await;
        let (login, _) = t.login("jwt@example.com", PASSWORD).await;
        let token = login["access_token"].as_str().unwrap();
        let (header, claims) = jwt_parts(token);
        assert_eq!(header["alg"], alg);
        assert_eq!(header["typ"], "at+jwt");
        let keys = jwks(&t).await;
        assert!(
            signature_checks_out(token, &keys),
            "{alg} signature does not verify"
        );
        assert_eq!(claims["iss"], t.base);
        assert_eq!(claims["aud"], "latchkey");
        assert_eq!(claims["sid"], login["session_id"]);
        assert_eq!(claims["sub"], login["user"]["id"]);
        assert_eq!(claims["email"], "jwt@example.com");
        assert_eq!(claims["email_verified"], true);
        assert_eq!(
            claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
            900
        );
        assert!(claims["jti"].is_string());
        // A changed claim breaks the signature.
        let mut forged = claims.clone();
        forged["email"] = json!("admin@example.com");
        let sig = URL_SAFE_NO_PAD
            .decode(token.rsplit_once('.').unwrap().1)
            .unwrap();
        let tampered = jwt_assemble(&header, &forged, &sig);
        assert!(!signature_checks_out(&tampered, &keys));
        let r = t.get_bearer("/api/v1/me", &tampered).await;
        problem(r, StatusCode::UNAUTHORIZED, "unauthenticated").await;
    }
}

async fn custom_claims_go_into_the_token(backend: Backend) {
    let Some(t) = TestApp::spawn(backend).await else {
        return;
    };
    let email = latchkey_core::Email::parse("c@example.com").unwrap();
    let claims = json!({"tenant_id": "acme", "roles": ["admin"], "sub": "spoofed"});
    t.app
        .store()
        .create_user(
            latchkey_core::NewUser {
                email: Some(email),
                username: None,
                password_hash: t
                    .app
                    .hasher()
                    .hash(&latchkey_core::Password::parse_attempt(PASSWORD).unwrap())
                    .unwrap(),
                email_verified: true,
                custom_claims: claims.as_object().unwrap().clone(),
            },
            t.now(),
        )
        .await
        .unwrap();
    let (login, _) = t.login("c@example.com", PASSWORD).await;
    let (_, claims) = jwt_parts(login["access_token"].as_str().unwrap());
    assert_eq!(claims["tenant_id"], "acme");
    assert_eq!(claims["roles"], json!(["admin"]));
    assert_eq!(
        claims["sub"], login["user"]["id"],
        "a custom claim cannot replace sub"
    );
}

async fn forged_tokens_are_refused(backend: Backend) {
    let Some(t) = TestApp::spawn(backend).await else {
        return;
    };
    t.user("f@example.com").await;
    let (login, _) = t.login("f@example.com", PASSWORD).await;
    let token = login["access_token"].as_str().unwrap();
    let (header, claims) = jwt_parts(token);
    let keys = jwks(&t).await;
    let public_x = b64(&keys["keys"][0]["x"]);
    let mut attempts = Vec::new();
    // alg: none, with and without a signature part.
    let none = json!({"alg": "none", "typ": "at+jwt", "kid": header["kid"]});
    attempts.push(jwt_assemble(&none, &claims, b""));
    attempts.push(jwt_assemble(&none, &claims, b"x"));
    // HS256 keyed with the public key (raw bytes and the JWK text).
    let hs = json!({"alg": "HS256", "typ": "at+jwt", "kid": header["kid"]});
    for secret in [public_x.clone(), keys["keys"][0].to_string().into_bytes()] {
        let unsigned = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(hs.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, &secret);
        let tag = aws_lc_rs::hmac::sign(&key, unsigned.as_bytes());
        attempts.push(format!(
            "{unsigned}.{}",
            URL_SAFE_NO_PAD.encode(tag.as_ref())
        ));
    }
    // A key of the attacker's own, under a foreign kid and under ours.
    let rng = aws_lc_rs::rand::SystemRandom::new();
    let pkcs8 = Ed25519KeyPair::generate_pkcs8(&rng).unwrap();
    let attacker = Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).unwrap();
    for kid in [json!("attacker"), header["kid"].clone()] {
        let h = json!({"alg": "EdDSA", "typ": "at+jwt", "kid": kid,
                       "jwk": {"kty": "OKP", "crv": "Ed25519", "x": URL_SAFE_NO_PAD.encode(attacker.public_key().as_ref())}});
        let unsigned = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(h.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let sig = attacker.sign(unsigned.as_bytes());
        attempts.push(format!(
            "{unsigned}.{}",
            URL_SAFE_NO_PAD.encode(sig.as_ref())
        ));
    }
    // Our own valid signature but a different typ is refused too: the
    // refresh token is opaque, and nothing but an access token is accepted.
    attempts.push(login["refresh_token"].as_str().unwrap().to_owned());
    attempts.push(String::new());
    attempts.push("a.b.c".into());
    attempts.push("x".repeat(10_000));
    for forged in attempts {
        let r = t.get_bearer("/api/v1/me", &forged).await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "accepted: {forged}");
    }
    assert_eq!(
        t.get_bearer("/api/v1/me", token).await.status(),
        StatusCode::OK
    );
}

async fn tokens_expire_and_belong_to_one_issuer(backend: Backend) {
    let Some(t) = TestApp::spawn(backend).await else {
        return;
    };
    t.user("e@example.com").await;
    // A second server on the same database and master key but another
    // issuer: its tokens carry a valid signature, and still do not pass here.
    let other_dir = tempfile::tempdir().unwrap();
    std::fs::copy(
        t.dir.path().join("master.key"),
        other_dir.path().join("master.key"),
    )
    .unwrap();
    let mut other = t.app.config().clone();
    other.data_dir = other_dir.path().to_path_buf();
    other.public_url = "http://other.example.com".into();
    let foreign = TestApp::start(other, other_dir).await;
    let (foreign_login, _) = foreign.login("e@example.com", PASSWORD).await;
    let foreign_token = foreign_login["access_token"].as_str().unwrap();
    assert_eq!(
        foreign
            .get_bearer("/api/v1/me", foreign_token)
            .await
            .status(),
        StatusCode::OK
    );
    problem(
        t.get_bearer("/api/v1/me", foreign_token).await,
        StatusCode::UNAUTHORIZED,
        "unauthenticated",
    )
    .await;

    let (login, _) = t.login("e@example.com", PASSWORD).await;
    let token = login["access_token"].as_str().unwrap();
    t.clock.advance(14 * 60);
    assert_eq!(
        t.get_bearer("/api/v1/me", token).await.status(),
        StatusCode::OK
    );
    t.clock.advance(2 * 60);
    problem(
        t.get_bearer("/api/v1/me", token).await,
        StatusCode::UNAUTHORIZED,
        "unauthenticated",
    )
    .await;
}

async fn rotation_keeps_issued_tokens_valid(backend: Backend) {
    let Some(t) = TestApp::spawn(backend).await else {
        return;
    };
    t.user("k@example.com").await;
    let (before, _) = t.login("k@example.com", PASSWORD).await;
    let old_kid = jwt_parts(before["access_token"].as_str().unwrap()).0["kid"].clone();
    let new_kid = t.app.keys().rotate(t.now()).await.unwrap();
    let keys = jwks(&t).await;
    let kids: Vec<_> = keys["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].clone())
        .collect();
    assert!(
        kids.contains(&old_kid) && kids.contains(&json!(new_kid)),
        "{kids:?}"
    );
    let (after, _) = t.login("k@example.com", PASSWORD).await;
    assert_eq!(
        jwt_parts(after["access_token"].as_str().unwrap()).0["kid"],
        json!(new_kid)
    );
    assert_eq!(
        t.get_bearer("/api/v1/me", before["access_token"].as_str().unwrap())
            .await
            .status(),
        StatusCode::OK
    );
    // Once every token of the old key has expired, it leaves the JWKS.
    t.clock.advance(20 * 60);
    t.app.keys().reload(t.now()).await.unwrap();
    let keys = jwks(&t).await;
    assert_eq!(keys["keys"].as_array().unwrap().len(), 1);
    assert_eq!(keys["keys"][0]["kid"], json!(new_kid));
}

/// `exp` holds to within five seconds, for a token this node has checked
/// before (its token cache) and for one it has not.
async fn tokens_are_refused_five_seconds_past_exp(backend: Backend) {
    let Some(t) = TestApp::spawn(backend).await else {
        return;
    };
    t.user("late@example.com").await;
    let (first, _) = t.login("late@example.com", PASSWORD).await;
    let (second, _) = t.login("late@example.com", PASSWORD).await;
    let cached = first["access_token"].as_str().unwrap();
    let unseen = second["access_token"].as_str().unwrap();
    let exp = jwt_parts(cached).1["exp"].as_i64().unwrap();
    assert_eq!(jwt_parts(unseen).1["exp"].as_i64().unwrap(), exp);
    t.clock.advance(exp + 4 - t.now());
    assert_eq!(
        t.get_bearer("/api/v1/me", cached).await.status(),
        StatusCode::OK,
        "within the leeway"
    );
    t.clock.advance(2);
    for token in [cached, unseen] {
        problem(
            t.get_bearer("/api/v1/me", token).await,
            StatusCode::UNAUTHORIZED,
            "unauthenticated",
        )
        .await;
    }
}

crate::on_both_backends!(
    each_algorithm_signs_tokens_that_verify_against_the_jwks,
    tokens_are_refused_five_seconds_past_exp,
    custom_claims_go_into_the_token,
    forged_tokens_are_refused,
    tokens_expire_and_belong_to_one_issuer,
    rotation_keeps_issued_tokens_valid,
);
