//! One conformance suite, run unchanged against every backend. Each test gets
//! its own database: a new SQLite file, or a new Postgres schema.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use latchkey_core::session::{Session, SessionPolicy};
use latchkey_core::token::{SecretToken, TokenHash};
use latchkey_core::{Email, NewUser, SessionId, User, UserId, Username};
use latchkey_store::{
    Conflict, EndReason, MailStatus, MfaFactor, NewEmailToken, NewMail, NewSession, RefreshOutcome,
    Store, StoreError, StoredKey, TokenPurpose, Write,
};
use serde_json::json;

const NOW: i64 = 1_800_000_000;

fn new_user(email: &str, username: Option<&str>) -> NewUser {
    NewUser {
        email: Some(Email::parse(email).unwrap()),
        username: username.map(|u| Username::parse(u).unwrap()),
        password_hash: "$argon2id$v=19$m=64,t=1,p=1$c2FsdHNhbHQ$aGFzaA".into(),
        email_verified: false,
        custom_claims: json!({"tenant_id": "t-1", "roles": ["admin"]})
            .as_object()
            .cloned()
            .unwrap(),
    }
}

async fn user(store: &dyn Store, email: &str) -> User {
    store.create_user(new_user(email, None), NOW).await.unwrap()
}

async fn login(store: &dyn Store, user: &User, now: i64) -> (Session, SecretToken, SecretToken) {
    let cookie = SecretToken::generate();
    let refresh = SecretToken::generate();
    let session = store
        .create_session(NewSession {
            id: SessionId::generate(),
            user_id: user.id,
            token_hash: cookie.hash(),
            refresh_hash: refresh.hash(),
            now,
            expires_at: now + SessionPolicy::default().absolute_timeout_secs,
            ip: Some("192.0.2.1".into()),
            user_agent: Some("conformance".into()),
            idle_timeout_secs: None,
            amr: vec!["pwd".into()],
        })
        .await
        .unwrap();
    (session, cookie, refresh)
}

fn hash_of(t: &SecretToken) -> TokenHash {
    t.hash()
}

async fn users_are_found_by_id_email_and_username(store: Arc<dyn Store>) {
    let created = store
        .create_user(new_user("Ada@Example.com", Some("Ada_L")), NOW)
        .await
        .unwrap();
    let by_email = store
        .user_by_email("ada@example.com")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(by_email.id, created.id);
    assert_eq!(by_email.email_str(), Some("Ada@Example.com"));
    assert_eq!(by_email.custom_claims["roles"], json!(["admin"]));
    let by_name = store.user_by_username("ada_l").await.unwrap().unwrap();
    assert_eq!(by_name.id, created.id);
    assert_eq!(by_name.username.unwrap().as_str(), "Ada_L");
    assert!(store.user_by_id(created.id).await.unwrap().is_some());
    assert!(
        store
            .user_by_email("nobody@example.com")
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        store
            .user_by_id(UserId::generate())
            .await
            .unwrap()
            .is_none()
    );
}

async fn email_and_username_are_unique_without_regard_to_case(store: Arc<dyn Store>) {
    store
        .create_user(new_user("bob@example.com", Some("bob")), NOW)
        .await
        .unwrap();
    let dup_email = store
        .create_user(new_user("BOB@example.COM", None), NOW)
        .await;
    assert!(
        matches!(dup_email, Err(StoreError::Conflict(Conflict::Email))),
        "{dup_email:?}"
    );
    let dup_name = store
        .create_user(new_user("other@example.com", Some("BOB")), NOW)
        .await;
    assert!(
        matches!(dup_name, Err(StoreError::Conflict(Conflict::Username))),
        "{dup_name:?}"
    );
    // A dotless ı is a different address.
    store
        .create_user(new_user("bıb@example.com", None), NOW)
        .await
        .unwrap();
    // Several accounts without a username may coexist.
    store
        .create_user(new_user("carol@example.com", None), NOW)
        .await
        .unwrap();
}

async fn users_list_in_pages(store: Arc<dyn Store>) {
    for i in 0..5 {
        user(&*store, &format!("u{i}@example.com")).await;
    }
    let first = store.list_users(None, 3).await.unwrap();
    assert_eq!(first.len(), 3);
    let rest = store.list_users(Some(first[2].id), 3).await.unwrap();
    assert_eq!(rest.len(), 2);
    assert!(first.iter().all(|a| rest.iter().all(|b| a.id != b.id)));
}

async fn disabling_and_enabling(store: Arc<dyn Store>) {
    let u = user(&*store, "dis@example.com").await;
    login(&*store, &u, NOW).await;
    assert!(store.set_disabled(u.id, true, NOW + 1).await.unwrap());
    assert!(store.open_sessions(u.id).await.unwrap().is_empty());
    assert!(store.user_by_id(u.id).await.unwrap().unwrap().disabled);
    assert!(store.set_disabled(u.id, false, NOW + 2).await.unwrap());
    assert!(!store.user_by_id(u.id).await.unwrap().unwrap().disabled);
    assert!(
        !store
            .set_disabled(UserId::generate(), true, NOW)
            .await
            .unwrap()
    );
}

