//! Laravel's wording for validation errors: field names with spaces ("The
//! phone number field is required."), serde's complaints and `validator`'s
//! rules turned into the sentences and the `errors` object a Laravel client
//! expects (API.md).

use validator::{ValidationError, ValidationErrors, ValidationErrorsKind};

use crate::error::{ApiError, FieldErrors};

/// serde's `a.b[0]` as Laravel writes it: `a.b.0`.
fn laravel_path(path: &str) -> String {
    path.replace('[', ".").replace(']', "")
}

/// Laravel writes field names with spaces: "The phone number field is required."
pub fn human_field(field: &str) -> String {
    field.replace('_', " ")
}

/// A 422 for serde's complaint `error` about the value at `path` (serde's
/// `a.b[0]` form): "The x field is required.", "... must be an integer.", ...
pub fn serde_error(path: &str, error: &str) -> ApiError {
    let (field, message) = describe_serde_error(&laravel_path(path), error);
    ApiError::field(&field, message)
}

fn describe_serde_error(path: &str, error: &str) -> (String, String) {
    let join = |name: &str| {
        if path.is_empty() || path == "." {
            name.to_string()
        } else {
            format!("{path}.{name}")
        }
    };
    if let Some(name) = between(error, "missing field `", "`") {
        let field = join(name);
        let message = format!("The {} field is required.", human_field(&field));
        return (field, message);
    }
    if let Some(name) = between(error, "unknown field `", "`") {
        let field = join(name);
        let message = format!("The {} field is not allowed.", human_field(&field));
        return (field, message);
    }
    let field = if path.is_empty() || path == "." {
        "body".to_string()
    } else {
        path.to_string()
    };
    let human = human_field(&field);
    let message = if error.starts_with("unknown variant") {
        format!("The selected {human} is invalid.")
    } else if let Some(expected) = error.split("expected ").nth(1) {
        let expected = expected.split(" at line").next().unwrap_or(expected);
        let out_of_range = error.starts_with("invalid value");
        format!(
            "The {human} field must be {}.",
            describe_expected(expected, out_of_range)
        )
    } else {
        format!("The {human} field is invalid.")
    };
    (field, message)
}

fn describe_expected(expected: &str, out_of_range: bool) -> String {
    let expected = expected.trim();
    let integer = expected.len() <= 5
        && (expected.starts_with('i') || expected.starts_with('u'))
        && expected[1..].chars().all(|c| c.is_ascii_digit());
    if integer && out_of_range {
        "an integer in range".to_string()
    } else if integer {
        "an integer".to_string()
    } else if expected.starts_with("struct ") || expected.starts_with("map") {
        "an object".to_string()
    } else if expected.starts_with("f64") || expected.starts_with("f32") {
        "a number".to_string()
    } else {
        expected.to_string()
    }
}

fn between<'a>(text: &'a str, start: &str, end: &str) -> Option<&'a str> {
    let from = text.find(start)? + start.len();
    let to = text[from..].find(end)? + from;
    Some(&text[from..to])
}

/// Flattens `validator`'s nested errors into Laravel's `errors` object.
pub fn validation_error(errors: ValidationErrors) -> ApiError {
    let mut fields = FieldErrors::new();
    flatten("", &errors, &mut fields);
    ApiError::fields(fields)
}

fn flatten(prefix: &str, errors: &ValidationErrors, out: &mut FieldErrors) {
    for (name, kind) in errors.errors() {
        let field = if prefix.is_empty() {
            name.to_string()
        } else {
            format!("{prefix}.{name}")
        };
        match kind {
            ValidationErrorsKind::Field(list) => {
                let messages = list.iter().map(|e| describe_rule(&field, e)).collect();
                out.insert(field, messages);
            }
            ValidationErrorsKind::Struct(inner) => flatten(&field, inner, out),
            ValidationErrorsKind::List(items) => {
                for (index, inner) in items {
                    flatten(&format!("{field}.{index}"), inner, out);
                }
            }
        }
    }
}

/// Laravel's wording for the rules natter uses, unless the rule carries its own message.
fn describe_rule(field: &str, error: &ValidationError) -> String {
    let human = human_field(field);
    if let Some(message) = &error.message {
        return message.replace(":attribute", &human);
    }
    let param = |name: &str| error.params.get(name).map(|v| v.to_string());
    match error.code.as_ref() {
        "length" => match (param("min"), param("max"), param("equal")) {
            (_, _, Some(equal)) => format!("The {human} field must be {equal} characters."),
            (Some(min), Some(max), _) if min == "1" => format!(
                "The {human} field is required and must not be greater than {max} characters."
            ),
            (Some(min), Some(max), _) => {
                format!("The {human} field must be between {min} and {max} characters.")
            }
            (Some(min), None, _) => format!("The {human} field must be at least {min} characters."),
            (None, Some(max), _) => {
                format!("The {human} field must not be greater than {max} characters.")
            }
            _ => format!("The {human} field is invalid."),
        },
        "range" => match (param("min"), param("max")) {
            (Some(min), Some(max)) => format!("The {human} field must be between {min} and {max}."),
            (Some(min), None) => format!("The {human} field must be at least {min}."),
            (None, Some(max)) => format!("The {human} field must not be greater than {max}."),
            _ => format!("The {human} field is invalid."),
        },
        _ => format!("The {human} field is invalid."),
    }
}
