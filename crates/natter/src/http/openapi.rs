//! The OpenAPI document: assembled from every feature's annotated handlers,
//! then completed with what every route shares, so each handler need not
//! repeat it: the bearer scheme, and the error answers of API.md (401 on every
//! authenticated route, 404 where a path names something, 422 where input is
//! validated), each with its Laravel-shaped body. Served at /api/openapi.json,
//! which is listed in the document too.
//!
//! OpenAPI 3.1 requires a `description` on every response and a unique
//! `operationId` on every operation; both are settled here rather than in each
//! handler: a response declared without one is described by its status's
//! reason phrase, and every operationId is its handler's name qualified by its
//! tag (`chats_list`, `contacts_list`), so two features may both have a
//! `list` and adding a route never renames another. `.ci/run` checks the
//! result with `openapi-spec-validator`.

use std::collections::BTreeMap;

use serde::Serialize;
use utoipa::openapi::path::{HttpMethod, Operation, OperationBuilder, ParameterIn, PathItem};
use utoipa::openapi::request_body::RequestBody;
use utoipa::openapi::response::{Response, ResponseBuilder};
use utoipa::openapi::schema::Object;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::openapi::{Content, InfoBuilder, OpenApi, Ref, RefOr, Required};
use utoipa::{PartialSchema, ToSchema};

/// `{"success": false, "message"}`: 400, 403, 404, 409, 413, 415, 429, 500, 503.
#[derive(Serialize, ToSchema)]
pub struct ErrorBody {
    pub success: bool,
    pub message: String,
}

/// 401: `{"message": "Unauthenticated."}`.
#[derive(Serialize, ToSchema)]
pub struct UnauthenticatedBody {
    pub message: String,
}

/// 422: the first error, and every failing field with its messages.
#[derive(Serialize, ToSchema)]
pub struct ValidationErrorBody {
    pub message: String,
    pub errors: BTreeMap<String, Vec<String>>,
}

/// Where the document itself is served.
pub const DOCUMENT_PATH: &str = "/api/openapi.json";

/// Routes whose body may be left out entirely (every field is optional).
const OPTIONAL_BODIES: &[(&str, &str)] =
    &[("/api/user/profile", "put"), ("/api/user/privacy", "put")];

pub fn finish(mut api: OpenApi) -> OpenApi {
    api.info = InfoBuilder::new()
        .title("natter")
        .version(env!("CARGO_PKG_VERSION"))
        .description(Some(
            "The natter HTTP API: the routes of the Laravel WhatsApp-clone guide, settled by API.md. \
             Real-time events use the Pusher protocol at /app/{key}.",
        ))
        .build();
    let components = api.components.get_or_insert_with(Default::default);
    components.add_security_scheme(
        "bearer",
        SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
    );
    for (name, schema) in [
        ("ErrorBody", ErrorBody::schema()),
        ("UnauthenticatedBody", UnauthenticatedBody::schema()),
        ("ValidationErrorBody", ValidationErrorBody::schema()),
    ] {
        components.schemas.insert(name.to_string(), schema);
    }
    api.paths
        .paths
        .insert(DOCUMENT_PATH.to_string(), document_path_item());
    for (path, item) in api.paths.paths.iter_mut() {
        let operations = [
            ("get", &mut item.get),
            ("put", &mut item.put),
            ("post", &mut item.post),
            ("delete", &mut item.delete),
            ("patch", &mut item.patch),
        ];
        for (method, operation) in operations {
            if let Some(operation) = operation {
                complete(path, method, operation);
            }
        }
    }
    api
}

/// `GET /api/openapi.json`: served by the server module, not by a feature's
/// annotated handler, so it is described here.
fn document_path_item() -> PathItem {
    let ok = ResponseBuilder::new()
        .description("This OpenAPI 3.1 document")
        .content("application/json", Content::new(Some(Object::new())))
        .build();
    let operation = OperationBuilder::new()
        .tags(Some(["operations"]))
        .operation_id(Some("openapi"))
        .summary(Some("The OpenAPI document of the HTTP API"))
        .response("200", ok)
        .build();
    PathItem::new(HttpMethod::Get, operation)
}

/// Adds the shared error answers an operation does not declare itself, gives
/// every declared error its body, every response a description and the
/// operation an id unique in the document.
fn complete(path: &str, method: &str, operation: &mut Operation) {
    qualify_operation_id(operation);
    let params = operation.parameters.as_deref().unwrap_or_default();
    let has = |place: ParameterIn| {
        params.iter().any(|p| matches!(p, RefOr::T(p) if std::mem::discriminant(&p.parameter_in) == std::mem::discriminant(&place)))
    };
    let authenticated = operation.security.as_ref().is_some_and(|s| !s.is_empty());
    let (path_params, query_params) = (has(ParameterIn::Path), has(ParameterIn::Query));
    let responses = &mut operation.responses.responses;
    if authenticated {
        responses
            .entry("401".into())
            .or_insert_with(|| error_response("Unauthenticated"));
    }
    if path_params {
        responses
            .entry("404".into())
            .or_insert_with(|| error_response("Not found, or not visible to the caller"));
    }
    if operation.request_body.is_some() || query_params {
        responses
            .entry("422".into())
            .or_insert_with(|| error_response("Validation failed"));
    }
    for (status, response) in responses.iter_mut() {
        if let RefOr::T(response) = response
            && response.description.is_empty()
        {
            response.description = reason_phrase(status);
        }
        if let RefOr::T(response) = response
            && status.starts_with(['4', '5'])
            && response.content.is_empty()
        {
            response
                .content
                .insert("application/json".into(), body_for(status).into());
        }
    }
    if OPTIONAL_BODIES.contains(&(path, method))
        && let Some(RefOr::T(body)) = &mut operation.request_body
    {
        optional(body);
    }
}

/// `list` in the chats feature becomes `chats_list`: handler names repeat
/// across features, tags (one per feature) do not.
fn qualify_operation_id(operation: &mut Operation) {
    let tag = operation.tags.as_ref().and_then(|tags| tags.first());
    if let (Some(tag), Some(id)) = (tag, operation.operation_id.as_mut())
        && !id.starts_with(&format!("{tag}_"))
    {
        *id = format!("{tag}_{id}");
    }
}

/// "OK" for 200, "Created" for 201: the description of a response declared
/// without one.
fn reason_phrase(status: &str) -> String {
    status
        .parse::<u16>()
        .ok()
        .and_then(|code| http::StatusCode::from_u16(code).ok())
        .and_then(|code| code.canonical_reason())
        .unwrap_or("Response")
        .to_string()
}

fn optional(body: &mut RequestBody) {
    body.required = Some(Required::False);
}

fn error_response(description: &str) -> RefOr<Response> {
    RefOr::T(ResponseBuilder::new().description(description).build())
}

fn body_for(status: &str) -> Content {
    let schema = match status {
        "401" => "UnauthenticatedBody",
        "422" => "ValidationErrorBody",
        _ => "ErrorBody",
    };
    Content::new(Some(Ref::from_schema_name(schema)))
}
