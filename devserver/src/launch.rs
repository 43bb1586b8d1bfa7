//! What `orchgen dev` hands to this crate: the resolved plan, its drawing for the dashboard and the
//! options. A dev host reads it from the file the `orchgen` command wrote (`--launch FILE`), so the
//! host needs neither the pipeline language nor the command line.

use std::path::{Path, PathBuf};

use orchgen_runtime::Plan;
use serde::{Deserialize, Serialize};

use crate::{DevOptions, LocalRedrive};

/// Everything `orchgen dev` needs to run a pipeline.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Launch {
    /// The resolved plan.
    pub plan: Plan,
    /// The pipeline drawn for the dashboard.
    pub graph: DashboardGraph,
    /// The options.
    pub options: DevOptions,
    /// Re-drive the dead letters instead of serving (`orchgen redrive --local`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redrive: Option<LocalRedrive>,
}

/// The pipeline's graph as the dashboard shows it: the SVG drawing and its nodes (whose ids the
/// SVG uses, so the page can colour them with live figures).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DashboardGraph {
    /// The SVG document.
    pub svg: String,
    /// Its nodes.
    pub nodes: Vec<GraphNode>,
}

/// One node of [`DashboardGraph`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GraphNode {
    /// Its id in the SVG.
    pub id: String,
    /// The step, compensation or state it stands for.
    pub name: String,
    /// `entry`, `step`, `compensation` or `terminal`.
    pub kind: String,
}

/// Why a launch file could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum LaunchError {
    /// Reading or writing failed.
    #[error("{action} the launch file {}: {source}", path.display())]
    Io {
        /// `cannot read` or `cannot write`.
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The file is not a launch of this orchgen (written by another version?).
    #[error("the launch file {} is not one this orchgen wrote: {source}", path.display())]
    Format {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: serde_json::Error,
    },
}

impl Launch {
    /// Reads a launch file.
    pub fn read(path: &Path) -> Result<Launch, LaunchError> {
        let text = std::fs::read_to_string(path).map_err(|source| LaunchError::Io {
            action: "cannot read",
            path: path.to_path_buf(),
            source,
        })?;
        serde_json::from_str(&text).map_err(|source| LaunchError::Format { path: path.to_path_buf(), source })
    }

    /// Writes this launch to `path` (through a temporary file renamed into place, so a host never
    /// reads half a file).
    pub fn write(&self, path: &Path) -> Result<(), LaunchError> {
        let io = |source| LaunchError::Io { action: "cannot write", path: path.to_path_buf(), source };
        let text = serde_json::to_string(self).map_err(|e| io(std::io::Error::other(e)))?;
        let tmp = path.with_extension("json.tmp");
        std::fs::write(&tmp, text).map_err(io)?;
        std::fs::rename(&tmp, path).map_err(io)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_launch_round_trips_through_its_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("launch.json");
        let plan = crate::tests_support::plan();
        let launch = Launch {
            plan,
            graph: DashboardGraph { svg: "<svg/>".into(), nodes: vec![] },
            options: DevOptions { port: 0, reset: true, ..DevOptions::default() },
            redrive: Some(LocalRedrive { from_current_state: true, max_letters: 7, json: false }),
        };
        launch.write(&path).unwrap();
        let read = Launch::read(&path).unwrap();
        assert_eq!(read.options, launch.options);
        assert_eq!(read.redrive, launch.redrive);
        assert_eq!(read.graph, launch.graph);
        assert_eq!(read.plan.to_json(), launch.plan.to_json());
        std::fs::write(&path, "{}").unwrap();
        assert!(Launch::read(&path).unwrap_err().to_string().contains("not one this orchgen wrote"));
    }
}
