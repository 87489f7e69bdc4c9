//! A small disk of a test's own, so a full disk is really full: a tmpfs mounted on a temporary
//! folder (`mount -t tmpfs`), unmounted when dropped. Mounting needs root (CI runs the tests as
//! root); without it the test fails and says so, never skips.

use std::io::Write as _;
use std::path::{Path, PathBuf};

/// A tmpfs of its own, unmounted when dropped.
#[derive(Debug)]
pub struct SmallDisk {
    dir: tempfile::TempDir,
}

impl SmallDisk {
    /// Mount a tmpfs of `size` (`mount`'s words: `4m`, `64m`).
    ///
    /// # Panics
    /// When the tmpfs cannot be mounted (not root): the test cannot run, and says why.
    pub fn mount(size: &str) -> SmallDisk {
        let dir = match tempfile::tempdir() {
            Ok(dir) => dir,
            Err(e) => panic!("no temporary folder for the small disk: {e}"),
        };
        let out = std::process::Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size}"),
                "fieldnotes-test",
            ])
            .arg(dir.path())
            .output();
        match out {
            Ok(out) if out.status.success() => SmallDisk { dir },
            other => panic!(
                "this test fills a disk of its own and needs to mount a tmpfs (`mount -t tmpfs`), \
                 which was refused: {other:?}. Run the tests as root (CI does) or with \
                 CAP_SYS_ADMIN"
            ),
        }
    }

    /// Where the disk is mounted.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Fill every byte left with a file; returns it (delete it to free the space).
    pub fn fill(&self) -> PathBuf {
        let path = self.path().join("filler");
        if let Ok(mut file) = std::fs::File::create(&path) {
            for chunk in [1 << 16, 4096, 512, 1] {
                let bytes = vec![0x55u8; chunk];
                while file.write_all(&bytes).is_ok() {}
            }
            let _ = file.sync_all();
        }
        path
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(self.dir.path())
            .status();
    }
}