async fn sessions_are_found_by_cookie_and_id(store: Arc<dyn Store>) {
    let u = user(&*store, "s@example.com").await;
    let (session, cookie, _) = login(&*store, &u, NOW).await;
    let (found, owner) = store
        .session_by_token(&hash_of(&cookie))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found, session);
    assert_eq!(owner.id, u.id);
    let (by_id, _) = store.session_with_user(session.id).await.unwrap().unwrap();
    assert_eq!(by_id.ip.as_deref(), Some("192.0.2.1"));
    store.touch_session(session.id, NOW + 60).await.unwrap();
    let (touched, _) = store.session_with_user(session.id).await.unwrap().unwrap();
    assert_eq!(touched.last_seen_at, NOW + 60);
    // Touching never moves time backwards.
    store.touch_session(session.id, NOW + 30).await.unwrap();
    let (same, _) = store.session_with_user(session.id).await.unwrap().unwrap();
    assert_eq!(same.last_seen_at, NOW + 60);
    let other = SecretToken::generate();
    assert!(
        store
            .session_by_token(&hash_of(&other))
            .await
            .unwrap()
            .is_none()
    );
}

async fn refresh_tokens_rotate_and_reuse_ends_the_session(store: Arc<dyn Store>) {
    let policy = SessionPolicy::default();
    let u = user(&*store, "r@example.com").await;
    let (session, _, first) = login(&*store, &u, NOW).await;
    let second = SecretToken::generate();
    let out = store
        .rotate_refresh_token(&first.hash(), &second.hash(), NOW + 10, &policy)
        .await
        .unwrap();
    match out {
        RefreshOutcome::Rotated(s, owner) => {
            assert_eq!(s.id, session.id);
            assert_eq!(owner.id, u.id);
            // Within a minute of the last activity, nothing more is written.
            assert_eq!(s.last_seen_at, NOW);
        }
        other => panic!("expected rotation, got {other:?}"),
    }
    // Two minutes on, the activity is recorded.
    let current = SecretToken::generate();
    let out = store
        .rotate_refresh_token(&second.hash(), &current.hash(), NOW + 120, &policy)
        .await
        .unwrap();
    assert!(
        matches!(&out, RefreshOutcome::Rotated(s, _) if s.last_seen_at == NOW + 120),
        "{out:?}"
    );
    let (stored, _) = store.session_with_user(session.id).await.unwrap().unwrap();
    assert_eq!(stored.last_seen_at, NOW + 120);
    // The old token again: reuse, and the whole session ends.
    let third = SecretToken::generate();
    let out = store
        .rotate_refresh_token(&first.hash(), &third.hash(), NOW + 130, &policy)
        .await
        .unwrap();
    assert!(
        matches!(out, RefreshOutcome::Reused(id) if id == session.id),
        "{out:?}"
    );
    let (ended, _) = store.session_with_user(session.id).await.unwrap().unwrap();
    assert_eq!(ended.ended_at, Some(NOW + 130));
    // Even the current token is now worthless.
    let out = store
        .rotate_refresh_token(&current.hash(), &third.hash(), NOW + 140, &policy)
        .await
        .unwrap();
    assert!(matches!(out, RefreshOutcome::SessionEnded), "{out:?}");
    let unknown = SecretToken::generate();
    let out = store
        .rotate_refresh_token(&unknown.hash(), &third.hash(), NOW, &policy)
        .await
        .unwrap();
    assert!(matches!(out, RefreshOutcome::Unknown));
}

async fn concurrent_refreshes_have_exactly_one_winner(store: Arc<dyn Store>) {
    let policy = SessionPolicy::default();
    let u = user(&*store, "race@example.com").await;
    let (_, _, refresh) = login(&*store, &u, NOW).await;
    let presented = refresh.hash();
    let attempts = (0..16).map(|_| {
        let store = store.clone();
        let presented = presented.clone();
        tokio::spawn(async move {
            let next = SecretToken::generate();
            store
                .rotate_refresh_token(&presented, &next.hash(), NOW + 5, &policy)
                .await
                .unwrap()
        })
    });
    let outcomes = futures::future::join_all(attempts).await;
    let winners = outcomes
        .iter()
        .filter(|o| matches!(o, Ok(RefreshOutcome::Rotated(..))))
        .count();
    assert_eq!(winners, 1, "{outcomes:?}");
}

/// Many rotations at once (on SQLite they share transactions): one that
/// fails must not take the others down with it, and must change nothing.
async fn concurrent_rotations_of_many_sessions_stand_alone(store: Arc<dyn Store>) {
    let policy = SessionPolicy::default();
    let u = user(&*store, "many@example.com").await;
    let mut chains = Vec::new();
    for _ in 0..24 {
        let (session, _, refresh) = login(&*store, &u, NOW).await;
        chains.push((session.id, refresh));
    }
    // One rotation asks for a replacement that already exists (a unique
    // violation): it fails, alone.
    let taken = chains[1].1.hash();
    let attempts = chains.iter().enumerate().map(|(i, (_, refresh))| {
        let store = store.clone();
        let presented = refresh.hash();
        let replacement = if i == 0 {
            taken.clone()
        } else {
            SecretToken::generate().hash()
        };
        tokio::spawn(async move {
            store
                .rotate_refresh_token(&presented, &replacement, NOW + 5, &policy)
                .await
        })
    });
    let outcomes = futures::future::join_all(attempts).await;
    let outcomes: Vec<_> = outcomes.into_iter().map(Result::unwrap).collect();
    assert!(outcomes[0].is_err(), "{:?}", outcomes[0]);
    for (i, outcome) in outcomes.iter().enumerate().skip(1) {
        match outcome {
            Ok(RefreshOutcome::Rotated(s, _)) => assert_eq!(s.id, chains[i].0),
            other => panic!("rotation {i}: {other:?}"),
        }
    }
    // The failed rotation left its token unused: it still rotates.
    let out = store
        .rotate_refresh_token(
            &chains[0].1.hash(),
            &SecretToken::generate().hash(),
            NOW + 6,
            &policy,
        )
        .await
        .unwrap();
    assert!(matches!(out, RefreshOutcome::Rotated(..)), "{out:?}");
}

