//! OpenAPI schemas for the protocol types whose JSON form serde does not derive (feature
//! `openapi`, enabled by the backend only; agent and CLI never compile utoipa).

use std::borrow::Cow;

use utoipa::openapi::schema::{ObjectBuilder, OneOfBuilder, Schema, SchemaType, Type};
use utoipa::openapi::{RefOr, schema};
use utoipa::{PartialSchema, ToSchema};

use crate::duration::HumanDuration;
use crate::schedule::Reconcile;

fn string(description: &str, example: &str) -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(SchemaType::Type(Type::String))
        .description(Some(description))
        .examples([serde_json::json!(example)])
}

/// Written as `30s`, `5m`, `1h 30m` or a number of seconds; always answered as a string.
impl PartialSchema for HumanDuration {
    fn schema() -> RefOr<Schema> {
        OneOfBuilder::new()
            .item(string("a duration such as 30s, 5m or 1h 30m", "5m"))
            .item(
                ObjectBuilder::new()
                    .schema_type(SchemaType::Type(Type::Number))
                    .minimum(Some(0.0))
                    .description(Some("a number of seconds")),
            )
            .into()
    }
}

impl ToSchema for HumanDuration {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("HumanDuration")
    }
}

/// `"once"`, or `{"every": <duration>}`.
impl PartialSchema for Reconcile {
    fn schema() -> RefOr<Schema> {
        OneOfBuilder::new()
            .item(
                ObjectBuilder::new()
                    .schema_type(SchemaType::Type(Type::String))
                    .enum_values(Some(["once"])),
            )
            .item(
                ObjectBuilder::new()
                    .property("every", HumanDuration::schema())
                    .required("every")
                    .additional_properties(Some(schema::AdditionalProperties::FreeForm(false))),
            )
            .into()
    }
}

impl ToSchema for Reconcile {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("Reconcile")
    }

    fn schemas(schemas: &mut Vec<(String, RefOr<Schema>)>) {
        schemas.push((HumanDuration::name().into(), HumanDuration::schema()));
    }
}
