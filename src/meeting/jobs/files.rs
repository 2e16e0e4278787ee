//! Job folders: `<jobs_dir>/<id>/{input.<ext>, stages/, outputs/}`, atomic writes, removal and
//! the bytes they use.
//!
//! Invariants:
//! - A path handed out is inside the jobs directory: ids, extensions and file names are checked
//!   (letters, digits, `_`, `-`, and `.` inside names), never joined raw.
//! - A file written with [`write_atomic`] or [`AtomicFile`] is either absent or complete: the
//!   bytes go to a hidden temporary file in the same folder, are synced, then renamed over the
//!   destination, and the folder is synced. A crash leaves at most a temporary file, which
//!   [`JobDir::clean_temp`] removes (the worker does before it resumes a job).

use std::fs::{self, File};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use rand::Rng;

/// Marks temporary files: `.<name>.tmp-<random>`.
const TMP_MARK: &str = ".tmp-";

/// A job folder could not be used.
#[derive(Debug, thiserror::Error)]
pub enum FilesError {
    #[error("invalid job id {0:?}: use 1 to 64 letters, digits, '_' or '-'")]
    BadId(String),
    #[error("invalid file name {0:?} for a job folder")]
    BadName(String),
    #[error(
        "meeting storage is full: {used} bytes are in use under {root} and {incoming} more were asked for, over the quota of {quota} bytes (meeting.quota_bytes); delete finished meetings or raise the quota"
    )]
    QuotaExceeded {
        root: String,
        used: u64,
        incoming: u64,
        quota: u64,
    },
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: io::Error,
    },
}

fn io_at(path: &Path) -> impl FnOnce(io::Error) -> FilesError + '_ {
    move |source| FilesError::Io {
        path: path.display().to_string(),
        source,
    }
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 128
        && !name.starts_with('.')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'.')
        && !name.contains("..")
}

/// The jobs directory.
#[derive(Debug, Clone)]
pub struct JobFiles {
    root: PathBuf,
}

impl JobFiles {
    pub fn new(root: impl Into<PathBuf>) -> JobFiles {
        JobFiles { root: root.into() }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Whether `id` may name a job folder: 1 to 64 ASCII letters, digits, `_` or `-`.
    pub fn valid_id(id: &str) -> bool {
        !id.is_empty() && id.len() <= 64 && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    }

    /// The folder of job `id` (not created).
    pub fn job(&self, id: &str) -> Result<JobDir, FilesError> {
        if !JobFiles::valid_id(id) {
            return Err(FilesError::BadId(id.to_string()));
        }
        Ok(JobDir {
            dir: self.root.join(id),
        })
    }

    /// Creates the folder of job `id` with its `stages/` and `outputs/` (idempotent).
    pub fn create(&self, id: &str) -> Result<JobDir, FilesError> {
        let job = self.job(id)?;
        for d in [job.stages_dir(), job.outputs_dir()] {
            fs::create_dir_all(&d).map_err(io_at(&d))?;
        }
        Ok(job)
    }

    /// Removes job `id`'s folder and everything in it; `false` when there was none.
    pub fn remove(&self, id: &str) -> Result<bool, FilesError> {
        let job = self.job(id)?;
        match fs::remove_dir_all(&job.dir) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(io_at(&job.dir)(e)),
        }
    }

    /// Ids of the job folders present (names that are valid ids; other files are ignored).
    pub fn job_ids(&self) -> Result<Vec<String>, FilesError> {
        let entries = match fs::read_dir(&self.root) {
            Ok(e) => e,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(io_at(&self.root)(e)),
        };
        let mut ids = Vec::new();
        for entry in entries {
            let entry = entry.map_err(io_at(&self.root))?;
            let is_dir = entry.file_type().map(|t| t.is_dir()).unwrap_or(false);
            if let Some(name) = entry.file_name().to_str()
                && is_dir
                && JobFiles::valid_id(name)
            {
                ids.push(name.to_string());
            }
        }
        ids.sort();
        Ok(ids)
    }