async fn sessions_long_over_are_pruned_with_their_tokens(store: Arc<dyn Store>) {
    let policy = SessionPolicy::default();
    let u = user(&*store, "prune@example.com").await;
    let (ended, _, ended_refresh) = login(&*store, &u, NOW).await;
    let (open, _, open_refresh) = login(&*store, &u, NOW).await;
    store
        .end_session(u.id, ended.id, NOW + 10, EndReason::Logout)
        .await
        .unwrap();
    // Not yet over for long enough: nothing goes.
    assert_eq!(store.prune_sessions(NOW + 10).await.unwrap(), 0);
    assert_eq!(store.prune_sessions(NOW + 11).await.unwrap(), 1);
    assert!(store.session_with_user(ended.id).await.unwrap().is_none());
    let out = store
        .rotate_refresh_token(
            &ended_refresh.hash(),
            &SecretToken::generate().hash(),
            NOW + 12,
            &policy,
        )
        .await
        .unwrap();
    assert!(matches!(out, RefreshOutcome::Unknown), "{out:?}");
    // The open session and its token are untouched.
    assert!(store.session_with_user(open.id).await.unwrap().is_some());
    let out = store
        .rotate_refresh_token(
            &open_refresh.hash(),
            &SecretToken::generate().hash(),
            NOW + 12,
            &policy,
        )
        .await
        .unwrap();
    assert!(matches!(out, RefreshOutcome::Rotated(..)), "{out:?}");
    // Past its absolute limit, an open session goes too.
    let limit = NOW + policy.absolute_timeout_secs;
    assert_eq!(store.prune_sessions(limit + 1).await.unwrap(), 1);
    assert!(store.session_with_user(open.id).await.unwrap().is_none());
}

async fn an_expired_session_cannot_be_refreshed(store: Arc<dyn Store>) {
    let policy = SessionPolicy::default();
    let u = user(&*store, "idle@example.com").await;
    let (_, _, refresh) = login(&*store, &u, NOW).await;
    let next = SecretToken::generate();
    let out = store
        .rotate_refresh_token(
            &refresh.hash(),
            &next.hash(),
            NOW + policy.idle_timeout_secs,
            &policy,
        )
        .await
        .unwrap();
    assert!(matches!(out, RefreshOutcome::Expired(_)), "{out:?}");
}

async fn sessions_end_only_for_their_owner(store: Arc<dyn Store>) {
    let alice = user(&*store, "alice@example.com").await;
    let mallory = user(&*store, "mallory@example.com").await;
    let (s1, _, _) = login(&*store, &alice, NOW).await;
    let (s2, _, _) = login(&*store, &alice, NOW + 1).await;
    assert!(
        !store
            .end_session(mallory.id, s1.id, NOW, EndReason::Revoked)
            .await
            .unwrap()
    );
    assert!(
        store
            .end_session(alice.id, s1.id, NOW + 2, EndReason::Logout)
            .await
            .unwrap()
    );
    assert!(
        !store
            .end_session(alice.id, s1.id, NOW + 3, EndReason::Logout)
            .await
            .unwrap()
    );
    let open = store.open_sessions(alice.id).await.unwrap();
    assert_eq!(open.iter().map(|s| s.id).collect::<Vec<_>>(), vec![s2.id]);
}

async fn password_change_ends_every_other_session(store: Arc<dyn Store>) {
    let u = user(&*store, "pw@example.com").await;
    let (keep, _, _) = login(&*store, &u, NOW).await;
    login(&*store, &u, NOW + 1).await;
    login(&*store, &u, NOW + 2).await;
    let end_others = |keep: Option<SessionId>, hash: &str| {
        vec![
            Write::SetPassword {
                user: u.id,
                hash: hash.into(),
            },
            Write::EndSessions {
                user: u.id,
                except: keep,
                reason: EndReason::PasswordChanged,
            },
        ]
    };
    store
        .apply(end_others(Some(keep.id), "$argon2id$new"), NOW + 3)
        .await
        .unwrap();
    assert_eq!(
        store.user_by_id(u.id).await.unwrap().unwrap().password_hash,
        "$argon2id$new"
    );
    let open = store.open_sessions(u.id).await.unwrap();
    assert_eq!(open.iter().map(|s| s.id).collect::<Vec<_>>(), vec![keep.id]);
    // Without a session to keep, all end (a password reset).
    store
        .apply(end_others(None, "$argon2id$x"), NOW + 4)
        .await
        .unwrap();
    assert!(store.open_sessions(u.id).await.unwrap().is_empty());
    store
        .replace_password_hash(u.id, "$argon2id$rehash", NOW + 5)
        .await
        .unwrap();
    assert_eq!(
        store.user_by_id(u.id).await.unwrap().unwrap().password_hash,
        "$argon2id$rehash"
    );
}

