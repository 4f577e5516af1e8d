//! HyperLogLog values byte for byte as Redis 7.0 keeps them (`hyperloglog.c`): a string with a
//! 16-byte header (`HYLL`, the encoding, three unused bytes, a cached cardinality whose top bit
//! marks it stale) and 16384 six-bit registers, either *sparse* (run-length opcodes) or
//! *dense* (packed). `DEBUG DIGEST` hashes those bytes, so the engine must produce exactly
//! the opcodes Redis produces, including where it merges runs and when it turns a sparse
//! value dense (`hll-sparse-max-bytes`, default 3000, or a register above 32).

/// Header bytes before the registers.
pub const HEADER_LEN: usize = 16;
/// log2 of the number of registers.
const P: u32 = 14;
/// Number of registers.
pub const REGISTERS: usize = 1 << P;
/// Bits of the hash left after the register index.
const Q: usize = 64 - P as usize;
/// Length of a dense value (header and 6-bit registers).
pub const DENSE_LEN: usize = HEADER_LEN + (REGISTERS * 6).div_ceil(8);
/// Encoding byte of a dense value.
const DENSE: u8 = 0;
/// Encoding byte of a sparse value.
const SPARSE: u8 = 1;
/// Redis's default `hll-sparse-max-bytes`.
pub const SPARSE_MAX_BYTES: usize = 3000;
/// Largest register value a sparse `VAL` opcode holds.
const SPARSE_VAL_MAX: u8 = 32;
/// Longest run of a `VAL` opcode.
const SPARSE_VAL_MAX_LEN: usize = 4;
/// Longest run of a `ZERO` opcode.
const SPARSE_ZERO_MAX_LEN: usize = 64;
/// Longest run of an `XZERO` opcode.
const SPARSE_XZERO_MAX_LEN: usize = 16384;
/// Position of the byte holding the "cached cardinality is stale" bit.
const CARD_FLAG_BYTE: usize = 15;

/// The value is sparse data that does not cover exactly 16384 registers (Redis's
/// `INVALIDOBJ Corrupted HLL object detected`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Corrupt;

/// Whether a string is a HyperLogLog to Redis (`isHLLObjectOrReply`): long enough for the
/// header, the magic, a known encoding, and a dense value of the exact length.
pub fn is_hll(s: &[u8]) -> bool {
    s.len() >= HEADER_LEN
        && &s[..4] == b"HYLL"
        && s[4] <= SPARSE
        && (s[4] != DENSE || s.len() == DENSE_LEN)
}

/// A new, empty HyperLogLog (`createHLLObject`): sparse, one `XZERO` run over every
/// register, cached cardinality 0.
pub fn new_sparse() -> Vec<u8> {
    let mut s = vec![0u8; HEADER_LEN];
    s[..4].copy_from_slice(b"HYLL");
    s[4] = SPARSE;
    let mut left = REGISTERS;
    while left > 0 {
        let run = left.min(SPARSE_XZERO_MAX_LEN);
        s.extend_from_slice(&xzero(run));
        left -= run;
    }
    s
}

/// Marks the cached cardinality stale (`HLL_INVALIDATE_CACHE`).
pub fn invalidate_cache(s: &mut [u8]) {
    s[CARD_FLAG_BYTE] |= 0x80;
}

/// The cached cardinality, if it is not stale.
pub fn cached_count(s: &[u8]) -> Option<u64> {
    (s[CARD_FLAG_BYTE] & 0x80 == 0).then(|| {
        let mut b = [0u8; 8];
        b.copy_from_slice(&s[8..16]);
        u64::from_le_bytes(b)
    })
}

/// Stores a cardinality in the header (and so marks it valid).
pub fn set_cached_count(s: &mut [u8], card: u64) {
    s[8..16].copy_from_slice(&card.to_le_bytes());
}

/// Whether the value uses the dense encoding.
pub fn is_dense(s: &[u8]) -> bool {
    s[4] == DENSE
}

// ---------------------------------------------------------------------------------------------
// hashing

