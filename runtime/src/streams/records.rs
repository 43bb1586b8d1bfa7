//! DynamoDB Streams API records (GetRecords, `aws-sdk-dynamodbstreams`) as the records of a Lambda
//! DynamoDB event ([`event_record`]), so that what reads a stream itself — the local consumer
//! (`streams::consumer`), `orchgen redrive` — hands the stream processor's handler what Lambda would.
//!
//! Feature `dynamodb-streams` (implied by `local`).

use std::collections::HashMap;

use aws_lambda_events::dynamodb::{EventRecord, StreamRecord, StreamViewType, UserIdentity};
use aws_sdk_dynamodbstreams::types::{AttributeValue, Record};
use chrono::{DateTime, Utc};

/// A GetRecords record as the record of a Lambda DynamoDB event.
pub fn event_record(record: Record, stream_arn: &str, region: &str) -> Result<EventRecord, String> {
    let mut event = EventRecord::default();
    event.event_id = record.event_id.unwrap_or_default();
    event.event_name = record.event_name.map(|n| n.as_str().to_owned()).unwrap_or_default();
    event.event_version = Some(record.event_version.unwrap_or_else(|| "1.1".to_owned()));
    event.event_source = Some(record.event_source.unwrap_or_else(|| "aws:dynamodb".to_owned()));
    event.aws_region = record.aws_region.filter(|r| !r.is_empty()).unwrap_or_else(|| region.to_owned());
    event.event_source_arn = Some(stream_arn.to_owned());
    event.user_identity = record.user_identity.map(|identity| {
        let mut user = UserIdentity::default();
        user.type_ = identity.r#type.unwrap_or_default();
        user.principal_id = identity.principal_id.unwrap_or_default();
        user
    });
    let Some(stream_record) = record.dynamodb else {
        return Err(format!("record {} has no dynamodb section", event.event_id));
    };
    let mut change = StreamRecord::default();
    if let Some(at) = stream_record.approximate_creation_date_time {
        change.approximate_creation_date_time =
            DateTime::<Utc>::from_timestamp(at.secs(), at.subsec_nanos()).unwrap_or_default();
    }
    change.keys = item(stream_record.keys.unwrap_or_default())?;
    change.new_image = item(stream_record.new_image.unwrap_or_default())?;
    change.old_image = item(stream_record.old_image.unwrap_or_default())?;
    change.sequence_number = stream_record.sequence_number;
    change.size_bytes = stream_record.size_bytes.unwrap_or_default();
    change.stream_view_type = stream_record.stream_view_type.map(|v| match v.as_str() {
        "NEW_IMAGE" => StreamViewType::NewImage,
        "OLD_IMAGE" => StreamViewType::OldImage,
        "NEW_AND_OLD_IMAGES" => StreamViewType::NewAndOldImages,
        _ => StreamViewType::KeysOnly,
    });
    event.change = change;
    Ok(event)
}

fn item(map: HashMap<String, AttributeValue>) -> Result<serde_dynamo::Item, String> {
    let converted: Result<HashMap<String, serde_dynamo::AttributeValue>, String> =
        map.into_iter().map(|(k, v)| Ok((k, attribute(v)?))).collect();
    converted.map(serde_dynamo::Item::from)
}

fn attribute(value: AttributeValue) -> Result<serde_dynamo::AttributeValue, String> {
    use serde_dynamo::AttributeValue as Av;
    Ok(match value {
        AttributeValue::S(s) => Av::S(s),
        AttributeValue::N(n) => Av::N(n),
        AttributeValue::Bool(b) => Av::Bool(b),
        AttributeValue::Null(n) => Av::Null(n),
        AttributeValue::B(b) => Av::B(b.into_inner()),
        AttributeValue::Ss(ss) => Av::Ss(ss),
        AttributeValue::Ns(ns) => Av::Ns(ns),
        AttributeValue::Bs(bs) => Av::Bs(bs.into_iter().map(|b| b.into_inner()).collect()),
        AttributeValue::L(l) => Av::L(l.into_iter().map(attribute).collect::<Result<_, _>>()?),
        AttributeValue::M(m) => {
            Av::M(m.into_iter().map(|(k, v)| Ok((k, attribute(v)?))).collect::<Result<_, String>>()?)
        }
        other => return Err(format!("unsupported attribute type {other:?}")),
    })
}