async fn signing_keys_rotate(store: Arc<dyn Store>) {
    let key = |kid: &str, at: i64| StoredKey {
        kid: kid.into(),
        alg: "EdDSA".into(),
        private_key_encrypted: vec![1, 2, 3],
        public_jwk: "{}".into(),
        created_at: at,
        retired_at: None,
    };
    store.add_signing_key(key("k1", NOW), false).await.unwrap();
    store
        .add_signing_key(key("k2", NOW + 10), true)
        .await
        .unwrap();
    let keys = store.signing_keys().await.unwrap();
    assert_eq!(keys.len(), 2);
    assert_eq!(
        (keys[0].kid.as_str(), keys[0].retired_at),
        ("k1", Some(NOW + 10))
    );
    assert_eq!((keys[1].kid.as_str(), keys[1].retired_at), ("k2", None));
    assert_eq!(keys[1].private_key_encrypted, vec![1, 2, 3]);
    assert!(
        store
            .add_signing_key(key("k2", NOW + 20), false)
            .await
            .is_err()
    );
}

async fn migrations_are_idempotent_and_ping_answers(store: Arc<dyn Store>) {
    store.migrate().await.unwrap();
    store.ping().await.unwrap();
}

fn mail(to: &str) -> NewMail {
    NewMail {
        id: uuid::Uuid::now_v7().to_string(),
        kind: "verify_email".into(),
        recipient: to.into(),
        payload: vec![9, 9, 9],
    }
}

fn token(user: UserId, purpose: TokenPurpose, expires_at: i64) -> (SecretToken, NewEmailToken) {
    let secret = SecretToken::generate();
    let new = NewEmailToken {
        hash: secret.hash(),
        user_id: user,
        purpose,
        new_email: None,
        session_id: None,
        expires_at,
    };
    (secret, new)
}

async fn a_unit_of_work_commits_a_change_with_its_mail(store: Arc<dyn Store>) {
    let u = user(&*store, "unit@example.com").await;
    let (secret, t) = token(u.id, TokenPurpose::VerifyEmail, NOW + 3600);
    store
        .apply(
            vec![
                Write::InsertEmailToken(t),
                Write::Enqueue(mail("unit@example.com")),
            ],
            NOW,
        )
        .await
        .unwrap();
    let record = store.email_token(&secret.hash()).await.unwrap().unwrap();
    assert_eq!(
        (record.user_id, record.purpose, record.used_at),
        (u.id, TokenPurpose::VerifyEmail, None)
    );
    assert_eq!(store.mail_counts().await.unwrap(), (1, 0));
    // Consumed once, with its effect...
    let consume = || Write::ConsumeEmailToken {
        hash: secret.hash(),
        purpose: TokenPurpose::VerifyEmail,
    };
    store
        .apply(
            vec![consume(), Write::MarkEmailVerified { user: u.id }],
            NOW + 1,
        )
        .await
        .unwrap();
    assert!(
        store
            .user_by_id(u.id)
            .await
            .unwrap()
            .unwrap()
            .email_verified
    );
    // ...and never again; a failed consume writes nothing else of its unit.
    let again = store
        .apply(
            vec![consume(), Write::Enqueue(mail("unit@example.com"))],
            NOW + 2,
        )
        .await;
    assert!(matches!(again, Err(StoreError::TokenUnusable)), "{again:?}");
    assert_eq!(store.mail_counts().await.unwrap(), (1, 0));
}

async fn emailed_tokens_expire_and_keep_to_their_purpose(store: Arc<dyn Store>) {
    let u = user(&*store, "tok@example.com").await;
    let (reset, t) = token(u.id, TokenPurpose::ResetPassword, NOW + 60);
    store
        .apply(vec![Write::InsertEmailToken(t)], NOW)
        .await
        .unwrap();
    let wrong_purpose = store
        .apply(
            vec![Write::ConsumeEmailToken {
                hash: reset.hash(),
                purpose: TokenPurpose::VerifyEmail,
            }],
            NOW,
        )
        .await;
    assert!(matches!(wrong_purpose, Err(StoreError::TokenUnusable)));
    let expired = store
        .apply(
            vec![Write::ConsumeEmailToken {
                hash: reset.hash(),
                purpose: TokenPurpose::ResetPassword,
            }],
            NOW + 60,
        )
        .await;
    assert!(matches!(expired, Err(StoreError::TokenUnusable)));
    // Revoking marks outstanding tokens used.
    let (other, t) = token(u.id, TokenPurpose::ResetPassword, NOW + 600);
    store
        .apply(vec![Write::InsertEmailToken(t)], NOW)
        .await
        .unwrap();
    store
        .apply(
            vec![Write::RevokeEmailTokens {
                user: u.id,
                purpose: TokenPurpose::ResetPassword,
            }],
            NOW + 5,
        )
        .await
        .unwrap();
    assert_eq!(
        store
            .email_token(&other.hash())
            .await
            .unwrap()
            .unwrap()
            .used_at,
        Some(NOW + 5)
    );
    assert!(
        store
            .email_token(&SecretToken::generate().hash())
            .await
            .unwrap()
            .is_none()
    );
}