/// `MurmurHash64A` as Redis uses it (little-endian reads, 32-bit seed).
fn murmur64a(key: &[u8], seed: u32) -> u64 {
    const M: u64 = 0xc6a4_a793_5bd1_e995;
    const R: u32 = 47;
    // Redis passes the length as an `int`.
    let mut h = u64::from(seed) ^ (key.len() as i32 as i64 as u64).wrapping_mul(M);
    let mut chunks = key.chunks_exact(8);
    for c in &mut chunks {
        let mut k = u64::from_le_bytes(c.try_into().unwrap_or([0; 8]));
        k = k.wrapping_mul(M);
        k ^= k >> R;
        k = k.wrapping_mul(M);
        h ^= k;
        h = h.wrapping_mul(M);
    }
    let tail = chunks.remainder();
    if !tail.is_empty() {
        for (i, &b) in tail.iter().enumerate().rev() {
            h ^= u64::from(b) << (8 * i);
        }
        h = h.wrapping_mul(M);
    }
    h ^= h >> R;
    h = h.wrapping_mul(M);
    h ^= h >> R;
    h
}

/// The register an element lands in and the length of its run of zero bits plus one
/// (`hllPatLen`).
fn register_and_count(element: &[u8]) -> (usize, u8) {
    let hash = murmur64a(element, 0xadc8_3b19);
    let index = (hash & (REGISTERS as u64 - 1)) as usize;
    let rest = (hash >> P) | (1u64 << Q);
    (index, rest.trailing_zeros() as u8 + 1)
}

// ---------------------------------------------------------------------------------------------
// dense registers

/// Register `i` of dense registers (a missing second byte reads as the string's NUL end).
fn dense_get(regs: &[u8], i: usize) -> u8 {
    let byte = i * 6 / 8;
    let fb = (i * 6) & 7;
    let b0 = u32::from(regs[byte]);
    let b1 = u32::from(regs.get(byte + 1).copied().unwrap_or(0));
    (((b0 >> fb) | (b1 << (8 - fb))) & 63) as u8
}

/// Sets register `i` of dense registers.
fn dense_put(regs: &mut [u8], i: usize, v: u8) {
    let byte = i * 6 / 8;
    let fb = (i * 6) & 7;
    let v = u32::from(v);
    regs[byte] &= !((63u32 << fb) as u8);
    regs[byte] |= (v << fb) as u8;
    if let Some(b1) = regs.get_mut(byte + 1) {
        *b1 &= !((63u32 >> (8 - fb)) as u8);
        *b1 |= (v >> (8 - fb)) as u8;
    }
}

/// `hllDenseSet`: raises register `i` to `count`; whether it changed.
fn dense_set(s: &mut [u8], i: usize, count: u8) -> bool {
    let regs = &mut s[HEADER_LEN..];
    if count > dense_get(regs, i) {
        dense_put(regs, i, count);
        true
    } else {
        false
    }
}

// ---------------------------------------------------------------------------------------------
// sparse opcodes

fn is_zero_op(b: u8) -> bool {
    b & 0xc0 == 0
}

fn is_xzero_op(b: u8) -> bool {
    b & 0xc0 == 0x40
}

fn is_val_op(b: u8) -> bool {
    b & 0x80 != 0
}

fn zero_len(b: u8) -> usize {
    usize::from(b & 0x3f) + 1
}

/// Run length of the `XZERO` at `p` (a missing second byte reads as the string's NUL end).
fn xzero_len(s: &[u8], p: usize) -> usize {
    ((usize::from(s[p] & 0x3f) << 8) | usize::from(s.get(p + 1).copied().unwrap_or(0))) + 1
}

fn val_value(b: u8) -> u8 {
    ((b >> 2) & 0x1f) + 1
}

fn val_len(b: u8) -> usize {
    usize::from(b & 0x3) + 1
}

fn val(value: u8, len: usize) -> u8 {
    ((value - 1) << 2 | (len as u8 - 1)) | 0x80
}

