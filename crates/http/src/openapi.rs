//! The OpenAPI document of `/api/v1` (`/api/openapi.json`, rendered at
//! `/docs`). Each handler's annotation names its own answers; the rules
//! that hold for every operation are applied here, once, so that the
//! document says what the server sends:
//!
//! - a [`Problem`] body is `application/problem+json` (as `error.rs` sends it);
//! - an operation with a JSON body answers 400, 413 and 415 (`ApiJson`);
//! - one that needs a caller answers 401 with `WWW-Authenticate: Bearer`,
//!   and, if it changes something, 403 to a cross-site cookie request;
//! - every `/api/v1` operation but health reads the store and may answer
//!   503 with `Retry-After` (the store unreachable, the hash pool full).
//!
//! `tests/api/ops.rs` holds the document to these rules and sends each
//! operation a few bad requests to check their answers are documented.

use serde_json::json;
use utoipa::openapi::content::Content;
use utoipa::openapi::path::{HttpMethod, Operation};
use utoipa::openapi::response::Response;
use utoipa::openapi::schema::{Object, Schema};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{Ref, RefOr};
use utoipa::{OpenApi, ToResponse};

use super::error::Problem;
use super::{account, auth, mfa, ops, recovery};

/// The media type of every error the API answers with (RFC 9457).
pub const PROBLEM_JSON: &str = "application/problem+json";

#[derive(OpenApi)]
#[openapi(
    info(title = "Latchkey", description = "Self-hosted identity: sign-up, login, sessions and tokens."),
    paths(
        auth::signup, auth::login, auth::refresh, auth::logout,
        account::me, account::my_events, account::sessions, account::end_session, account::change_password,
        account::reauthenticate,
        recovery::verify, recovery::resend, recovery::forgot, recovery::validate, recovery::reset,
        recovery::change_email,
        mfa::factors, mfa::enrol_totp, mfa::confirm_totp, mfa::remove_factor,
        mfa::regenerate_recovery_codes, mfa::login_mfa,
        ops::api_health, ops::health, ops::ready, ops::metrics, ops::jwks, ops::openapi,
    ),
    components(
        schemas(Problem),
        responses(BadRequest, Unauthenticated, CrossSite, PayloadTooLarge, UnsupportedMediaType,
                  RateLimited, Unavailable),
    ),
    modifiers(&SecuritySchemes, &Rules),
    tags((name = "auth"), (name = "account"), (name = "email"), (name = "mfa"), (name = "operations"))
)]
pub struct ApiDoc;

/// The document as `/api/openapi.json` serves it.
pub fn document() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}

/// The body is not the JSON this operation takes (not an object, a field
/// of the wrong type, an unknown or repeated key), or a field's value is
/// not acceptable (`field` names it; a weak password lists the rules it
/// failed in `errors`).
#[derive(ToResponse)]
#[response(content_type = "application/problem+json")]
pub struct BadRequest(pub Problem);

/// No valid bearer access token or session cookie.
#[derive(ToResponse)]
#[response(
    content_type = "application/problem+json",
    headers(("WWW-Authenticate" = String, description = "`Bearer`"))
)]
pub struct Unauthenticated(pub Problem);

/// A change made with the session cookie, asked for by another site
/// (`Sec-Fetch-Site: cross-site` or `same-site`, or an `Origin` that is
/// neither this server's nor a configured CORS origin): `cross-site-request`.
#[derive(ToResponse)]
#[response(content_type = "application/problem+json")]
pub struct CrossSite(pub Problem);

/// The body is larger than 64 KiB.
#[derive(ToResponse)]
#[response(content_type = "application/problem+json")]
pub struct PayloadTooLarge(pub Problem);

/// The body is not `application/json`.
#[derive(ToResponse)]
#[response(content_type = "application/problem+json")]
pub struct UnsupportedMediaType(pub Problem);

/// Too many requests from this address or for this account, or (login) the
/// account name is locked after failed attempts.
#[derive(ToResponse)]
#[response(
    content_type = "application/problem+json",
    headers(("Retry-After" = u64, description = "seconds to wait"))
)]
pub struct RateLimited(pub Problem);

