//! `resume_csv`: the CSVLogger file of a run that `train --backup-dir` resumes, cut back
//! to the epochs the backup holds.

use std::io::Write;
use std::path::Path;

use crate::{BestEpoch, Error, PathError};

/// How [`resume_csv`] names its temporary file (prefix, 6 random alphanumerics, suffix);
/// `train` removes such files a killed run left.
pub const CSV_TMP_PREFIX: &str = ".training-";
/// See [`CSV_TMP_PREFIX`].
pub const CSV_TMP_SUFFIX: &str = ".csv.tmp";

/// Prepares the CSVLogger file at `path` for a run resumed at epoch `start`: keeps the
/// header and the complete rows of epochs before `start` (a row of an epoch that is run
/// again, written after the backup, is dropped; the file is rewritten through a temporary
/// file). Returns the best of those epochs as ModelCheckpoint chose it (the first strict
/// minimum of a finite `val_loss`), if the file has them.
pub fn resume_csv(path: &Path, start: usize) -> Result<Option<BestEpoch>, Error> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(PathError::new("read the training log", path, e).into()),
    };
    let mut lines = text.lines();
    let Some(header) = lines.next() else { return Ok(None) };
    let columns: Vec<&str> = header.split(',').collect();
    let column = |name: &str| columns.iter().position(|c| *c == name);
    let (Some(i_epoch), i_loss, i_accuracy) = (column("epoch"), column("val_loss"), column("val_accuracy")) else {
        return Ok(None);
    };
    let (mut kept, mut dropped, mut best) = (vec![header], false, None::<BestEpoch>);
    for line in lines {
        let fields: Vec<&str> = line.split(',').collect();
        let epoch = fields.get(i_epoch).and_then(|f| f.parse::<usize>().ok());
        let Some(epoch) = epoch.filter(|&e| e < start && fields.len() == columns.len()) else {
            dropped = true;
            continue;
        };
        kept.push(line);
        let value = |i: Option<usize>| i.and_then(|i| fields[i].parse::<f64>().ok());
        if let (Some(val_loss), Some(val_accuracy)) = (value(i_loss), value(i_accuracy)) {
            if val_loss.is_finite() && best.as_ref().is_none_or(|b| val_loss < b.val_loss) {
                best = Some(BestEpoch { epoch, val_loss, val_accuracy, epochs_run: start });
            }
        }
    }
    if dropped {
        let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
        let write = || -> std::io::Result<()> {
            let mut tmp = tempfile::Builder::new().prefix(CSV_TMP_PREFIX).suffix(CSV_TMP_SUFFIX).tempfile_in(dir)?;
            tmp.write_all((kept.join("\r\n") + "\r\n").as_bytes())?;
            tmp.as_file().sync_all()?;
            tmp.persist(path).map_err(|e| e.error)?;
            Ok(())
        };
        write().map_err(PathError::at("rewrite the training log", path))?;
    }
    Ok(best)
}
