//! Per-shard checkpoints of the local stream consumer: one small JSON file per shard in a directory
//! chosen by the caller, written atomically (temporary file, then rename). Feature `local`.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// How far a shard has been consumed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShardCheckpoint {
    /// The stream the shard belongs to.
    pub stream_arn: String,
    /// The shard.
    pub shard_id: String,
    /// The last sequence number finished with (processed or dead-lettered); `None`: nothing yet.
    pub sequence_number: Option<String>,
    /// The shard is closed and every record of it is finished.
    pub finished: bool,
}

/// Why a checkpoint could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    /// Reading or writing the file failed.
    #[error("checkpoint file {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// The file is not a checkpoint.
    #[error("checkpoint file {path} is not valid: {source}")]
    Json {
        /// The file.
        path: PathBuf,
        /// The error.
        source: serde_json::Error,
    },
}

/// The checkpoint files of one stream, in one directory.
#[derive(Debug, Clone)]
pub struct CheckpointDir {
    dir: PathBuf,
}

impl CheckpointDir {
    /// Checkpoints kept in `dir` (created when missing, on the first write).
    pub fn new(dir: impl Into<PathBuf>) -> CheckpointDir {
        CheckpointDir { dir: dir.into() }
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The file of a shard of a stream. Characters other than letters, digits, `-`, `_` and `.` are
    /// replaced, so an id can never name a path outside the directory.
    pub fn path(&self, stream_arn: &str, shard_id: &str) -> PathBuf {
        let label = stream_arn.rsplit('/').next().unwrap_or(stream_arn);
        let clean = |s: &str| -> String {
            s.chars().map(|c| if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') { c } else { '_' }).collect()
        };
        self.dir.join(format!("{}--{}.json", clean(label), clean(shard_id)))
    }

    /// The checkpoint of a shard; `None` when it was never written.
    pub fn load(&self, stream_arn: &str, shard_id: &str) -> Result<Option<ShardCheckpoint>, CheckpointError> {
        let path = self.path(stream_arn, shard_id);
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => return Err(CheckpointError::Io { path, source }),
        };
        let checkpoint: ShardCheckpoint =
            serde_json::from_str(&text).map_err(|source| CheckpointError::Json { path: path.clone(), source })?;
        if checkpoint.stream_arn != stream_arn || checkpoint.shard_id != shard_id {
            // Another stream whose label collides after cleaning: not ours.
            return Ok(None);
        }
        Ok(Some(checkpoint))
    }

    /// Writes a shard's checkpoint atomically.
    pub fn save(&self, checkpoint: &ShardCheckpoint) -> Result<(), CheckpointError> {
        let path = self.path(&checkpoint.stream_arn, &checkpoint.shard_id);
        let io = |source| CheckpointError::Io { path: path.clone(), source };
        std::fs::create_dir_all(&self.dir).map_err(io)?;
        let json = serde_json::to_string_pretty(checkpoint)
            .map_err(|source| CheckpointError::Json { path: path.clone(), source })?;
        let tmp = path.with_extension("json.tmp");
        std::fs::write(&tmp, json).map_err(io)?;
        std::fs::rename(&tmp, &path).map_err(io)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_checkpoint_survives_a_reload_and_ids_cannot_escape_the_directory() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = CheckpointDir::new(dir.path().join("cp"));
        let arn = "arn:aws:dynamodb:ddblocal:000000000000:table/shop-orders/stream/2024-05-01T00:00:00.000";
        assert!(store.load(arn, "shardId-1").expect("load").is_none());
        let checkpoint = ShardCheckpoint {
            stream_arn: arn.to_owned(),
            shard_id: "shardId-1".to_owned(),
            sequence_number: Some("000000000000000000123".to_owned()),
            finished: false,
        };
        store.save(&checkpoint).expect("save");
        assert_eq!(store.load(arn, "shardId-1").expect("load"), Some(checkpoint));
        assert!(store.path(arn, "../../etc/passwd").starts_with(dir.path().join("cp")));
        assert!(!store.path(arn, "../x").file_name().expect("a name").to_string_lossy().contains('/'));
    }
}