fn zero(len: usize) -> u8 {
    (len - 1) as u8
}

fn xzero(len: usize) -> [u8; 2] {
    let l = len - 1;
    [((l >> 8) as u8) | 0x40, (l & 0xff) as u8]
}

/// The opcodes (one or two bytes) of a zero run of `len` registers inside a split.
fn push_zero_run(seq: &mut Vec<u8>, len: usize) {
    if len > SPARSE_ZERO_MAX_LEN {
        seq.extend_from_slice(&xzero(len));
    } else {
        seq.push(zero(len));
    }
}

/// Calls `f(first_register, run_length, value)` for each opcode of sparse data (value 0 for
/// zero runs), stopping (like Redis) at a value run that would pass the last register; the
/// number of registers covered.
fn sparse_runs(s: &[u8], mut f: impl FnMut(usize, usize, u8)) -> usize {
    let mut idx = 0usize;
    let mut p = HEADER_LEN;
    while p < s.len() {
        let b = s[p];
        if is_zero_op(b) {
            idx += zero_len(b);
            p += 1;
        } else if is_xzero_op(b) {
            idx += xzero_len(s, p);
            p += 2;
        } else {
            let run = val_len(b);
            if idx + run > REGISTERS {
                break;
            }
            f(idx, run, val_value(b));
            idx += run;
            p += 1;
        }
    }
    idx
}

/// `hllSparseToDense`: the value in the dense encoding (header copied, encoding changed).
pub fn sparse_to_dense(s: &mut Vec<u8>) -> Result<(), Corrupt> {
    if is_dense(s) {
        return Ok(());
    }
    let mut dense = vec![0u8; DENSE_LEN];
    dense[..HEADER_LEN].copy_from_slice(&s[..HEADER_LEN]);
    dense[4] = DENSE;
    let covered = sparse_runs(s, |first, run, v| {
        for i in first..first + run {
            dense_put(&mut dense[HEADER_LEN..], i, v);
        }
    });
    if covered != REGISTERS {
        return Err(Corrupt);
    }
    *s = dense;
    Ok(())
}

