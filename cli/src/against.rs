//! `orchgen cost FILE --against OTHER`: the other version of the pipeline, from a file or from git.
//!
//! OTHER is a file when a file of that name exists. Otherwise it is read from the git repository
//! holding FILE, as `git show` names things: `REV` is FILE itself at that revision (`HEAD~1`,
//! `main`, a commit id), `REV:PATH` another path at that revision, PATH from the repository's top.
//! A version read from git is checked as if it were a file in its folder of the working tree (FILE's
//! folder when it is FILE), so that relative paths (custom handlers' crates) resolve.

use std::path::{Path, PathBuf};
use std::process::Command;

use orchgen_generator::source::{MAX_FILE_BYTES, SourceFile};
use orchgen_generator::{Checked, check_file, check_source_in};

/// The other version, checked.
pub struct Other {
    /// How it is named in messages: its path, or `REV:PATH`.
    pub source: String,
    /// Its check (its report is named `source`).
    pub checked: Checked,
}

/// Runs git in `dir`: its standard output, or its first line of complaint.
fn git(dir: &Path, args: &[&str]) -> Result<String, String> {
    let output = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .output()
        .map_err(|e| format!("cannot run git (needed to read a revision): {e}"))?;
    if output.status.success() {
        return String::from_utf8(output.stdout).map_err(|_| "git answered with text that is not UTF-8".to_owned());
    }
    let stderr = String::from_utf8_lossy(&output.stderr);
    let reason = stderr.lines().map(str::trim).find(|l| !l.is_empty()).unwrap_or("no reason given");
    Err(reason.trim_start_matches("fatal: ").to_owned())
}

/// Reads and checks OTHER for `file` (see the module documentation).
pub fn load(file: &Path, other: &str) -> Result<Other, String> {
    if other.is_empty() {
        return Err("--against needs a file or a git revision".to_owned());
    }
    let as_path = Path::new(other);
    if as_path.is_file() {
        let checked = check_file(as_path).map_err(|e| e.to_string())?;
        return Ok(Other { source: other.to_owned(), checked });
    }
    if as_path.exists() {
        return Err(format!("{other} is not a file"));
    }
    let dir = orchgen_generator::step_crate::normalise(&orchgen_generator::step_crate::pipeline_folder(file));
    let top = git(&dir, &["rev-parse", "--show-toplevel"]).map_err(|e| {
        format!(
            "there is no file {other}, and it cannot be a git revision either: {} is not in a git repository ({e})",
            file.display()
        )
    })?;
    let top = PathBuf::from(top.trim_end_matches(['\n', '\r']));
    let (rev, path) = match other.split_once(':') {
        Some((rev, path)) if !path.is_empty() => (rev, path.trim_start_matches('/').to_owned()),
        Some(_) => return Err(format!("{other}: a path is missing after `:` (REV:PATH, as `git show` reads it)")),
        None => {
            let prefix = git(&dir, &["rev-parse", "--show-prefix"])?;
            let name = file
                .file_name()
                .and_then(|n| n.to_str())
                .ok_or_else(|| format!("{} has no file name", file.display()))?;
            (other, format!("{}{name}", prefix.trim_end_matches(['\n', '\r'])))
        }
    };
    // `:PATH` (no revision) is the staged version, as for `git show`.
    if !rev.is_empty() && git(&dir, &["rev-parse", "--verify", "--quiet", &format!("{rev}^{{commit}}")]).is_err() {
        return Err(format!(
            "there is no file {other}, and `{rev}` is not a revision of the git repository at {}",
            top.display()
        ));
    }
    let spec = format!("{rev}:{path}");
    let text = git(&top, &["show", &spec]).map_err(|e| format!("cannot read {spec} from git: {e}"))?;
    if text.len() > MAX_FILE_BYTES {
        return Err(format!("{spec} is larger than {MAX_FILE_BYTES} bytes"));
    }
    // Relative paths resolve from the file's folder in the working tree, else from FILE's.
    let folder = top.join(&path).parent().map(Path::to_path_buf).filter(|d| d.is_dir()).unwrap_or(dir);
    let checked = check_source_in(SourceFile::new(spec.clone(), text), &folder);
    Ok(Other { source: spec, checked })
}
