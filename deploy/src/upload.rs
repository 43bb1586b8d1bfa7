//! The stage's artefact bucket: created when missing (versioned, SSE-S3 encrypted, public access
//! blocked), named per account, region and stage; the functions' zips and the template uploaded
//! under content-hash keys, skipping objects already there.

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{
    BucketLocationConstraint, BucketVersioningStatus, CreateBucketConfiguration, PublicAccessBlockConfiguration,
    ServerSideEncryption, ServerSideEncryptionByDefault, ServerSideEncryptionConfiguration, ServerSideEncryptionRule,
    VersioningConfiguration,
};
use orchgen_runtime::plan::Plan;
use sha2::{Digest, Sha256};

use super::{Clients, CodeObject, DeployError, Log};

/// The artefact bucket of a stage: `orchgen-<account>-<region>-<stage>` (at most 46 characters).
pub fn bucket_name(account: &str, region: &str, stage: &str) -> String {
    format!("orchgen-{account}-{region}-{stage}").to_ascii_lowercase()
}

fn aws<E, R>(operation: &str) -> impl FnOnce(aws_sdk_s3::error::SdkError<E, R>) -> DeployError
where
    E: aws_sdk_s3::error::ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug + 'static,
{
    let operation = operation.to_owned();
    move |e| DeployError::aws(&operation, &e)
}

/// Whether the bucket exists (HeadBucket).
pub async fn bucket_exists(clients: &Clients, bucket: &str) -> Result<bool, DeployError> {
    match clients.s3.head_bucket().bucket(bucket).send().await {
        Ok(_) => Ok(true),
        Err(e) if e.as_service_error().is_some_and(|s| s.is_not_found()) => Ok(false),
        Err(e) if e.raw_response().is_some_and(|r| r.status().as_u16() == 404) => Ok(false),
        Err(e) => Err(DeployError::aws(&format!("s3 HeadBucket {bucket}"), &e)),
    }
}

/// Creates the bucket when missing, with versioning, default encryption and the public access
/// block; returns whether it was created.
pub async fn ensure_bucket(clients: &Clients, bucket: &str) -> Result<bool, DeployError> {
    if bucket_exists(clients, bucket).await? {
        return Ok(false);
    }
    let mut create = clients.s3.create_bucket().bucket(bucket);
    if clients.region != "us-east-1" {
        create = create.create_bucket_configuration(
            CreateBucketConfiguration::builder()
                .location_constraint(BucketLocationConstraint::from(clients.region.as_str()))
                .build(),
        );
    }
    create.send().await.map_err(aws(&format!("s3 CreateBucket {bucket}")))?;
    clients
        .s3
        .put_public_access_block()
        .bucket(bucket)
        .public_access_block_configuration(
            PublicAccessBlockConfiguration::builder()
                .block_public_acls(true)
                .ignore_public_acls(true)
                .block_public_policy(true)
                .restrict_public_buckets(true)
                .build(),
        )
        .send()
        .await
        .map_err(aws("s3 PutPublicAccessBlock"))?;
    let rule = ServerSideEncryptionRule::builder()
        .apply_server_side_encryption_by_default(
            ServerSideEncryptionByDefault::builder()
                .sse_algorithm(ServerSideEncryption::Aes256)
                .build()
                .map_err(|e| DeployError::Config(e.to_string()))?,
        )
        .build();
    clients
        .s3
        .put_bucket_encryption()
        .bucket(bucket)
        .server_side_encryption_configuration(
            ServerSideEncryptionConfiguration::builder()
                .rules(rule)
                .build()
                .map_err(|e| DeployError::Config(e.to_string()))?,
        )
        .send()
        .await
        .map_err(aws("s3 PutBucketEncryption"))?;
    clients
        .s3
        .put_bucket_versioning()
        .bucket(bucket)
        .versioning_configuration(VersioningConfiguration::builder().status(BucketVersioningStatus::Enabled).build())
        .send()
        .await
        .map_err(aws("s3 PutBucketVersioning"))?;
    Ok(true)
}

/// What the uploads did.
#[derive(Debug, Clone, Default)]
pub struct Uploads {
    /// Keys uploaded.
    pub uploaded: Vec<String>,
    /// Keys already present (same content hash), not uploaded again.
    pub unchanged: Vec<String>,
}

/// Whether an object exists (HeadObject).
async fn object_exists(clients: &Clients, bucket: &str, key: &str) -> Result<bool, DeployError> {
    match clients.s3.head_object().bucket(bucket).key(key).send().await {
        Ok(_) => Ok(true),
        Err(e) if e.as_service_error().is_some_and(|s| s.is_not_found()) => Ok(false),
        Err(e) if e.raw_response().is_some_and(|r| r.status().as_u16() == 404) => Ok(false),
        Err(e) => Err(DeployError::aws(&format!("s3 HeadObject {key}"), &e)),
    }
}