async fn email_changes_and_password_resets_in_one_unit(store: Arc<dyn Store>) {
    let u = user(&*store, "old@example.com").await;
    user(&*store, "taken@example.com").await;
    login(&*store, &u, NOW).await;
    store
        .apply(
            vec![
                Write::SetPassword {
                    user: u.id,
                    hash: "$argon2id$reset".into(),
                },
                Write::EndSessions {
                    user: u.id,
                    except: None,
                    reason: EndReason::PasswordChanged,
                },
                Write::Enqueue(mail("old@example.com")),
            ],
            NOW + 1,
        )
        .await
        .unwrap();
    assert!(store.open_sessions(u.id).await.unwrap().is_empty());
    assert_eq!(
        store.user_by_id(u.id).await.unwrap().unwrap().password_hash,
        "$argon2id$reset"
    );
    let taken = store
        .apply(
            vec![Write::SetEmail {
                user: u.id,
                email: Email::parse("TAKEN@example.com").unwrap(),
            }],
            NOW,
        )
        .await;
    assert!(
        matches!(taken, Err(StoreError::Conflict(Conflict::Email))),
        "{taken:?}"
    );
    store
        .apply(
            vec![Write::SetEmail {
                user: u.id,
                email: Email::parse("New@example.com").unwrap(),
            }],
            NOW,
        )
        .await
        .unwrap();
    assert_eq!(
        store
            .user_by_email("new@example.com")
            .await
            .unwrap()
            .unwrap()
            .id,
        u.id
    );
    assert!(
        store
            .user_by_email("old@example.com")
            .await
            .unwrap()
            .is_none()
    );
}

async fn the_outbox_leases_retries_and_gives_up(store: Arc<dyn Store>) {
    for i in 0..3 {
        store
            .apply(
                vec![Write::Enqueue(mail(&format!("m{i}@example.com")))],
                NOW + i,
            )
            .await
            .unwrap();
    }
    let claimed = store.claim_mail(NOW + 10, 60, 2).await.unwrap();
    assert_eq!(claimed.len(), 2);
    assert_eq!(claimed[0].payload, vec![9, 9, 9]);
    assert_eq!(claimed[0].recipient, "m0@example.com", "oldest first");
    // Leased messages are not handed out twice; the third one is.
    let rest = store.claim_mail(NOW + 11, 60, 10).await.unwrap();
    assert_eq!(rest.len(), 1);
    assert!(store.claim_mail(NOW + 12, 60, 10).await.unwrap().is_empty());
    assert!(
        store
            .mark_sent(&claimed[0].id, NOW + 70, NOW + 13)
            .await
            .unwrap()
    );
    // A stale lease changes nothing.
    assert!(
        !store
            .mark_failed(&claimed[0].id, NOW + 1, "late", None)
            .await
            .unwrap()
    );
    store
        .mark_failed(
            &claimed[1].id,
            NOW + 70,
            "connection refused",
            Some(NOW + 100),
        )
        .await
        .unwrap();
    store
        .mark_failed(&rest[0].id, NOW + 71, "550 no such user", None)
        .await
        .unwrap();
    assert_eq!(store.mail_counts().await.unwrap(), (1, 1));
    // Not due yet, then due again after its backoff.
    assert!(store.claim_mail(NOW + 99, 60, 10).await.unwrap().is_empty());
    let retried = store.claim_mail(NOW + 100, 60, 10).await.unwrap();
    assert_eq!(retried.len(), 1);
    assert_eq!(retried[0].attempts, 1);
    assert_eq!(retried[0].last_error.as_deref(), Some("connection refused"));
    let dead = store.list_mail(Some(MailStatus::Dead), 10).await.unwrap();
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].last_error.as_deref(), Some("550 no such user"));
    let sent = store.list_mail(Some(MailStatus::Sent), 10).await.unwrap();
    assert!(
        sent[0].payload.is_empty(),
        "a sent message forgets its payload"
    );
    assert_eq!(store.list_mail(None, 10).await.unwrap().len(), 3);
    assert!(store.requeue_mail(&dead[0].id, NOW + 200).await.unwrap());
    assert!(!store.requeue_mail(&dead[0].id, NOW + 200).await.unwrap());
    let requeued = store.claim_mail(NOW + 200, 60, 10).await.unwrap();
    assert!(
        requeued
            .iter()
            .any(|m| m.id == dead[0].id && m.attempts == 0)
    );
}

async fn concurrent_claims_never_hand_out_one_message_twice(store: Arc<dyn Store>) {
    for i in 0..40 {
        store
            .apply(
                vec![Write::Enqueue(mail(&format!("c{i}@example.com")))],
                NOW,
            )
            .await
            .unwrap();
    }
    let workers = (0..4).map(|_| {
        let store = store.clone();
        tokio::spawn(async move {
            let mut mine = Vec::new();
            loop {
                let batch = store.claim_mail(NOW + 1, 60, 3).await.unwrap();
                if batch.is_empty() {
                    break mine;
                }
                mine.extend(batch.into_iter().map(|m| m.id));
            }
        })
    });
    let mut all: Vec<String> = futures::future::join_all(workers)
        .await
        .into_iter()
        .flat_map(Result::unwrap)
        .collect();
    assert_eq!(all.len(), 40);
    all.sort();
    all.dedup();
    assert_eq!(all.len(), 40, "a message was claimed twice");
}

