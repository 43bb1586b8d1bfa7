//! Table definitions from the plan, and [`ensure_tables`], which creates the missing ones.
//!
//! Every table is on-demand (PAY_PER_REQUEST) with a string partition key named by the plan. The
//! orders table carries the change stream (NEW_AND_OLD_IMAGES) when the plan says so, and two
//! global secondary indexes, both projecting **keys only**, so that a status change writes a few
//! bytes to the index rather than a copy of the order:
//! - the status index (`status`, `created_at`): `GET /orders?status=…` queries it, then reads the
//!   orders with BatchGetItem;
//! - the recent index (`kind`, `created_at`), whose partition key is the constant `order`:
//!   `GET /orders` queries it, then BatchGetItem. Its keys never change after creation, so an order
//!   writes to it once.
//!
//! Tables with a TTL in the plan get it enabled on the plan's attribute.

use std::time::Duration;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, IndexStatus, KeySchemaElement, KeyType, Projection,
    ProjectionType, ScalarAttributeType, StreamSpecification, StreamViewType, TableDescription, TableStatus,
    TimeToLiveSpecification, TimeToLiveStatus,
};

use super::errors::{build_error, store_error};
use crate::plan::{IndexPlan, TablePlan, TablesPlan};
use crate::store::StoreError;

/// How long [`ensure_tables`] waits for a table and its indexes to become ACTIVE.
pub const ACTIVE_TIMEOUT: Duration = Duration::from_secs(120);

/// The plan's tables with `prefix` before every physical name (a stage, or a test's own namespace).
pub fn with_prefix(tables: &TablesPlan, prefix: &str) -> TablesPlan {
    let mut prefixed = tables.clone();
    for table in [&mut prefixed.orders, &mut prefixed.inventory, &mut prefixed.ledger, &mut prefixed.idempotency] {
        table.name = format!("{prefix}{}", table.name);
    }
    prefixed
}

/// Creates the tables of the plan that do not exist yet and waits until every table and index is
/// ACTIVE and TTL is enabled where the plan has one. Returns the names of the tables it created.
/// An existing table whose partition key differs from the plan's is an error.
pub async fn ensure_tables(client: &Client, tables: &TablesPlan) -> Result<Vec<String>, StoreError> {
    let mut created = Vec::new();
    for table in tables.all() {
        match describe(client, &table.name).await? {
            Some(existing) => check_key(table, &existing)?,
            None => {
                if create(client, table).await? {
                    created.push(table.name.clone());
                }
            }
        }
    }
    for table in tables.all() {
        wait_active(client, &table.name).await?;
        enable_ttl(client, table).await?;
    }
    Ok(created)
}

async fn describe(client: &Client, name: &str) -> Result<Option<TableDescription>, StoreError> {
    match client.describe_table().table_name(name).send().await {
        Ok(out) => Ok(out.table),
        Err(e) if e.as_service_error().is_some_and(|s| s.is_resource_not_found_exception()) => Ok(None),
        Err(e) => Err(store_error("DescribeTable", &e)),
    }
}

fn check_key(table: &TablePlan, existing: &TableDescription) -> Result<(), StoreError> {
    let hash = existing.key_schema().iter().find(|k| k.key_type() == &KeyType::Hash).map(|k| k.attribute_name());
    if hash != Some(table.key.as_str()) || existing.key_schema().len() != 1 {
        return Err(StoreError::Invalid(format!(
            "table {} exists with key {:?}, the plan wants partition key `{}` only",
            table.name,
            existing.key_schema().iter().map(|k| k.attribute_name()).collect::<Vec<_>>(),
            table.key
        )));
    }
    Ok(())
}

fn attribute(name: &str) -> Result<AttributeDefinition, StoreError> {
    AttributeDefinition::builder()
        .attribute_name(name)
        .attribute_type(ScalarAttributeType::S)
        .build()
        .map_err(|e| build_error("an attribute definition", e))
}

fn key(name: &str, key_type: KeyType) -> Result<KeySchemaElement, StoreError> {
    KeySchemaElement::builder()
        .attribute_name(name)
        .key_type(key_type)
        .build()
        .map_err(|e| build_error("a key schema", e))
}

fn index(plan: &IndexPlan) -> Result<GlobalSecondaryIndex, StoreError> {
    GlobalSecondaryIndex::builder()
        .index_name(&plan.name)
        .key_schema(key(&plan.partition_key, KeyType::Hash)?)
        .key_schema(key(&plan.sort_key, KeyType::Range)?)
        .projection(Projection::builder().projection_type(ProjectionType::KeysOnly).build())
        .build()
        .map_err(|e| build_error("an index", e))
}

/// Creates `table`; `false` when someone else created it meanwhile.
async fn create(client: &Client, table: &TablePlan) -> Result<bool, StoreError> {
    let mut names = vec![table.key.clone()];
    let indexes: Vec<&IndexPlan> = table.status_index.iter().chain(table.recent_index.iter()).collect();
    for ix in &indexes {
        for name in [&ix.partition_key, &ix.sort_key] {
            if !names.contains(name) {
                names.push(name.clone());
            }
        }
    }
    let mut request = client
        .create_table()
        .table_name(&table.name)
        .billing_mode(BillingMode::PayPerRequest)
        .key_schema(key(&table.key, KeyType::Hash)?);
    for name in &names {
        request = request.attribute_definitions(attribute(name)?);
    }
    for ix in indexes {
        request = request.global_secondary_indexes(index(ix)?);
    }
    if table.stream {
        request = request.stream_specification(
            StreamSpecification::builder()
                .stream_enabled(true)
                .stream_view_type(StreamViewType::NewAndOldImages)
                .build()
                .map_err(|e| build_error("a stream specification", e))?,
        );
    }
    match request.send().await {
        Ok(_) => Ok(true),
        Err(e) if e.as_service_error().is_some_and(|s| s.is_resource_in_use_exception()) => Ok(false),
        Err(e) => Err(store_error("CreateTable", &e)),
    }
}

async fn wait_active(client: &Client, name: &str) -> Result<(), StoreError> {
    let deadline = tokio::time::Instant::now() + ACTIVE_TIMEOUT;
    loop {
        let table = describe(client, name).await?;
        let ready = table.as_ref().is_some_and(|t| {
            t.table_status() == Some(&TableStatus::Active)
                && t.global_secondary_indexes().iter().all(|i| i.index_status() == Some(&IndexStatus::Active))
        });
        if ready {
            return Ok(());
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(StoreError::Unavailable(format!(
                "table {name} is not ACTIVE after {} s",
                ACTIVE_TIMEOUT.as_secs()
            )));
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

async fn enable_ttl(client: &Client, table: &TablePlan) -> Result<(), StoreError> {
    let Some(ttl) = &table.ttl else { return Ok(()) };
    let current = client
        .describe_time_to_live()
        .table_name(&table.name)
        .send()
        .await
        .map_err(|e| store_error("DescribeTimeToLive", &e))?;
    let status = current.time_to_live_description().and_then(|d| d.time_to_live_status());
    if matches!(status, Some(TimeToLiveStatus::Enabled | TimeToLiveStatus::Enabling)) {
        return Ok(());
    }
    let spec = TimeToLiveSpecification::builder()
        .enabled(true)
        .attribute_name(&ttl.attribute)
        .build()
        .map_err(|e| build_error("a TTL specification", e))?;
    client
        .update_time_to_live()
        .table_name(&table.name)
        .time_to_live_specification(spec)
        .send()
        .await
        .map_err(|e| store_error("UpdateTimeToLive", &e))?;
    Ok(())
}
