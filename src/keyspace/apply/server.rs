//! Connection and server commands.

use super::{Ctx, R};

pub(super) fn select(c: &mut Ctx<'_>, a: &[&[u8]]) -> R<()> {
    let db = c.db_index(a[1], "value is not an integer or out of range")?;
    c.select = Some(db);
    Ok(())
}

pub(super) fn noop(_c: &mut Ctx<'_>, _a: &[&[u8]]) -> R<()> {
    Ok(())
}
