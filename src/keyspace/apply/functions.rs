//! `FUNCTION LOAD | DELETE | FLUSH | RESTORE`, the subcommands Redis 7 propagates (the others
//! only read). The engine keeps each library's source by name; it does not run Lua, so a
//! library Redis would refuse to compile, or whose function names collide with another
//! library's, is accepted here (Redis never propagates a failed `FUNCTION LOAD`).

use std::collections::BTreeMap;

use super::{Ctx, R};
use crate::keyspace::args::is;
use crate::keyspace::functions::library_name;
use crate::keyspace::Reject;

fn err(msg: impl Into<String>) -> crate::keyspace::ApplyErrorKind {
    Reject::Err(msg.into()).into()
}

pub(super) fn function(c: &mut Ctx<'_>, a: &[&[u8]]) -> R<()> {
    let sub = a[1];
    if is(sub, "load") {
        load(c, a)
    } else if is(sub, "delete") {
        if a.len() != 3 {
            return Err(Reject::Arity.into());
        }
        match c.ks.functions.remove(a[2]) {
            Some(_) => Ok(()),
            None => Err(err("Library not found")),
        }
    } else if is(sub, "flush") {
        if a.len() > 3 {
            return Err(Reject::Arity.into());
        }
        if a.len() == 3 && !is(a[2], "sync") && !is(a[2], "async") {
            return Err(err("FUNCTION FLUSH only supports SYNC|ASYNC option"));
        }
        c.ks.functions.clear();
        Ok(())
    } else if is(sub, "restore") {
        restore(c, a)
    } else if ["list", "dump", "stats", "help", "kill"]
        .iter()
        .any(|s| is(sub, s))
    {
        Ok(())
    } else {
        Err(err(format!(
            "unknown subcommand '{}'. Try FUNCTION HELP.",
            String::from_utf8_lossy(sub)
        )))
    }
}

/// `FUNCTION LOAD [REPLACE] code`.
fn load(c: &mut Ctx<'_>, a: &[&[u8]]) -> R<()> {
    if a.len() < 3 {
        return Err(Reject::Arity.into());
    }
    let mut replace = false;
    let mut pos = 2;
    while pos < a.len() - 1 {
        if is(a[pos], "replace") {
            replace = true;
            pos += 1;
            continue;
        }
        return Err(err(format!(
            "Unknown option given: {}",
            String::from_utf8_lossy(a[pos])
        )));
    }
    let code = a[pos];
    let name = library_name(code).map_err(err)?;
    if !replace && c.ks.functions.contains_key(&name) {
        return Err(err(format!(
            "Library '{}' already exists",
            String::from_utf8_lossy(&name)
        )));
    }
    c.ks.functions.insert(name, code.to_vec());
    Ok(())
}

/// `FUNCTION RESTORE payload [FLUSH|APPEND|REPLACE]` (`functionRestoreCommand`).
fn restore(c: &mut Ctx<'_>, a: &[&[u8]]) -> R<()> {
    if a.len() < 3 {
        return Err(Reject::Arity.into());
    }
    if a.len() > 4 {
        return Err(Reject::Syntax.into());
    }
    #[derive(PartialEq)]
    enum Policy {
        Append,
        Replace,
        Flush,
    }
    let policy = match a.get(3) {
        None => Policy::Append,
        Some(p) if is(p, "append") => Policy::Append,
        Some(p) if is(p, "replace") => Policy::Replace,
        Some(p) if is(p, "flush") => Policy::Flush,
        Some(_) => {
            return Err(err(
                "Wrong restore policy given, value should be either FLUSH, APPEND or REPLACE.",
            ))
        }
    };
    let libs = crate::rdb::function_libraries_from_dump(a[2]).map_err(|e| match e {
        crate::rdb::DumpPayloadError::VersionOrChecksum(_) => {
            err("payload version or checksum are wrong")
        }
        crate::rdb::DumpPayloadError::BadFormat(e) => err(e.to_string()),
    })?;
    let mut incoming = BTreeMap::new();
    for code in libs {
        let name = library_name(&code).map_err(err)?;
        if incoming.contains_key(&name) {
            return Err(err(format!(
                "Library '{}' already exists",
                String::from_utf8_lossy(&name)
            )));
        }
        incoming.insert(name, code);
    }
    match policy {
        Policy::Flush => c.ks.functions = incoming,
        Policy::Append | Policy::Replace => {
            if policy == Policy::Append {
                if let Some(name) = incoming.keys().find(|n| c.ks.functions.contains_key(*n)) {
                    return Err(err(format!(
                        "Library {} already exists",
                        String::from_utf8_lossy(name)
                    )));
                }
            }
            c.ks.functions.extend(incoming);
        }
    }
    Ok(())
}