    /// Bytes in the files under the jobs directory (the job database included when it lives
    /// there). Symlinks are not followed.
    pub fn bytes_used(&self) -> Result<u64, FilesError> {
        fn walk(dir: &Path, total: &mut u64) -> io::Result<()> {
            for entry in fs::read_dir(dir)? {
                let entry = entry?;
                let meta = match entry.metadata() {
                    Ok(m) => m,
                    // removed while we walked (a job deleted meanwhile)
                    Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                    Err(e) => return Err(e),
                };
                if meta.is_dir() {
                    match walk(&entry.path(), total) {
                        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                        r => r?,
                    }
                } else if meta.is_file() {
                    *total += meta.len();
                }
            }
            Ok(())
        }
        let mut total = 0;
        match walk(&self.root, &mut total) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(0),
            Err(e) => Err(io_at(&self.root)(e)),
            Ok(()) => Ok(total),
        }
    }

    /// Refuses `incoming` more bytes when they would take the jobs directory over `quota`
    /// bytes (0: no quota). Returns the bytes in use.
    pub fn check_quota(&self, quota: u64, incoming: u64) -> Result<u64, FilesError> {
        if quota == 0 {
            return Ok(0);
        }
        let used = self.bytes_used()?;
        if used.saturating_add(incoming) > quota {
            return Err(FilesError::QuotaExceeded {
                root: self.root.display().to_string(),
                used,
                incoming,
                quota,
            });
        }
        Ok(used)
    }
}

/// One job's folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobDir {
    dir: PathBuf,
}

impl JobDir {
    pub fn path(&self) -> &Path {
        &self.dir
    }

    /// `stages/`: the checkpoints.
    pub fn stages_dir(&self) -> PathBuf {
        self.dir.join("stages")
    }

    /// `outputs/`: what `GET /v1/meetings/{id}/outputs/{name}` serves.
    pub fn outputs_dir(&self) -> PathBuf {
        self.dir.join("outputs")
    }

    /// `input.<ext>`, the uploaded recording (`ext`: 1 to 8 letters or digits).
    pub fn input(&self, ext: &str) -> Result<PathBuf, FilesError> {
        if ext.is_empty() || ext.len() > 8 || !ext.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(FilesError::BadName(format!("input.{ext}")));
        }
        Ok(self.dir.join(format!("input.{ext}")))
    }

    /// The uploaded recording, whatever its extension; `None` before it is written.
    pub fn find_input(&self) -> Result<Option<PathBuf>, FilesError> {
        let entries = match fs::read_dir(&self.dir) {
            Ok(e) => e,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io_at(&self.dir)(e)),
        };
        for entry in entries {
            let entry = entry.map_err(io_at(&self.dir))?;
            let name = entry.file_name();
            if name.to_str().is_some_and(|n| n.starts_with("input.")) {
                return Ok(Some(entry.path()));
            }
        }
        Ok(None)
    }

    /// `stages/<stage>.<ext>`: a stage's checkpoint file.
    pub fn checkpoint(&self, stage: &str, ext: &str) -> Result<PathBuf, FilesError> {
        let name = format!("{stage}.{ext}");
        if !valid_name(&name) {
            return Err(FilesError::BadName(name));
        }
        Ok(self.stages_dir().join(name))
    }

    /// `outputs/<name>`; a name with a path separator, `..` or a leading dot is refused.
    pub fn output(&self, name: &str) -> Result<PathBuf, FilesError> {
        if !valid_name(name) {
            return Err(FilesError::BadName(name.to_string()));
        }
        Ok(self.outputs_dir().join(name))
    }

    /// Removes temporary files a crash left behind (in the folder, `stages/` and `outputs/`).
    /// Returns how many.
    pub fn clean_temp(&self) -> Result<usize, FilesError> {
        let mut n = 0;
        for d in [self.dir.clone(), self.stages_dir(), self.outputs_dir()] {
            let entries = match fs::read_dir(&d) {
                Ok(e) => e,
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(io_at(&d)(e)),
            };
            for entry in entries {
                let entry = entry.map_err(io_at(&d))?;
                let is_tmp = entry
                    .file_name()
                    .to_str()
                    .is_some_and(|n| n.starts_with('.') && n.contains(TMP_MARK));
                if is_tmp && entry.file_type().is_ok_and(|t| t.is_file()) {
                    let p = entry.path();
                    fs::remove_file(&p).map_err(io_at(&p))?;
                    n += 1;
                }
            }
        }
        Ok(n)
    }
}

