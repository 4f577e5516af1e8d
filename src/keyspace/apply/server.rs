//! Connection and server commands.

use super::{Ctx, R};
use crate::keyspace::ApplyErrorKind;

pub(super) fn select(c: &mut Ctx<'_>, a: &[&[u8]]) -> R<()> {
    let db = c.db_index(a[1], "value is not an integer or out of range")?;
    c.select = Some(db);
    Ok(())
}

pub(super) fn noop(_c: &mut Ctx<'_>, _a: &[&[u8]]) -> R<()> {
    Ok(())
}

/// `EVAL`/`EVALSHA`/`FCALL`: Redis before 5.0 (and 5.0–6.2 with `lua-replicate-commands no`)
/// wrote scripts to the AOF verbatim, and redis-server runs them when it loads the file.
/// Their effect needs Redis's Lua interpreter: refused by name rather than skipped.
pub(super) fn script_call(_c: &mut Ctx<'_>, a: &[&[u8]]) -> R<()> {
    let what = if a[0].eq_ignore_ascii_case(b"fcall") {
        "a function call, which redis-server runs when it loads the file"
    } else {
        "a Lua script, which redis-server runs when it loads the file (Redis before 5.0 \
         wrote scripts to the AOF verbatim)"
    };
    Err(ApplyErrorKind::Unsupported(format!(
        "{what}; replaying it needs Redis's Lua interpreter, which redsafe does not embed: \
         load this AOF into a redis-server of the version that wrote it, and save an RDB"
    )))
}