/// `hllSparseSet`: raises register `index` of a sparse value to `count`, splitting and
/// merging opcodes exactly as Redis does, or turning the value dense when the register does
/// not fit a sparse opcode or the value would grow past `max_bytes`. Whether it changed.
fn sparse_set(s: &mut Vec<u8>, index: usize, count: u8, max_bytes: usize) -> Result<bool, Corrupt> {
    if count > SPARSE_VAL_MAX {
        return promote(s, index, count);
    }
    // Step 1: the opcode covering `index`.
    let end = s.len();
    let mut p = HEADER_LEN;
    let mut first = 0usize;
    let mut prev: Option<usize> = None;
    let mut span = 0usize;
    while p < end {
        let b = s[p];
        let oplen;
        if is_zero_op(b) {
            span = zero_len(b);
            oplen = 1;
        } else if is_val_op(b) {
            span = val_len(b);
            oplen = 1;
        } else {
            span = xzero_len(s, p);
            oplen = 2;
        }
        if index < first + span {
            break;
        }
        prev = Some(p);
        p += oplen;
        first += span;
    }
    if span == 0 || p >= end {
        return Err(Corrupt);
    }
    let op = s[p];
    let xz = is_xzero_op(op);
    let next = Some(if xz { p + 2 } else { p + 1 }).filter(|&n| n < end);

    // Step 2: the trivial updates in place.
    let mut in_place = false;
    if is_val_op(op) {
        let old = val_value(op);
        if old >= count {
            return Ok(false);
        }
        if val_len(op) == 1 {
            s[p] = val(count, 1);
            in_place = true;
        }
    } else if is_zero_op(op) && zero_len(op) == 1 {
        s[p] = val(count, 1);
        in_place = true;
    }

    if !in_place {
        // Step 3: split the run into (before, our register, after).
        let last = first + span - 1;
        let mut seq: Vec<u8> = Vec::with_capacity(5);
        if is_val_op(op) {
            let cur = val_value(op);
            if index != first {
                seq.push(val(cur, index - first));
            }
            seq.push(val(count, 1));
            if index != last {
                seq.push(val(cur, last - index));
            }
        } else {
            if index != first {
                push_zero_run(&mut seq, index - first);
            }
            seq.push(val(count, 1));
            if index != last {
                push_zero_run(&mut seq, last - index);
            }
        }
        let oldlen = if xz { 2 } else { 1 };
        let new_len = (end + seq.len()).checked_sub(oldlen).ok_or(Corrupt)?;
        if seq.len() > oldlen && new_len > max_bytes {
            return promote(s, index, count);
        }
        let mut out = Vec::with_capacity(new_len.max(p + seq.len()));
        out.extend_from_slice(&s[..p]);
        out.extend_from_slice(&seq);
        if let Some(n) = next {
            out.extend_from_slice(&s[n..end]);
        }
        // A truncated last XZERO: Redis's length arithmetic drops the sequence's last byte.
        out.truncate(new_len);
        *s = out;
    }

    // Step 4: merge equal adjacent value runs, looking at up to 5 opcodes from `prev`.
    let mut p = prev.unwrap_or(HEADER_LEN);
    let mut scan = 5i32;
    while p < s.len() && {
        let go = scan != 0;
        scan -= 1;
        go
    } {
        let b = s[p];
        if is_xzero_op(b) {
            p += 2;
            continue;
        }
        if is_zero_op(b) {
            p += 1;
            continue;
        }
        if p + 1 < s.len() && is_val_op(s[p + 1]) {
            let (v1, v2) = (val_value(b), val_value(s[p + 1]));
            let len = val_len(b) + val_len(s[p + 1]);
            if v1 == v2 && len <= SPARSE_VAL_MAX_LEN {
                s[p + 1] = val(v1, len);
                s.remove(p);
                continue;
            }
        }
        p += 1;
    }
    invalidate_cache(s);
    Ok(true)
}

/// The `promote:` path of `hllSparseSet`: convert to dense, then set the register there.
fn promote(s: &mut Vec<u8>, index: usize, count: u8) -> Result<bool, Corrupt> {
    sparse_to_dense(s)?;
    Ok(dense_set(s, index, count))
}

/// Raises register `index` to `count` in either encoding (`hllDenseSet` / `hllSparseSet`).
fn set_register(
    s: &mut Vec<u8>,
    index: usize,
    count: u8,
    max_bytes: usize,
) -> Result<bool, Corrupt> {
    if is_dense(s) {
        Ok(dense_set(s, index, count))
    } else {
        sparse_set(s, index, count, max_bytes)
    }
}

/// `hllAdd`: adds one element to a HyperLogLog; whether a register changed. The caller has
/// checked [`is_hll`]. (A dense value's cache is left alone here, as in Redis; `PFADD`
/// invalidates it once at the end.)
pub fn add(s: &mut Vec<u8>, element: &[u8], max_bytes: usize) -> Result<bool, Corrupt> {
    let (index, count) = register_and_count(element);
    set_register(s, index, count, max_bytes)
}

/// `hllMerge`: raises `max[i]` to register `i` of `s`.
pub fn merge_into(max: &mut [u8; REGISTERS], s: &[u8]) -> Result<(), Corrupt> {
    if is_dense(s) {
        let regs = &s[HEADER_LEN..];
        for (i, m) in max.iter_mut().enumerate() {
            *m = (*m).max(dense_get(regs, i));
        }
        return Ok(());
    }
    let covered = sparse_runs(s, |first, run, v| {
        for m in &mut max[first..first + run] {
            *m = (*m).max(v);
        }
    });
    if covered == REGISTERS {
        Ok(())
    } else {
        Err(Corrupt)
    }
}