/// A file that appears at its destination, complete, on [`AtomicFile::commit`], and never if
/// dropped uncommitted.
pub struct AtomicFile {
    tmp: PathBuf,
    dest: PathBuf,
    file: Option<BufWriter<File>>,
}

impl AtomicFile {
    /// Starts writing `dest` (its folder is created if missing).
    pub fn create(dest: &Path) -> io::Result<AtomicFile> {
        let parent = dest
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let name = dest
            .file_name()
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, format!("{} names no file", dest.display())))?;
        fs::create_dir_all(parent)?;
        let suffix: u64 = rand::rng().random();
        let tmp = parent.join(format!(".{}{TMP_MARK}{suffix:016x}", name.to_string_lossy()));
        let file = File::options().write(true).create_new(true).open(&tmp)?;
        Ok(AtomicFile {
            tmp,
            dest: dest.to_path_buf(),
            file: Some(BufWriter::new(file)),
        })
    }

    /// Syncs the bytes, renames them into place and syncs the folder.
    pub fn commit(mut self) -> io::Result<()> {
        let Some(writer) = self.file.take() else {
            return Err(io::Error::other("atomic file already committed"));
        };
        let file = writer.into_inner().map_err(|e| e.into_error())?;
        file.sync_all()?;
        drop(file);
        fs::rename(&self.tmp, &self.dest)?;
        if let Some(parent) = self.dest.parent().filter(|p| !p.as_os_str().is_empty()) {
            // Directory fsync makes the rename durable; some filesystems refuse it (ignored).
            if let Ok(d) = File::open(parent) {
                let _ = d.sync_all();
            }
        }
        Ok(())
    }
}

impl Write for AtomicFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self.file.as_mut() {
            Some(f) => f.write(buf),
            None => Err(io::Error::other("atomic file already committed")),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self.file.as_mut() {
            Some(f) => f.flush(),
            None => Ok(()),
        }
    }
}

impl Drop for AtomicFile {
    fn drop(&mut self) {
        if self.file.take().is_some() {
            let _ = fs::remove_file(&self.tmp);
        }
    }
}