async fn put(clients: &Clients, bucket: &str, key: &str, body: Vec<u8>, content_type: &str) -> Result<(), DeployError> {
    clients
        .s3
        .put_object()
        .bucket(bucket)
        .key(key)
        .content_type(content_type)
        .server_side_encryption(ServerSideEncryption::Aes256)
        .body(ByteStream::from(body))
        .send()
        .await
        .map_err(aws(&format!("s3 PutObject {key}")))?;
    Ok(())
}

/// Uploads every zip whose key is not in the bucket yet (keys name the content hash).
pub async fn upload_code(
    clients: &Clients,
    bucket: &str,
    code: &[CodeObject],
    log: &mut Log<'_>,
) -> Result<Uploads, DeployError> {
    let mut uploads = Uploads::default();
    for object in code {
        if object_exists(clients, bucket, &object.key).await? {
            uploads.unchanged.push(object.key.clone());
            continue;
        }
        let body = std::fs::read(&object.zip).map_err(|source| DeployError::Io { path: object.zip.clone(), source })?;
        let bytes = body.len();
        put(clients, bucket, &object.key, body, "application/zip").await?;
        log.line(format!(
            "uploaded {} ({} KiB) to s3://{bucket}/{}",
            object.function,
            bytes.div_ceil(1024),
            object.key
        ));
        uploads.uploaded.push(object.key.clone());
    }
    Ok(uploads)
}

/// Uploads the template under `<pipeline>/templates/<sha256>.json` (templates over CloudFormation's
/// 51,200-byte inline limit must come from S3) and returns its URL.
pub async fn upload_template(
    clients: &Clients,
    bucket: &str,
    plan: &Plan,
    template: &str,
    uploads: &mut Uploads,
) -> Result<String, DeployError> {
    let hash = hex(&Sha256::digest(template.as_bytes()));
    let key = format!("{}/templates/{hash}.json", plan.name);
    if object_exists(clients, bucket, &key).await? {
        uploads.unchanged.push(key.clone());
    } else {
        put(clients, bucket, &key, template.as_bytes().to_vec(), "application/json").await?;
        uploads.uploaded.push(key.clone());
    }
    Ok(template_url(&clients.region, bucket, &key))
}

/// The URL CloudFormation reads a template from: `https://s3.<region>.amazonaws.com/<bucket>/<key>`.
pub fn template_url(region: &str, bucket: &str, key: &str) -> String {
    let suffix = if region.starts_with("cn-") { "amazonaws.com.cn" } else { "amazonaws.com" };
    format!("https://s3.{region}.{suffix}/{bucket}/{key}")
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// What emptying a bucket removed.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Emptied {
    /// Object versions and delete markers removed.
    pub versions: usize,
}

/// Deletes every object version and delete marker of the bucket, then the bucket.
pub async fn empty_and_delete_bucket(clients: &Clients, bucket: &str) -> Result<Emptied, DeployError> {
    use aws_sdk_s3::types::{Delete, ObjectIdentifier};
    let mut emptied = Emptied::default();
    loop {
        let listed = clients
            .s3
            .list_object_versions()
            .bucket(bucket)
            .send()
            .await
            .map_err(aws(&format!("s3 ListObjectVersions {bucket}")))?;
        let mut ids = Vec::new();
        for v in listed.versions() {
            if let Some(key) = v.key() {
                ids.push((key.to_owned(), v.version_id().map(str::to_owned)));
            }
        }
        for m in listed.delete_markers() {
            if let Some(key) = m.key() {
                ids.push((key.to_owned(), m.version_id().map(str::to_owned)));
            }
        }
        if ids.is_empty() {
            break;
        }
        let objects = ids
            .iter()
            .map(|(key, version)| {
                ObjectIdentifier::builder()
                    .key(key)
                    .set_version_id(version.clone())
                    .build()
                    .map_err(|e| DeployError::Config(e.to_string()))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let delete =
            Delete::builder().set_objects(Some(objects)).build().map_err(|e| DeployError::Config(e.to_string()))?;
        let out = clients
            .s3
            .delete_objects()
            .bucket(bucket)
            .delete(delete)
            .send()
            .await
            .map_err(aws(&format!("s3 DeleteObjects {bucket}")))?;
        if let Some(error) = out.errors().first() {
            return Err(DeployError::Aws {
                operation: format!("s3 DeleteObjects {bucket}"),
                message: format!(
                    "{}: {} ({})",
                    error.code().unwrap_or("error"),
                    error.message().unwrap_or(""),
                    error.key().unwrap_or("")
                ),
            });
        }
        emptied.versions += ids.len();
    }
    clients.s3.delete_bucket().bucket(bucket).send().await.map_err(aws(&format!("s3 DeleteBucket {bucket}")))?;
    Ok(emptied)
}
