//! Function libraries (Redis 7 `FUNCTION`): the library name from the source's `#!` line,
//! read as Redis's `functionExtractLibMetaData` reads it.

/// The name a library's source declares (`#!lua name=mylib`), or Redis's error message for
/// a header it refuses. The engine name must be `lua` (any case), the only engine Redis
/// 7 has. Quoted arguments on the `#!` line are not read (an error, never a guess).
pub fn library_name(code: &[u8]) -> Result<Vec<u8>, String> {
    if !code.starts_with(b"#!") {
        return Err("Missing library metadata".into());
    }
    let Some(eol) = code.iter().position(|&b| b == b'\n') else {
        return Err("Invalid library metadata".into());
    };
    let shebang = &code[..eol];
    if shebang.iter().any(|&b| b == b'"' || b == b'\'') {
        return Err("quoted arguments in the library's #! line are not supported".into());
    }
    let mut parts = shebang
        .split(|b| b.is_ascii_whitespace())
        .filter(|p| !p.is_empty());
    let Some(engine) = parts.next() else {
        return Err("Invalid library metadata".into());
    };
    let mut name: Option<&[u8]> = None;
    for part in parts {
        if part.len() >= 5 && part[..5].eq_ignore_ascii_case(b"name=") {
            if name.is_some() {
                return Err(
                    "Invalid metadata value, name argument was given multiple times".into(),
                );
            }
            name = Some(&part[5..]);
            continue;
        }
        return Err(format!(
            "Invalid metadata value given: {}",
            String::from_utf8_lossy(part)
        ));
    }
    let Some(name) = name else {
        return Err("Library name was not given".into());
    };
    if name.is_empty() || !name.iter().all(|b| b.is_ascii_alphanumeric() || *b == b'_') {
        return Err(
            "Library names can only contain letters, numbers, or underscores(_) and \
                    must be at least one character long"
                .into(),
        );
    }
    let engine = &engine[2..];
    if !engine.eq_ignore_ascii_case(b"lua") {
        return Err(format!(
            "Engine '{}' not found",
            String::from_utf8_lossy(engine)
        ));
    }
    Ok(name.to_vec())
}

#[cfg(test)]
mod tests {
    use super::library_name;

    #[test]
    fn names_and_refusals() {
        assert_eq!(
            library_name(b"#!lua name=mylib\nredis.register_function('f', function() end)"),
            Ok(b"mylib".to_vec())
        );
        assert_eq!(library_name(b"#!LUA   NAME=a_1 \n"), Ok(b"a_1".to_vec()));
        assert!(library_name(b"return 1").is_err());
        assert!(library_name(b"#!lua name=x").is_err());
        assert!(library_name(b"#!lua\n").is_err());
        assert!(library_name(b"#!lua name=a name=b\n").is_err());
        assert!(library_name(b"#!lua name=a-b\n").is_err());
        assert!(library_name(b"#!js name=a\n").is_err());
        assert!(library_name(b"#!lua name=a x=1\n").is_err());
    }
}