/// Writes `bytes` to `path` atomically (see [`AtomicFile`]).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut f = AtomicFile::create(path)?;
    f.write_all(bytes)?;
    f.commit()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_root(tag: &str) -> PathBuf {
        let p = std::env::temp_dir().join(format!(
            "asr-router-files-{tag}-{}-{:x}",
            std::process::id(),
            rand::rng().random::<u64>()
        ));
        fs::create_dir_all(&p).unwrap();
        p
    }

    #[test]
    fn job_folders_are_created_found_measured_and_removed() {
        let root = temp_root("layout");
        let files = JobFiles::new(&root);
        let job = files.create("mtg_1").unwrap();
        assert!(job.stages_dir().is_dir() && job.outputs_dir().is_dir());
        assert_eq!(job.find_input().unwrap(), None);
        write_atomic(&job.input("wav").unwrap(), &[0u8; 1000]).unwrap();
        assert_eq!(job.find_input().unwrap(), Some(root.join("mtg_1/input.wav")));
        write_atomic(&job.checkpoint("decode", "json").unwrap(), b"{}").unwrap();
        write_atomic(&job.output("summary.md").unwrap(), b"# x\n").unwrap();
        assert_eq!(files.bytes_used().unwrap(), 1000 + 2 + 4);
        files.create("mtg_2").unwrap();
        fs::write(root.join("jobs.sqlite3"), b"db").unwrap();
        assert_eq!(files.job_ids().unwrap(), vec!["mtg_1", "mtg_2"]);
        assert!(files.remove("mtg_1").unwrap());
        assert!(!files.remove("mtg_1").unwrap());
        assert_eq!(files.bytes_used().unwrap(), 2);
        fs::remove_dir_all(&root).unwrap();
        assert_eq!(files.bytes_used().unwrap(), 0, "a missing jobs dir holds nothing");
        assert!(files.job_ids().unwrap().is_empty());
    }

    #[test]
    fn paths_stay_inside_the_jobs_directory() {
        let files = JobFiles::new("/srv/jobs");
        for bad in ["", "..", "../x", "a/b", "a.b", &"x".repeat(65)] {
            assert!(matches!(files.job(bad), Err(FilesError::BadId(_))), "{bad:?}");
            assert!(files.remove(bad).is_err());
        }
        let job = files.job("mtg_a-B9").unwrap();
        for bad in ["", "../x", "a/b", ".hidden", "a..b", "x\\y", "é"] {
            assert!(matches!(job.output(bad), Err(FilesError::BadName(_))), "{bad:?}");
        }
        assert!(job.input("../wav").is_err() && job.input("").is_err() && job.input("toolongext").is_err());
        assert!(job.checkpoint("decode", "../x").is_err());
        assert_eq!(
            job.output("timeline.json").unwrap(),
            Path::new("/srv/jobs/mtg_a-B9/outputs/timeline.json")
        );
    }

    #[test]
    fn atomic_files_appear_whole_or_not_at_all() {
        let root = temp_root("atomic");
        let dest = root.join("sub/out.txt");
        {
            let mut f = AtomicFile::create(&dest).unwrap();
            f.write_all(b"half").unwrap();
            // dropped uncommitted: a crash mid-write
        }
        assert!(!dest.exists());
        assert_eq!(fs::read_dir(root.join("sub")).unwrap().count(), 0, "no temporary left");
        write_atomic(&dest, b"first").unwrap();
        write_atomic(&dest, b"second").unwrap();
        assert_eq!(fs::read(&dest).unwrap(), b"second");
        assert!(write_atomic(&root, b"x").is_err(), "a directory is not overwritten");
        fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn clean_temp_removes_what_a_crash_left() {
        let root = temp_root("clean");
        let files = JobFiles::new(&root);
        let job = files.create("j").unwrap();
        let cp = job.checkpoint("embed", "bin").unwrap();
        let mut f = AtomicFile::create(&cp).unwrap();
        f.write_all(b"partial").unwrap();
        std::mem::forget(f); // the process died before commit or drop
        write_atomic(&job.output("a.txt").unwrap(), b"kept").unwrap();
        assert_eq!(job.clean_temp().unwrap(), 1);
        assert_eq!(job.clean_temp().unwrap(), 0);
        assert_eq!(fs::read_dir(job.stages_dir()).unwrap().count(), 0);
        assert!(job.output("a.txt").unwrap().exists());
        fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn quota_refuses_what_would_not_fit() {
        let root = temp_root("quota");
        let files = JobFiles::new(&root);
        let job = files.create("j").unwrap();
        write_atomic(&job.input("wav").unwrap(), &[1u8; 600]).unwrap();
        assert_eq!(files.check_quota(1000, 400).unwrap(), 600);
        let err = files.check_quota(1000, 401).unwrap_err();
        assert!(matches!(
            err,
            FilesError::QuotaExceeded {
                used: 600,
                incoming: 401,
                quota: 1000,
                ..
            }
        ));
        assert!(err.to_string().contains("meeting.quota_bytes"), "{err}");
        assert_eq!(files.check_quota(0, u64::MAX).unwrap(), 0, "0 is no quota");
        fs::remove_dir_all(&root).unwrap();
    }
}
