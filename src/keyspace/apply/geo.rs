//! `GEORADIUS … STORE|STOREDIST`, `GEORADIUSBYMEMBER … STORE|STOREDIST` and
//! `GEOSEARCHSTORE`: Redis 7.0's `georadiusGeneric` with a destination key. These reach an
//! AOF as sent (`GEOADD` reaches it as `ZADD`), so replaying them means running the search:
//! the cells, scan order, `ANY` cut-off and distances of [`crate::keyspace::geo`].
//!
//! Refused as unsupported rather than guessed: a `COUNT` cut-off between two points at the
//! same distance (Redis's partial quicksort decides which one is kept), a result Redis 7.2+
//! computes differently from 7.0 (see [`geo::Distance`]), and a centre member whose score
//! is not a geohash C converts portably.

use super::{Ctx, R};
use crate::keyspace::args::{float, int, is};
use crate::keyspace::geo::{self, Distance, Shape, ShapeSize};
use crate::keyspace::model::Zset;
use crate::keyspace::{ApplyErrorKind, Reject};

/// Which command of the family.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// `GEORADIUS key longitude latitude radius unit …`
    Coords,
    /// `GEORADIUSBYMEMBER key member radius unit …`
    Member,
    /// `GEOSEARCHSTORE destination source FROM… BY… …`
    Search,
}

pub(super) fn georadius(c: &mut Ctx<'_>, a: &[&[u8]]) -> R<()> {
    generic(c, a, Kind::Coords)
}

pub(super) fn georadiusbymember(c: &mut Ctx<'_>, a: &[&[u8]]) -> R<()> {
    generic(c, a, Kind::Member)
}

pub(super) fn geosearchstore(c: &mut Ctx<'_>, a: &[&[u8]]) -> R<()> {
    generic(c, a, Kind::Search)
}

/// Members and scores to store.
type Members = Vec<(Vec<u8>, f64)>;

fn generic(c: &mut Ctx<'_>, a: &[&[u8]], kind: Kind) -> R<()> {
    if let Some((key, members)) = plan(c, a, kind)? {
        super::zsets::store_result(c, key, members);
    }
    Ok(())
}

/// `extractUnitOrReply`: metres per unit.
fn unit(a: &[u8]) -> R<f64> {
    Ok(match () {
        _ if is(a, "m") => 1.0,
        _ if is(a, "km") => 1000.0,
        _ if is(a, "ft") => 0.3048,
        _ if is(a, "mi") => 1609.34,
        _ => {
            return Err(
                Reject::Err("unsupported unit provided. please use M, KM, FT, MI".into()).into(),
            )
        }
    })
}

/// A float argument with the message `getDoubleFromObjectOrReply` was given.
fn float_or(a: &[u8], msg: &str) -> R<f64> {
    float(a).map_err(|_| Reject::Err(msg.into()).into())
}

/// `extractDistanceOrReply`: (radius, metres per unit).
fn radius_arg(a: &[&[u8]]) -> R<(f64, f64)> {
    let r = float_or(a[0], "need numeric radius")?;
    if r < 0.0 {
        return Err(Reject::Err("radius cannot be negative".into()).into());
    }
    Ok((r, unit(a[1])?))
}

/// `extractBoxOrReply`: (width, height, metres per unit).
fn box_arg(a: &[&[u8]]) -> R<(f64, f64, f64)> {
    let w = float_or(a[0], "need numeric width")?;
    let h = float_or(a[1], "need numeric height")?;
    if h < 0.0 || w < 0.0 {
        return Err(Reject::Err("height or width cannot be negative".into()).into());
    }
    Ok((w, h, unit(a[2])?))
}

/// `extractLongLatOrReply`.
fn long_lat(a: &[&[u8]]) -> R<(f64, f64)> {
    let (x, y) = (float(a[0])?, float(a[1])?);
    if !(geo::LONG_MIN..=geo::LONG_MAX).contains(&x) || !(geo::LAT_MIN..=geo::LAT_MAX).contains(&y)
    {
        return Err(Reject::Err(format!("invalid longitude,latitude pair {x:.6},{y:.6}")).into());
    }
    Ok((x, y))
}

/// `longLatFromMember`.
fn member_point(z: &Zset, member: &[u8]) -> R<(f64, f64)> {
    let score = z
        .score(member)
        .ok_or_else(|| Reject::Err("could not decode requested zset member".into()))?;
    geo::point_of_score(score).ok_or_else(|| {
        ApplyErrorKind::Unsupported(format!(
            "a geo search centred on a member whose score ({score}) is not a geohash"
        ))
    })
}

