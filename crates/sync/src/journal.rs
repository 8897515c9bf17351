//! A host's local copy of its program, so that it keeps forwarding when it restarts while
//! no mapping service answers (static stability).
//!
//! The copy is the updates themselves: each update a host applies is appended to a file,
//! and a snapshot starts the file over. A restarted host replays the file through the
//! same `apply` as live updates, so every part of it (engine, metadata, flow logs) comes
//! back as it was, at the (epoch, generation) it had reached; its next session resumes
//! from there. The host keeps no second copy of its items in memory: when the file grows
//! past [`Journal::LIMIT`] the host starts over from a snapshot, which writes it anew.
//!
//! Format: `FORTJNL` `\0`, the contract version (u32, little endian), then each update
//! as its protobuf encoding behind its length (u32, little endian). A file of another
//! contract version is ignored; a torn last record (a crash mid-write) is dropped.

use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use fort_proto::CONTRACT_VERSION;
use fort_proto::mapping::ProgramUpdate;
use prost::Message;

use crate::client::{Gap, Programmed};

const MAGIC: &[u8; 8] = b"FORTJNL\0";

/// The updates applied since the last snapshot, on disk.
pub struct Journal {
    path: PathBuf,
    file: Option<BufWriter<File>>,
    len: u64,
}

impl Journal {
    /// Past this many bytes the host asks for a snapshot, which starts the file over.
    pub const LIMIT: u64 = 64 << 20;

    /// Opens the journal at `path`, returning the updates it holds, in order (none if
    /// the file is missing, of another contract version, or unreadable).
    pub fn open(path: &Path) -> (Journal, Vec<ProgramUpdate>) {
        let updates = match read(path) {
            Ok(u) => u,
            Err(e) if e.kind() == io::ErrorKind::NotFound => Vec::new(),
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "local program copy ignored");
                Vec::new()
            }
        };
        let journal = Journal {
            path: path.to_owned(),
            file: None,
            len: 0,
        };
        (journal, updates)
    }

    /// Appends an update, given as its encoding (a snapshot starts the file over). A
    /// write that fails is logged and the copy dropped: the host keeps running, it only
    /// loses its restart copy.
    pub fn record(&mut self, bytes: &[u8], snapshot: bool) {
        let result = (|| {
            if snapshot || self.file.is_none() {
                self.start(snapshot)?;
            }
            let file = self.file.as_mut().expect("started above");
            file.write_all(&u32::try_from(bytes.len()).unwrap_or(u32::MAX).to_le_bytes())?;
            file.write_all(bytes)?;
            // in the page cache before the next update: a crashed agent loses nothing
            file.flush()?;
            self.len += 4 + bytes.len() as u64;
            Ok::<(), io::Error>(())
        })();
        if let Err(e) = result {
            tracing::warn!(path = %self.path.display(), error = %e, "local program copy dropped");
            self.clear();
        }
    }

    /// Whether the file has grown past [`Journal::LIMIT`].
    pub fn full(&self) -> bool {
        self.len > Self::LIMIT
    }

    /// Forgets the copy (the host forgot its program).
    pub fn clear(&mut self) {
        self.file = None;
        self.len = 0;
        let _ = std::fs::remove_file(&self.path);
    }

    /// Opens the file for appending: anew for a snapshot, else after what it holds.
    fn start(&mut self, snapshot: bool) -> io::Result<()> {
        if !snapshot && self.file.is_none() {
            // appending to what an earlier run left: it was replayed, so it is current
            if let Ok(meta) = std::fs::metadata(&self.path) {
                let file = OpenOptions::new().append(true).open(&self.path)?;
                self.len = meta.len();
                self.file = Some(BufWriter::new(file));
                return Ok(());
            }
        }
        let mut file = BufWriter::new(File::create(&self.path)?);
        file.write_all(MAGIC)?;
        file.write_all(&CONTRACT_VERSION.to_le_bytes())?;
        self.len = 12;
        self.file = Some(file);
        Ok(())
    }
}

/// The updates of the file at `path`.
fn read(path: &Path) -> io::Result<Vec<ProgramUpdate>> {
    let mut bytes = Vec::new();
    File::open(path)?.read_to_end(&mut bytes)?;
    parse(&bytes)
}

/// The updates `bytes` hold; a torn last record is dropped.
pub fn parse(bytes: &[u8]) -> io::Result<Vec<ProgramUpdate>> {
    let bad = |why: &str| io::Error::new(io::ErrorKind::InvalidData, why.to_owned());
    let header = bytes.get(..12).ok_or_else(|| bad("too short"))?;
    if &header[..8] != MAGIC {
        return Err(bad("not a program journal"));
    }
    let version = u32::from_le_bytes(header[8..12].try_into().expect("4 bytes"));
    if version != CONTRACT_VERSION {
        return Err(bad(&format!(
            "contract version {version}, this host speaks {CONTRACT_VERSION}"
        )));
    }
    let mut rest = &bytes[12..];
    let mut updates = Vec::new();
    while let Some(len) = rest.get(..4) {
        let len = u32::from_le_bytes(len.try_into().expect("4 bytes")) as usize;
        let Some(record) = rest.get(4..4 + len) else {
            break; // torn by a crash mid-write
        };
        updates.push(ProgramUpdate::decode(record).map_err(|e| bad(&e.to_string()))?);
        rest = &rest[4 + len..];
    }
    Ok(updates)
}