async fn password_history_keeps_the_newest_hashes_in_the_same_unit(store: Arc<dyn Store>) {
    let u = user(&*store, "history@example.com").await;
    let other = user(&*store, "other-history@example.com").await;
    let first = u.password_hash.clone();
    assert!(store.password_history(u.id, 5).await.unwrap().is_empty());
    let change = |user: UserId, hash: &str, keep: u32| {
        vec![
            Write::RecordPasswordHistory { user, keep },
            Write::SetPassword {
                user,
                hash: hash.into(),
            },
        ]
    };
    // All in one second: order comes from insertion, not the clock.
    for hash in ["$h1", "$h2", "$h3"] {
        store.apply(change(u.id, hash, 2), NOW).await.unwrap();
    }
    store.apply(change(other.id, "$o1", 2), NOW).await.unwrap();
    assert_eq!(
        store.password_history(u.id, 5).await.unwrap(),
        vec!["$h2".to_owned(), "$h1".to_owned()],
        "the outgoing hash is recorded, newest first, pruned to keep"
    );
    assert_eq!(store.password_history(u.id, 1).await.unwrap(), vec!["$h2"]);
    assert_eq!(
        store.user_by_id(u.id).await.unwrap().unwrap().password_hash,
        "$h3"
    );
    assert_eq!(
        store.password_history(other.id, 5).await.unwrap(),
        vec![first.clone()]
    );
    // A unit that fails records nothing.
    let mut failing = change(u.id, "$h4", 2);
    failing.push(Write::ConsumeEmailToken {
        hash: SecretToken::generate().hash(),
        purpose: TokenPurpose::ResetPassword,
    });
    assert!(matches!(
        store.apply(failing, NOW + 1).await,
        Err(StoreError::TokenUnusable)
    ));
    assert_eq!(store.password_history(u.id, 5).await.unwrap().len(), 2);
    // keep = 0 (history turned off) empties it.
    store.apply(change(u.id, "$h5", 0), NOW + 2).await.unwrap();
    assert!(store.password_history(u.id, 5).await.unwrap().is_empty());
    assert_eq!(
        store.password_history(other.id, 5).await.unwrap(),
        vec![first]
    );
}

async fn verify_chain(store: &dyn Store) -> Result<u64, latchkey_core::audit::ChainBreak> {
    let (first, prev, head) = store.audit_bounds().await.unwrap();
    let mut check = latchkey_core::audit::ChainCheck::start(first, prev);
    let mut after = first - 1;
    loop {
        let page = store.audit_events(None, None, after, 7).await.unwrap();
        let Some(last) = page.last() else { break };
        after = last.seq;
        for row in &page {
            check.next(row)?;
        }
    }
    check.finish(head)?;
    Ok(check.checked)
}

fn audit_event(i: i64, user: Option<UserId>) -> latchkey_core::audit::AuditEvent {
    let mut e = latchkey_core::audit::AuditEvent::new(
        latchkey_core::audit::AuditKind::LoginFailed,
        "wrong_password",
        NOW + i,
    );
    e.user_id = user;
    e.ip = Some("198.51.100.1".into());
    e.request_id = Some(format!("req-{i}"));
    e
}

async fn concurrent_audit_appends_form_one_chain(store: Arc<dyn Store>) {
    let u = user(&*store, "audited@example.com").await;
    let appends = (0..20).map(|i| {
        let store = store.clone();
        tokio::spawn(async move {
            store
                .append_audit(&audit_event(i, Some(u.id)))
                .await
                .unwrap()
        })
    });
    let mut seqs: Vec<i64> = futures::future::join_all(appends)
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();
    seqs.sort_unstable();
    assert_eq!(seqs, (1..=20).collect::<Vec<_>>());
    assert_eq!(verify_chain(&*store).await, Ok(20));
    let mine = store.recent_audit_events(u.id, 5).await.unwrap();
    assert_eq!(mine.len(), 5);
    assert_eq!(mine[0].seq, 20, "newest first");
    let since = store
        .audit_events(Some(u.id), Some(NOW + 15), 0, 100)
        .await
        .unwrap();
    assert_eq!(since.len(), 5);
}

async fn pruning_keeps_the_rest_of_the_chain_verifiable(store: Arc<dyn Store>) {
    for i in 0..10 {
        store
            .append_audit(&audit_event(i * 100, None))
            .await
            .unwrap();
    }
    assert_eq!(store.prune_audit(NOW + 450).await.unwrap(), 5);
    assert_eq!(store.prune_audit(NOW + 450).await.unwrap(), 0);
    assert_eq!(verify_chain(&*store).await, Ok(5));
    store.append_audit(&audit_event(2000, None)).await.unwrap();
    assert_eq!(verify_chain(&*store).await, Ok(6));
}