fn unsupported(what: &str) -> ApplyErrorKind {
    ApplyErrorKind::Unsupported(what.into())
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Sort {
    None,
    Asc,
    Desc,
}

/// Parses the command as `georadiusGeneric` does (same checks, same order) and runs the
/// search when it has a destination: the destination and what to store there (nothing, when
/// the source is missing or nothing was found: the destination is deleted); `None` for a
/// search that only replies.
fn plan<'a>(c: &Ctx<'_>, a: &[&'a [u8]], kind: Kind) -> R<Option<(&'a [u8], Members)>> {
    let src = if kind == Kind::Search { a[2] } else { a[1] };
    let zobj = c.zset(src)?;
    let mut shape = Shape {
        longitude: 0.0,
        latitude: 0.0,
        conversion: 0.0,
        size: ShapeSize::Radius(0.0),
    };
    let mut storekey: Option<&'a [u8]> = None;
    let base = match kind {
        Kind::Coords => {
            (shape.longitude, shape.latitude) = long_lat(&a[2..4])?;
            let (r, conv) = radius_arg(&a[4..6])?;
            (shape.size, shape.conversion) = (ShapeSize::Radius(r), conv);
            6
        }
        Kind::Member => {
            // Without a source, Redis parses the options only (to pick its reply).
            if let Some(z) = zobj {
                (shape.longitude, shape.latitude) = member_point(z, a[2])?;
                let (r, conv) = radius_arg(&a[3..5])?;
                (shape.size, shape.conversion) = (ShapeSize::Radius(r), conv);
            }
            5
        }
        Kind::Search => {
            storekey = Some(a[1]);
            3
        }
    };
    let search = kind == Kind::Search;
    let (mut withdist, mut withhash, mut withcoords) = (false, false, false);
    let (mut frommember, mut fromloc, mut byradius, mut bybox) = (false, false, false, false);
    let mut storedist = false;
    let mut sort = Sort::None;
    let mut any = false;
    let mut count: i64 = 0;
    let opts = &a[base..];
    let mut i = 0;
    while i < opts.len() {
        let arg = opts[i];
        let left = opts.len() - i - 1;
        if is(arg, "withdist") {
            withdist = true;
        } else if is(arg, "withhash") {
            withhash = true;
        } else if is(arg, "withcoord") {
            withcoords = true;
        } else if is(arg, "any") {
            any = true;
        } else if is(arg, "asc") {
            sort = Sort::Asc;
        } else if is(arg, "desc") {
            sort = Sort::Desc;
        } else if is(arg, "count") && left >= 1 {
            count = int(opts[i + 1])?;
            if count <= 0 {
                return Err(Reject::Err("COUNT must be > 0".into()).into());
            }
            i += 1;
        } else if (is(arg, "store") || is(arg, "storedist")) && left >= 1 && !search {
            storekey = Some(opts[i + 1]);
            storedist = is(arg, "storedist");
            i += 1;
        } else if is(arg, "storedist") && search {
            storedist = true;
        } else if is(arg, "frommember") && left >= 1 && search && !fromloc {
            if let Some(z) = zobj {
                (shape.longitude, shape.latitude) = member_point(z, opts[i + 1])?;
            }
            frommember = true;
            i += 1;
        } else if is(arg, "fromlonlat") && left >= 2 && search && !frommember {
            (shape.longitude, shape.latitude) = long_lat(&opts[i + 1..i + 3])?;
            fromloc = true;
            i += 2;
        } else if is(arg, "byradius") && left >= 2 && search && !bybox {
            let (r, conv) = radius_arg(&opts[i + 1..i + 3])?;
            (shape.size, shape.conversion) = (ShapeSize::Radius(r), conv);
            byradius = true;
            i += 2;
        } else if is(arg, "bybox") && left >= 3 && search && !byradius {
            let (w, h, conv) = box_arg(&opts[i + 1..i + 4])?;
            (shape.size, shape.conversion) = (ShapeSize::Box(w, h), conv);
            bybox = true;
            i += 3;
        } else {
            return Err(Reject::Syntax.into());
        }
        i += 1;
    }
    let cmd = if search {
        "GEOSEARCHSTORE"
    } else {
        "STORE option in GEORADIUS"
    };
    if storekey.is_some() && (withdist || withhash || withcoords) {
        return Err(Reject::Err(format!(
            "{cmd} is not compatible with WITHDIST, WITHHASH and WITHCOORD options"
        ))
        .into());
    }
    if search && !(frommember || fromloc) {
        return Err(Reject::Err(
            "exactly one of FROMMEMBER or FROMLONLAT can be specified for geosearchstore".into(),
        )
        .into());
    }
    if search && !(byradius || bybox) {
        return Err(Reject::Err(
            "exactly one of BYRADIUS and BYBOX can be specified for geosearchstore".into(),
        )
        .into());
    }
    if any && count == 0 {
        return Err(Reject::Err("the ANY argument requires COUNT argument".into()).into());
    }
    let Some(storekey) = storekey else {
        return Ok(None); // a search that only replies
    };
    let Some(z) = zobj else {
        return Ok(Some((storekey, Vec::new())));
    };
    if count != 0 && sort == Sort::None && !any {
        sort = Sort::Asc;
    }
    let limit = if any { count as usize } else { 0 };
    let found = find(z, &shape, limit)?;
    let selected = select(&found, count, sort)?;
    let mut members: Members = Vec::with_capacity(selected.len());
    for p in selected {
        let score = if storedist {
            if p.dist.v70.is_nan() {
                // Redis 7.0 asserts (crashes) inserting a NaN score.
                return Err(unsupported("a STOREDIST distance that is NaN"));
            }
            if p.dist.version_dependent() {
                return Err(unsupported(
                    "a STOREDIST distance that Redis 7.0 and 7.2+ compute differently \
                     (a point on the centre's meridian)",
                ));
            }
            p.dist.v70 / shape.conversion
        } else {
            p.score
        };
        members.push((p.member.to_vec(), score));
    }
    let mut names: Vec<&[u8]> = members.iter().map(|m| m.0.as_slice()).collect();
    names.sort_unstable();
    if names.windows(2).any(|w| w[0] == w[1]) {
        // Overlapping search cells: Redis 7.0 asserts (crashes) adding a member twice.
        return Err(unsupported("a geo search that finds a member twice"));
    }
    Ok(Some((storekey, members)))
}

/// A point a search found.
struct Found<'z> {
    member: &'z [u8],
    score: f64,
    dist: Distance,
}