/// Writes merged registers into a HyperLogLog (the end of `pfmergeCommand`): dense first if
/// `to_dense`, then every non-zero register raised in order, then the cache invalidated.
pub fn store_merged(
    s: &mut Vec<u8>,
    max: &[u8; REGISTERS],
    to_dense: bool,
    max_bytes: usize,
) -> Result<(), Corrupt> {
    if to_dense {
        sparse_to_dense(s)?;
    }
    for (i, &m) in max.iter().enumerate() {
        if m != 0 {
            // Redis ignores the result here (the value was validated by the merge).
            let _ = set_register(s, i, m, max_bytes);
        }
    }
    invalidate_cache(s);
    Ok(())
}

/// The register histogram of a value; `Corrupt` if sparse data does not cover every register.
fn histogram(s: &[u8]) -> Result<[u64; 64], Corrupt> {
    let mut h = [0u64; 64];
    if is_dense(s) {
        let regs = &s[HEADER_LEN..];
        for i in 0..REGISTERS {
            h[usize::from(dense_get(regs, i))] += 1;
        }
        return Ok(h);
    }
    // `hllSparseRegHisto` does not stop at an overlong value run, unlike the other walks.
    let mut idx = 0usize;
    let mut p = HEADER_LEN;
    while p < s.len() {
        let b = s[p];
        if is_zero_op(b) {
            let run = zero_len(b);
            idx += run;
            h[0] += run as u64;
            p += 1;
        } else if is_xzero_op(b) {
            let run = xzero_len(s, p);
            idx += run;
            h[0] += run as u64;
            p += 2;
        } else {
            let run = val_len(b);
            idx += run;
            h[usize::from(val_value(b))] += run as u64;
            p += 1;
        }
    }
    if idx == REGISTERS {
        Ok(h)
    } else {
        Err(Corrupt)
    }
}

/// `hllCount` of a value (Ertl's estimator, as Redis ≥ 5 computes it).
pub fn count(s: &[u8]) -> Result<u64, Corrupt> {
    Ok(estimate(&histogram(s)?))
}

/// The cardinality estimate from a register histogram.
fn estimate(h: &[u64; 64]) -> u64 {
    const ALPHA_INF: f64 = 0.721_347_520_444_481_7;
    let m = REGISTERS as f64;
    let mut z = m * tau((m - h[Q + 1] as f64) / m);
    for j in (1..=Q).rev() {
        z += h[j] as f64;
        z *= 0.5;
    }
    z += m * sigma(h[0] as f64 / m);
    (ALPHA_INF * m * m / z).round() as u64
}

fn sigma(mut x: f64) -> f64 {
    if x == 1.0 {
        return f64::INFINITY;
    }
    let mut y = 1.0;
    let mut z = x;
    loop {
        x *= x;
        let before = z;
        z += x * y;
        y += y;
        if before == z {
            return z;
        }
    }
}

fn tau(mut x: f64) -> f64 {
    if x == 0.0 || x == 1.0 {
        return 0.0;
    }
    let mut y = 1.0;
    let mut z = 1.0 - x;
    loop {
        x = x.sqrt();
        let before = z;
        y *= 0.5;
        z -= (1.0 - x) * (1.0 - x) * y;
        if before == z {
            return z / 3.0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_value_is_one_xzero_run_with_a_valid_zero_cache() {
        let s = new_sparse();
        assert_eq!(s.len(), HEADER_LEN + 2);
        assert!(is_hll(&s));
        assert_eq!(cached_count(&s), Some(0));
        assert_eq!(count(&s), Ok(0));
    }

    #[test]
    fn dense_registers_round_trip_at_every_bit_offset() {
        let mut s = new_sparse();
        sparse_to_dense(&mut s).unwrap();
        assert_eq!(s.len(), DENSE_LEN);
        for i in [0, 1, 2, 3, 4, 5, 16382, 16383] {
            assert!(dense_set(&mut s, i, 63 - (i % 7) as u8));
        }
        for i in [0, 1, 2, 3, 4, 5, 16382, 16383] {
            assert_eq!(dense_get(&s[HEADER_LEN..], i), 63 - (i % 7) as u8);
        }
    }
}