/// The store cannot be reached, or every password-hashing thread is busy
/// and its queue full; nothing was changed.
#[derive(ToResponse)]
#[response(
    content_type = "application/problem+json",
    headers(("Retry-After" = u64, description = "seconds to wait"))
)]
pub struct Unavailable(pub Problem);

struct SecuritySchemes;

impl utoipa::Modify for SecuritySchemes {
    fn modify(&self, api: &mut utoipa::openapi::OpenApi) {
        let components = api.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .description(Some(
                        "An access token. With `compat = [\"sanctumtools\"]`, also the \
                         opaque `sessionToken` of SanctumTools' `/api/login`.",
                    ))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "cookie",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
                "latchkey_session",
                "The session cookie; `__Host-latchkey_session` when the public URL is https.",
            ))),
        );
    }
}

/// The rules every operation follows (see the module's documentation).
struct Rules;

impl utoipa::Modify for Rules {
    fn modify(&self, api: &mut utoipa::openapi::OpenApi) {
        for (path, item) in &mut api.paths.paths {
            let operations = [
                (HttpMethod::Get, &mut item.get),
                (HttpMethod::Post, &mut item.post),
                (HttpMethod::Put, &mut item.put),
                (HttpMethod::Patch, &mut item.patch),
                (HttpMethod::Delete, &mut item.delete),
            ];
            for (method, op) in operations {
                if let Some(op) = op {
                    apply_rules(path, &method, op);
                }
            }
        }
        if let Some(components) = api.components.as_mut()
            && let Some(RefOr::T(Schema::Object(login))) =
                components.schemas.get_mut("LoginRequest")
        {
            email_or_username(login);
        }
    }
}

fn apply_rules(path: &str, method: &HttpMethod, op: &mut Operation) {
    let responses = &mut op.responses.responses;
    for response in responses.values_mut() {
        if let RefOr::T(response) = response {
            problems_as_problem_json(response);
        }
    }
    let mut add = |status: &str, name: &str| {
        responses
            .entry(status.to_owned())
            .or_insert_with(|| RefOr::Ref(Ref::from_response_name(name)));
    };
    if op.request_body.is_some() {
        add("400", "BadRequest");
        add("413", "PayloadTooLarge");
        add("415", "UnsupportedMediaType");
    }
    if op.security.is_some() {
        add("401", "Unauthenticated");
        if !matches!(method, HttpMethod::Get | HttpMethod::Head) {
            add("403", "CrossSite");
        }
    }
    if path.starts_with("/api/v1/") && path != "/api/v1/health" {
        add("503", "Unavailable");
    }
}

/// A response whose body is a [`Problem`] is sent as `application/problem+json`.
fn problems_as_problem_json(response: &mut Response) {
    let is_problem = |content: &RefOr<Content>| {
        matches!(content, RefOr::T(Content { schema: Some(RefOr::Ref(r)), .. })
            if r.ref_location == Ref::from_schema_name("Problem").ref_location)
    };
    let problem = response
        .content
        .iter()
        .find(|(_, c)| is_problem(c))
        .map(|(media_type, _)| media_type.clone());
    if let Some(media_type) = problem
        && let Some(content) = response.content.shift_remove(&media_type)
    {
        response.content.insert(PROBLEM_JSON.to_owned(), content);
    }
}

/// Login takes exactly one of `email` and `username` (a string; the other
/// absent or null), which a struct's schema cannot say: `oneOf` two
/// alternatives, each requiring its field as a string. utoipa's `Object`
/// has no `oneOf`; its extensions are written into the object as they are.
fn email_or_username(login: &mut Object) {
    let one_of = json!([
        {"required": ["email"], "properties": {"email": {"type": "string"}}},
        {"required": ["username"], "properties": {"username": {"type": "string"}}},
    ]);
    login
        .extensions
        .get_or_insert_with(Default::default)
        .insert("oneOf".to_owned(), one_of);
}
