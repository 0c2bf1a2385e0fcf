//! Text: a `DT_STRING` tensor of markdown with plugin `text`; rank 0 renders as one
//! block, rank 2 as a table.

use super::{check_tag, metadata, plugin, string_tensor, tensor_value, Value};
use crate::{Error, Result};

/// A markdown text summary (rank 0, as `tf.summary.text` writes it).
pub fn text(tag: &str, markdown: &str) -> Result<Value> {
    check_tag(tag)?;
    Ok(tensor_value(tag, metadata(plugin::TEXT, Vec::new()), string_tensor(&[], vec![markdown.as_bytes().to_vec()])))
}

/// A table of markdown cells (rank 2, `rows × columns`). Every row must have the same
/// number of cells, and there must be at least one cell.
pub fn text_table<R, S>(tag: &str, rows: &[R]) -> Result<Value>
where
    R: AsRef<[S]>,
    S: AsRef<str>,
{
    check_tag(tag)?;
    let columns = rows.first().map(|r| r.as_ref().len()).unwrap_or(0);
    if columns == 0 {
        return Err(Error::InvalidValue { tag: tag.to_string(), message: "text table has no cells".into() });
    }
    let mut cells = Vec::with_capacity(rows.len() * columns);
    for (i, row) in rows.iter().enumerate() {
        let row = row.as_ref();
        if row.len() != columns {
            return Err(Error::InvalidValue {
                tag: tag.to_string(),
                message: format!("text table row {i} has {} cells, row 0 has {columns}", row.len()),
            });
        }
        cells.extend(row.iter().map(|c| c.as_ref().as_bytes().to_vec()));
    }
    Ok(tensor_value(tag, metadata(plugin::TEXT, Vec::new()), string_tensor(&[rows.len(), columns], cells)))
}