/// `membersOfAllNeighbors`: the points of the shape, in Redis's scan order (cells in search
/// order, each in rank order), stopping at `limit` points when it is not 0 (`ANY`).
fn find<'z>(z: &'z Zset, shape: &Shape, limit: usize) -> R<Vec<Found<'z>>> {
    let cells = geo::search_cells(shape);
    let mut found: Vec<Found<'z>> = Vec::new();
    let full = |found: &Vec<Found<'z>>| limit != 0 && found.len() >= limit;
    let mut last = 0;
    for (i, &cell) in cells.iter().enumerate() {
        if cell.is_zero() {
            continue;
        }
        // Redis skips a cell equal to the last one it scanned, except after the centre
        // (its `last_processed` index is 0 then).
        if last != 0 && cell == cells[last] {
            continue;
        }
        if full(&found) {
            break;
        }
        let (min, max) = cell.score_range();
        for (member, score) in z.iter_from(min) {
            if score >= max {
                break;
            }
            if let Some((lon, lat)) = geo::point_of_score(score) {
                match geo::within(shape, lon, lat) {
                    Ok(Some(dist)) => found.push(Found {
                        member,
                        score,
                        dist,
                    }),
                    Ok(None) => {}
                    Err(geo::VersionDependent) => {
                        return Err(unsupported(
                            "a point on the edge of a geo search that Redis 7.0 and 7.2+ \
                             decide differently",
                        ))
                    }
                }
            }
            if full(&found) {
                break;
            }
        }
        last = i;
    }
    Ok(found)
}

/// The points kept: all of them, or with a `COUNT` below the number found, the `count`
/// nearest (`ASC`) or farthest (`DESC`), which Redis picks with a partial quicksort.
fn select<'f, 'z>(found: &'f [Found<'z>], count: i64, sort: Sort) -> R<Vec<&'f Found<'z>>> {
    let keep = if count == 0 || (found.len() as u64) < count as u64 {
        found.len()
    } else {
        count as usize
    };
    if keep == found.len() || sort == Sort::None {
        return Ok(found.iter().take(keep).collect());
    }
    if found.iter().any(|p| p.dist.v70.is_nan()) {
        // Redis's comparator calls a NaN smaller than anything, inconsistently.
        return Err(unsupported(
            "a geo search COUNT cut-off among points at a NaN distance",
        ));
    }
    let pick = |metric: fn(&Distance) -> f64| -> Option<Vec<usize>> {
        let mut order: Vec<usize> = (0..found.len()).collect();
        order.sort_by(|&x, &y| {
            let (dx, dy) = (metric(&found[x].dist), metric(&found[y].dist));
            let o = dx.partial_cmp(&dy).unwrap_or(std::cmp::Ordering::Equal);
            if sort == Sort::Desc {
                o.reverse()
            } else {
                o
            }
        });
        // A tie across the cut-off: which one Redis keeps depends on its quicksort.
        if metric(&found[order[keep - 1]].dist) == metric(&found[order[keep]].dist) {
            return None;
        }
        let mut kept = order[..keep].to_vec();
        kept.sort_unstable();
        Some(kept)
    };
    let v70 = pick(|d| d.v70);
    let v72 = pick(Distance::v72_or_v70);
    match (v70, v72) {
        (Some(k), Some(k72)) if k == k72 => Ok(k.into_iter().map(|i| &found[i]).collect()),
        (Some(_), Some(_)) => Err(unsupported(
            "a geo search COUNT cut-off that Redis 7.0 and 7.2+ place differently",
        )),
        _ => Err(unsupported(
            "a geo search COUNT cut-off between two points at the same distance",
        )),
    }
}