/// A lock remembers the last unlock it saw; every later unlock must read
/// later, even in the same second or from a clock that is behind.
async fn each_unlock_reads_later_than_the_one_before(store: Arc<dyn Store>) {
    let key = "a:0123456789abcdef".to_owned();
    assert_eq!(store.last_unlock(&key).await.unwrap(), None);
    store
        .record_unlock(std::slice::from_ref(&key), NOW)
        .await
        .unwrap();
    assert_eq!(store.last_unlock(&key).await.unwrap(), Some(NOW));
    store
        .record_unlock(std::slice::from_ref(&key), NOW)
        .await
        .unwrap();
    assert_eq!(store.last_unlock(&key).await.unwrap(), Some(NOW + 1));
    store
        .record_unlock(std::slice::from_ref(&key), NOW - 60)
        .await
        .unwrap();
    assert_eq!(store.last_unlock(&key).await.unwrap(), Some(NOW + 2));
    store
        .record_unlock(&[key.clone(), "other".into()], NOW + 100)
        .await
        .unwrap();
    assert_eq!(store.last_unlock(&key).await.unwrap(), Some(NOW + 100));
    assert_eq!(store.last_unlock("other").await.unwrap(), Some(NOW + 100));
}

/// Instantiates every test above once per backend, as `sqlite::name` and
/// `postgres::name`, and lists them all as `tests()`.
fn totp_factor(user: &User, id: &str) -> MfaFactor {
    MfaFactor {
        id: id.into(),
        user_id: user.id,
        kind: "totp".into(),
        name: "phone".into(),
        secret: vec![1, 2, 3],
        confirmed_at: None,
        last_step: None,
        created_at: NOW,
        last_used_at: None,
    }
}

async fn factors_accept_each_step_once_and_are_removed_by_their_owner(store: Arc<dyn Store>) {
    let alice = user(&*store, "alice@example.com").await;
    let bob = user(&*store, "bob@example.com").await;
    store.add_factor(&totp_factor(&alice, "f-1")).await.unwrap();
    assert_eq!(
        store.factors(alice.id).await.unwrap(),
        vec![totp_factor(&alice, "f-1")]
    );
    assert!(store.factors(bob.id).await.unwrap().is_empty());

    // Only the owner's factor, and each step once (the first confirms it).
    assert!(!store.accept_step(bob.id, "f-1", 10, NOW).await.unwrap());
    assert!(
        store
            .accept_step(alice.id, "f-1", 10, NOW + 1)
            .await
            .unwrap()
    );
    assert!(
        !store
            .accept_step(alice.id, "f-1", 10, NOW + 2)
            .await
            .unwrap()
    );
    assert!(
        !store
            .accept_step(alice.id, "f-1", 9, NOW + 2)
            .await
            .unwrap()
    );
    let f = &store.factors(alice.id).await.unwrap()[0];
    assert_eq!(
        (f.confirmed_at, f.last_step, f.last_used_at),
        (Some(NOW + 1), Some(10), Some(NOW + 1))
    );
    assert!(
        store
            .accept_step(alice.id, "f-1", 11, NOW + 30)
            .await
            .unwrap()
    );
    let f = &store.factors(alice.id).await.unwrap()[0];
    assert_eq!((f.confirmed_at, f.last_step), (Some(NOW + 1), Some(11)));

    // Concurrent uses of one step: exactly one wins.
    let tries = (0..8).map(|_| {
        let store = store.clone();
        tokio::spawn(async move {
            store
                .accept_step(alice.id, "f-1", 12, NOW + 60)
                .await
                .unwrap()
        })
    });
    let mut wins = 0;
    for t in tries {
        wins += usize::from(t.await.unwrap());
    }
    assert_eq!(wins, 1);

    store
        .replace_recovery_codes(alice.id, &[[7; 32]], NOW)
        .await
        .unwrap();
    assert!(!store.delete_factor(bob.id, "f-1").await.unwrap());
    assert!(store.delete_factor(alice.id, "f-1").await.unwrap());
    assert!(!store.delete_factor(alice.id, "f-1").await.unwrap());
    assert!(store.factors(alice.id).await.unwrap().is_empty());
    // With the last confirmed factor went the recovery codes.
    assert_eq!(store.recovery_codes_left(alice.id).await.unwrap(), 0);
}

async fn recovery_codes_are_single_use_and_replaced_as_a_set(store: Arc<dyn Store>) {
    let alice = user(&*store, "alice@example.com").await;
    let bob = user(&*store, "bob@example.com").await;
    let first: Vec<[u8; 32]> = (0u8..10).map(|i| [i; 32]).collect();
    store
        .replace_recovery_codes(alice.id, &first, NOW)
        .await
        .unwrap();
    store
        .replace_recovery_codes(bob.id, &first[..2], NOW)
        .await
        .unwrap();
    assert_eq!(store.recovery_codes_left(alice.id).await.unwrap(), 10);
    assert!(
        store
            .use_recovery_code(alice.id, &[3; 32], NOW)
            .await
            .unwrap()
    );
    assert!(
        !store
            .use_recovery_code(alice.id, &[3; 32], NOW)
            .await
            .unwrap()
    );
    assert!(
        !store
            .use_recovery_code(alice.id, &[42; 32], NOW)
            .await
            .unwrap()
    );
    assert_eq!(store.recovery_codes_left(alice.id).await.unwrap(), 9);
    // Bob's codes are his own.
    assert_eq!(store.recovery_codes_left(bob.id).await.unwrap(), 2);
    assert!(
        store
            .use_recovery_code(bob.id, &[0; 32], NOW)
            .await
            .unwrap()
    );

    let second: Vec<[u8; 32]> = (100u8..110).map(|i| [i; 32]).collect();
    store
        .replace_recovery_codes(alice.id, &second, NOW + 5)
        .await
        .unwrap();
    assert_eq!(store.recovery_codes_left(alice.id).await.unwrap(), 10);
    assert!(
        !store
            .use_recovery_code(alice.id, &[4; 32], NOW)
            .await
            .unwrap()
    );
    assert!(
        store
            .use_recovery_code(alice.id, &[104; 32], NOW)
            .await
            .unwrap()
    );
}