/// A host's program kept with its local copy: every update applied is recorded.
pub struct Journaled<P> {
    pub inner: P,
    pub journal: Journal,
}

impl<P: Programmed> Journaled<P> {
    /// `inner` with the updates of `journal`'s file applied (the local copy restored);
    /// a copy that does not apply in order is dropped.
    pub fn restore(mut inner: P, journal: Journal, updates: Vec<ProgramUpdate>) -> Self {
        let count = updates.len();
        for u in updates {
            if inner.apply(u).is_err() {
                tracing::warn!("local program copy out of sequence: dropped");
                inner.reset();
                let mut journal = journal;
                journal.clear();
                return Journaled { inner, journal };
            }
        }
        if count > 0 {
            let (epoch, generation) = inner.position();
            tracing::info!(
                epoch,
                generation,
                updates = count,
                "program restored from the local copy"
            );
        }
        Journaled { inner, journal }
    }
}

impl<P: Programmed> Programmed for Journaled<P> {
    fn position(&self) -> (u64, u64) {
        self.inner.position()
    }

    fn apply(&mut self, update: ProgramUpdate) -> Result<bool, Gap> {
        let (bytes, snapshot) = (update.encode_to_vec(), update.snapshot);
        let applied = self.inner.apply(update)?;
        if applied {
            self.journal.record(&bytes, snapshot);
            if self.journal.full() {
                // start over from a snapshot, which writes the copy anew
                tracing::info!("local program copy full: asking for a snapshot");
                return Err(Gap);
            }
        }
        Ok(applied)
    }

    fn reset(&mut self) {
        self.inner.reset();
        self.journal.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::Cache;
    use fort_proto::mapping::{Item, ItemKey, ItemValue, item_key, item_value};

    fn update(epoch: u64, base: u64, generation: u64, snapshot: bool, vpc: &str) -> ProgramUpdate {
        let key = ItemKey {
            kind: Some(item_key::Kind::Vpc(vpc.to_owned())),
        };
        let value = ItemValue {
            kind: Some(item_value::Kind::Vpc(fort_proto::mapping::Vpc {
                id: vpc.to_owned(),
                ..Default::default()
            })),
        };
        ProgramUpdate {
            epoch,
            base_generation: base,
            generation,
            snapshot,
            put: vec![Item {
                key: Some(key),
                value: Some(value),
            }],
            ..Default::default()
        }
    }

    #[test]
    fn a_restart_replays_what_was_applied() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("program.journal");
        let (journal, none) = Journal::open(&path);
        assert!(none.is_empty());
        let mut live = Journaled::restore(Cache::default(), journal, none);
        live.apply(update(7, 0, 1, true, "vpc-a")).unwrap();
        live.apply(update(7, 1, 2, false, "vpc-b")).unwrap();
        // a duplicate is not recorded twice
        assert_eq!(live.apply(update(7, 1, 2, false, "vpc-b")), Ok(false));
        let (journal, updates) = Journal::open(&path);
        assert_eq!(updates.len(), 2);
        let mut back = Journaled::restore(Cache::default(), journal, updates);
        assert_eq!(back.inner, live.inner);
        assert_eq!(back.position(), (7, 2));
        // the next run appends to what it replayed
        back.apply(update(7, 2, 3, false, "vpc-c")).unwrap();
        let (_, updates) = Journal::open(&path);
        assert_eq!(
            updates.iter().map(|u| u.generation).collect::<Vec<_>>(),
            [1, 2, 3]
        );
        // a snapshot starts the copy over
        back.apply(update(8, 0, 1, true, "vpc-d")).unwrap();
        let (_, updates) = Journal::open(&path);
        assert_eq!(updates.len(), 1);
        assert_eq!(updates[0].epoch, 8);
    }

    #[test]
    fn a_torn_or_foreign_copy_is_not_replayed_whole() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("program.journal");
        let (journal, _) = Journal::open(&path);
        let mut live = Journaled::restore(Cache::default(), journal, Vec::new());
        live.apply(update(1, 0, 1, true, "vpc-a")).unwrap();
        live.apply(update(1, 1, 2, false, "vpc-b")).unwrap();
        let bytes = std::fs::read(&path).unwrap();
        // a crash mid-write: the last record is dropped, the first kept
        std::fs::write(&path, &bytes[..bytes.len() - 3]).unwrap();
        assert_eq!(Journal::open(&path).1.len(), 1);
        // another contract version: nothing
        let mut other = bytes.clone();
        other[8..12].copy_from_slice(&(CONTRACT_VERSION + 1).to_le_bytes());
        std::fs::write(&path, other).unwrap();
        assert!(Journal::open(&path).1.is_empty());
        assert!(parse(b"garbage").is_err());
        // a copy that does not follow in order is dropped, not half applied
        let restored = Journaled::restore(
            Cache::default(),
            Journal::open(&path).0,
            vec![update(1, 5, 6, false, "vpc-x")],
        );
        assert_eq!(restored.inner, Cache::default());
        assert!(!path.exists());
    }
}