async fn mfa_tokens_are_single_use_and_expire(store: Arc<dyn Store>) {
    let alice = user(&*store, "alice@example.com").await;
    let (one, two) = (SecretToken::generate(), SecretToken::generate());
    store
        .create_mfa_token(&one.hash(), alice.id, NOW + 300)
        .await
        .unwrap();
    store
        .create_mfa_token(&two.hash(), alice.id, NOW + 300)
        .await
        .unwrap();
    assert_eq!(
        store.take_mfa_token(&one.hash(), NOW + 10).await.unwrap(),
        Some(alice.id)
    );
    assert_eq!(
        store.take_mfa_token(&one.hash(), NOW + 11).await.unwrap(),
        None
    );
    assert_eq!(
        store.take_mfa_token(&two.hash(), NOW + 300).await.unwrap(),
        None
    );
    assert_eq!(
        store
            .take_mfa_token(&SecretToken::generate().hash(), NOW)
            .await
            .unwrap(),
        None
    );
}

async fn sessions_remember_how_and_when_the_user_authenticated(store: Arc<dyn Store>) {
    let alice = user(&*store, "alice@example.com").await;
    let (session, cookie, _) = login(&*store, &alice, NOW).await;
    assert_eq!(
        (session.authenticated_at, session.amr.clone()),
        (NOW, vec!["pwd".to_owned()])
    );
    let (found, _) = store
        .session_by_token(&hash_of(&cookie))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (found.authenticated_at, found.amr),
        (NOW, vec!["pwd".to_owned()])
    );
    assert!(
        store
            .mark_authenticated(session.id, NOW + 100)
            .await
            .unwrap()
    );
    let (found, _) = store.session_with_user(session.id).await.unwrap().unwrap();
    assert_eq!(found.authenticated_at, NOW + 100);
    assert!(
        !store
            .mark_authenticated(SessionId::generate(), NOW)
            .await
            .unwrap()
    );

    let cookie = SecretToken::generate();
    let mfa = store
        .create_session(NewSession {
            id: SessionId::generate(),
            user_id: alice.id,
            token_hash: cookie.hash(),
            refresh_hash: SecretToken::generate().hash(),
            now: NOW,
            expires_at: NOW + 3600,
            ip: None,
            user_agent: None,
            idle_timeout_secs: None,
            amr: vec!["pwd".into(), "otp".into(), "mfa".into()],
        })
        .await
        .unwrap();
    let (found, _) = store
        .session_by_token(&hash_of(&cookie))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found.amr, mfa.amr);
    assert_eq!(found.amr, ["pwd", "otp", "mfa"]);
}

macro_rules! conformance {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                async fn $name() {
                    let dir = tempfile::tempdir().unwrap();
                    let url = latchkey_store::testing::sqlite_url(dir.path());
                    let store = latchkey_store::migrate(&url).await.unwrap();
                    super::$name(store).await;
                }
            )*
            crate::tests![$(multi_thread $name),*];
        }
        mod postgres {
            $(
                async fn $name() {
                    let Some(url) = latchkey_store::testing::fresh_postgres_url().await else {
                        return;
                    };
                    let store = latchkey_store::migrate(&url).await.unwrap();
                    super::$name(store).await;
                }
            )*
            crate::tests![$(multi_thread $name),*];
        }

        pub(crate) fn tests() -> Vec<libtest_mimic::Trial> {
            sqlite::tests().into_iter().chain(postgres::tests()).collect()
        }
    };
}

conformance!(
    concurrent_audit_appends_form_one_chain,
    pruning_keeps_the_rest_of_the_chain_verifiable,
    users_are_found_by_id_email_and_username,
    email_and_username_are_unique_without_regard_to_case,
    users_list_in_pages,
    disabling_and_enabling,
    sessions_are_found_by_cookie_and_id,
    refresh_tokens_rotate_and_reuse_ends_the_session,
    concurrent_refreshes_have_exactly_one_winner,
    concurrent_rotations_of_many_sessions_stand_alone,
    sessions_long_over_are_pruned_with_their_tokens,
    an_expired_session_cannot_be_refreshed,
    sessions_end_only_for_their_owner,
    password_change_ends_every_other_session,
    signing_keys_rotate,
    migrations_are_idempotent_and_ping_answers,
    a_unit_of_work_commits_a_change_with_its_mail,
    emailed_tokens_expire_and_keep_to_their_purpose,
    email_changes_and_password_resets_in_one_unit,
    the_outbox_leases_retries_and_gives_up,
    concurrent_claims_never_hand_out_one_message_twice,
    password_history_keeps_the_newest_hashes_in_the_same_unit,
    each_unlock_reads_later_than_the_one_before,
    factors_accept_each_step_once_and_are_removed_by_their_owner,
    recovery_codes_are_single_use_and_replaced_as_a_set,
    mfa_tokens_are_single_use_and_expire,
    sessions_remember_how_and_when_the_user_authenticated,
);
