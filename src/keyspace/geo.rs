//! Redis's geohash arithmetic (`geohash.c`, `geohash_helper.c` of Redis 7.0), ported operation
//! for operation so that searches select the same members and compute the same distances
//! (bit for bit) as the server: a geo set is a sorted set whose scores are 52-bit interleaved
//! geohashes, and `GEORADIUS … STORE` / `GEOSEARCHSTORE` store what a search found.

/// Longitude limits (EPSG:900913).
pub const LONG_MIN: f64 = -180.0;
/// Longitude limits (EPSG:900913).
pub const LONG_MAX: f64 = 180.0;
/// Latitude limits: Redis cannot index the poles.
pub const LAT_MIN: f64 = -85.05112878;
/// Latitude limits: Redis cannot index the poles.
pub const LAT_MAX: f64 = 85.05112878;
/// The precision of stored points: 26 bits per coordinate (`GEO_STEP_MAX`).
pub const STEP_MAX: u8 = 26;

/// Earth's quadratic mean radius for WGS-84, as Redis uses it.
const EARTH_RADIUS_IN_METERS: f64 = 6372797.560856;
/// Half the equator (`MERCATOR_MAX`).
const MERCATOR_MAX: f64 = 20037726.37;
/// `D_R`: π/180.
const D_R: f64 = std::f64::consts::PI / 180.0;

fn deg_rad(ang: f64) -> f64 {
    ang * D_R
}

fn rad_deg(ang: f64) -> f64 {
    ang / D_R
}

/// A geohash cell: `step` bits per coordinate, interleaved (`GeoHashBits`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Cell {
    /// Interleaved bits: latitude in the even positions, longitude in the odd ones.
    pub bits: u64,
    /// Bits per coordinate (0 with `bits` 0: no cell, `GZERO`).
    pub step: u8,
}

impl Cell {
    /// The zero cell (`HASHISZERO`): no cell, as `GZERO` leaves an excluded neighbour.
    pub fn is_zero(self) -> bool {
        self.bits == 0 && self.step == 0
    }

    /// The lowest 52-bit score inside this cell (`geohashAlign52Bits`).
    pub fn align52(self) -> u64 {
        self.bits << (52 - u32::from(self.step) * 2)
    }

    /// The sorted-set scores `[min, max)` that hold the points of this cell
    /// (`scoresOfGeoHashBox`).
    pub fn score_range(self) -> (f64, f64) {
        let next = Cell {
            bits: self.bits.wrapping_add(1),
            step: self.step,
        };
        (self.align52() as f64, next.align52() as f64)
    }
}

/// `interleave64`: the bits of `x` to the even positions, those of `y` to the odd ones.
fn interleave64(x: u32, y: u32) -> u64 {
    const B: [u64; 5] = [
        0x5555555555555555,
        0x3333333333333333,
        0x0F0F0F0F0F0F0F0F,
        0x00FF00FF00FF00FF,
        0x0000FFFF0000FFFF,
    ];
    const S: [u32; 5] = [1, 2, 4, 8, 16];
    let (mut x, mut y) = (u64::from(x), u64::from(y));
    for i in (0..5).rev() {
        x = (x | (x << S[i])) & B[i];
        y = (y | (y << S[i])) & B[i];
    }
    x | (y << 1)
}

/// `deinterleave64`: even bits to the low half, odd bits to the high half.
fn deinterleave64(v: u64) -> u64 {
    const B: [u64; 6] = [
        0x5555555555555555,
        0x3333333333333333,
        0x0F0F0F0F0F0F0F0F,
        0x00FF00FF00FF00FF,
        0x0000FFFF0000FFFF,
        0x00000000FFFFFFFF,
    ];
    const S: [u32; 6] = [0, 1, 2, 4, 8, 16];
    let (mut x, mut y) = (v, v >> 1);
    for i in 0..6 {
        x = (x | (x >> S[i])) & B[i];
        y = (y | (y >> S[i])) & B[i];
    }
    x | (y << 32)
}

/// `geohashEncodeWGS84`: the cell of `step` bits holding the point; `None` outside the
/// indexable area (or for a step Redis refuses).
pub fn encode(longitude: f64, latitude: f64, step: u8) -> Option<Cell> {
    if step > 32 || step == 0 {
        return None;
    }
    // (Never NaN here: arguments are parsed as Redis does, which refuses NaN.)
    if !(LONG_MIN..=LONG_MAX).contains(&longitude) || !(LAT_MIN..=LAT_MAX).contains(&latitude) {
        return None;
    }
    let mut lat_offset = (latitude - LAT_MIN) / (LAT_MAX - LAT_MIN);
    let mut long_offset = (longitude - LONG_MIN) / (LONG_MAX - LONG_MIN);
    lat_offset *= (1u64 << step) as f64;
    long_offset *= (1u64 << step) as f64;
    // C converts the doubles to `uint32_t` by truncation (always in range here).
    Some(Cell {
        bits: interleave64(lat_offset as u32, long_offset as u32),
        step,
    })
}

/// A cell's bounds in degrees (`GeoHashArea`).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Area {
    /// Southern edge.
    pub lat_min: f64,
    /// Northern edge.
    pub lat_max: f64,
    /// Western edge.
    pub long_min: f64,
    /// Eastern edge.
    pub long_max: f64,
}

/// `geohashDecodeWGS84`: the bounds of a cell (`None` for the zero cell).
pub fn decode(cell: Cell) -> Option<Area> {
    if cell.is_zero() {
        return None;
    }
    let sep = deinterleave64(cell.bits);
    let lat_scale = LAT_MAX - LAT_MIN;
    let long_scale = LONG_MAX - LONG_MIN;
    let ilato = sep as u32;
    let ilono = (sep >> 32) as u32;
    let div = (1u64 << cell.step) as f64;
    Some(Area {
        lat_min: LAT_MIN + (f64::from(ilato) * 1.0 / div) * lat_scale,
        lat_max: LAT_MIN + (f64::from(ilato.wrapping_add(1)) * 1.0 / div) * lat_scale,
        long_min: LONG_MIN + (f64::from(ilono) * 1.0 / div) * long_scale,
        long_max: LONG_MIN + (f64::from(ilono.wrapping_add(1)) * 1.0 / div) * long_scale,
    })
}

/// `decodeGeohash`: the point (longitude, latitude) a sorted-set score stands for, or `None`
/// when the score is not one C converts to `uint64_t` in a defined way (negative, too large,
/// NaN: Redis's result then depends on the compiler).
pub fn point_of_score(score: f64) -> Option<(f64, f64)> {
    // Scores in (-1, 0) truncate to 0, as C does.
    if score.is_nan() || score <= -1.0 || score >= 18446744073709551616.0 {
        return None;
    }
    let area = decode(Cell {
        bits: score as u64,
        step: STEP_MAX,
    })?;
    let lon = ((area.long_min + area.long_max) / 2.0).clamp(LONG_MIN, LONG_MAX);
    let lat = ((area.lat_min + area.lat_max) / 2.0).clamp(LAT_MIN, LAT_MAX);
    Some((lon, lat))
}

/// `geohash_move_x` (`axis` = the odd bits, longitude: east when `d > 0`) and
/// `geohash_move_y` (`axis` = the even bits, latitude: north when `d > 0`): adds ±1 to the
/// coordinate held in `axis`'s bits, carrying through the other coordinate's positions.
fn move_along(cell: &mut Cell, d: i8, axis: u64) {
    if d == 0 {
        return;
    }
    let mut v = cell.bits & axis;
    let other = cell.bits & !axis;
    let shift = 64 - u32::from(cell.step) * 2;
    let zz = !axis >> shift;
    if d > 0 {
        v = v.wrapping_add(zz.wrapping_add(1));
    } else {
        v |= zz;
        v = v.wrapping_sub(zz.wrapping_add(1));
    }
    v &= axis >> shift;
    cell.bits = v | other;
}

/// The odd bits: longitude.
const X_BITS: u64 = 0xaaaaaaaaaaaaaaaa;
/// The even bits: latitude.
const Y_BITS: u64 = 0x5555555555555555;

fn moved(cell: Cell, dx: i8, dy: i8) -> Cell {
    let mut c = cell;
    move_along(&mut c, dx, X_BITS);
    move_along(&mut c, dy, Y_BITS);
    c
}

/// `geohashEstimateStepsByRadius`.
fn estimate_steps(mut range_meters: f64, lat: f64) -> u8 {
    if range_meters == 0.0 {
        return 26;
    }
    let mut step: i32 = 1;
    while range_meters < MERCATOR_MAX {
        range_meters *= 2.0;
        step += 1;
    }
    step -= 2;
    if !(-66.0..=66.0).contains(&lat) {
        step -= 1;
        if !(-80.0..=80.0).contains(&lat) {
            step -= 1;
        }
    }
    step.clamp(1, 26) as u8
}

/// The area a search covers (`GeoShape`): a circle or an axis-aligned box around a centre.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Shape {
    /// Centre longitude.
    pub longitude: f64,
    /// Centre latitude.
    pub latitude: f64,
    /// Metres per unit of the sizes below.
    pub conversion: f64,
    /// Radius, or `(width, height)` of a box, in the unit.
    pub size: ShapeSize,
}

/// A circle's radius or a box's width and height, in the search's unit.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ShapeSize {
    /// `BYRADIUS` / `GEORADIUS`.
    Radius(f64),
    /// `BYBOX width height`.
    Box(f64, f64),
}

/// `geohashCalculateAreasByShapeWGS84`: the centre cell and its neighbours that can hold
/// points of the shape, in Redis's search order (centre, N, S, E, W, NE, NW, SE, SW); cells
/// Redis excludes are the zero cell.
pub fn search_cells(shape: &Shape) -> [Cell; 9] {
    let (longitude, latitude) = (shape.longitude, shape.latitude);
    // geohashBoundingBox
    let (half_h, half_w) = match shape.size {
        ShapeSize::Radius(r) => (r, r),
        ShapeSize::Box(w, h) => (h / 2.0, w / 2.0),
    };
    let height = shape.conversion * half_h;
    let width = shape.conversion * half_w;
    let lat_delta = rad_deg(height / EARTH_RADIUS_IN_METERS);
    let long_delta_top =
        rad_deg(width / EARTH_RADIUS_IN_METERS / deg_rad(latitude + lat_delta).cos());
    let long_delta_bottom =
        rad_deg(width / EARTH_RADIUS_IN_METERS / deg_rad(latitude - lat_delta).cos());
    let southern = latitude < 0.0;
    let min_lon = if southern {
        longitude - long_delta_bottom
    } else {
        longitude - long_delta_top
    };
    let max_lon = if southern {
        longitude + long_delta_bottom
    } else {
        longitude + long_delta_top
    };
    let min_lat = latitude - lat_delta;
    let max_lat = latitude + lat_delta;

    let mut radius_meters = match shape.size {
        ShapeSize::Radius(r) => r,
        ShapeSize::Box(w, h) => ((w / 2.0) * (w / 2.0) + (h / 2.0) * (h / 2.0)).sqrt(),
    };
    radius_meters *= shape.conversion;
    let mut steps = estimate_steps(radius_meters, latitude);

    // The centre is always inside the indexable area here (checked or decoded).
    let centre = |steps| encode(longitude, latitude, steps).unwrap_or_default();
    let around = |c: Cell| {
        [
            c,
            moved(c, 0, 1),   // north
            moved(c, 0, -1),  // south
            moved(c, 1, 0),   // east
            moved(c, -1, 0),  // west
            moved(c, 1, 1),   // north-east
            moved(c, -1, 1),  // north-west
            moved(c, 1, -1),  // south-east
            moved(c, -1, -1), // south-west
        ]
    };
    let mut cells = around(centre(steps));
    let decoded = |c: Cell| decode(c).unwrap_or_default();
    let decrease = decoded(cells[1]).lat_max < max_lat
        || decoded(cells[2]).lat_min > min_lat
        || decoded(cells[3]).long_max < max_lon
        || decoded(cells[4]).long_min > min_lon;
    if steps > 1 && decrease {
        steps -= 1;
        cells = around(centre(steps));
    }
    if steps >= 2 {
        let area = decoded(cells[0]);
        let zero = |cells: &mut [Cell; 9], idx: [usize; 3]| {
            for i in idx {
                cells[i] = Cell::default();
            }
        };
        if area.lat_min < min_lat {
            zero(&mut cells, [2, 8, 7]);
        }
        if area.lat_max > max_lat {
            zero(&mut cells, [1, 5, 6]);
        }
        if area.long_min < min_lon {
            zero(&mut cells, [4, 8, 6]);
        }
        if area.long_max > max_lon {
            zero(&mut cells, [3, 7, 5]);
        }
    }
    cells
}

/// A distance in metres as Redis 7.0 computes it, and as Redis 7.2+ does when that differs:
/// 7.2 replaced the haversine formula by `R·|Δlat|` when the two longitudes are the same
/// (the sine of half their difference is 0), which can change the last bits.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Distance {
    /// Redis 7.0's `geohashGetDistance`.
    pub v70: f64,
    /// Redis 7.2's result when it is computed differently (same longitude).
    pub v72: Option<f64>,
}

/// `geohashGetDistance` (haversine great-circle distance, metres).
pub fn distance(lon1d: f64, lat1d: f64, lon2d: f64, lat2d: f64) -> Distance {
    let lat1r = deg_rad(lat1d);
    let lon1r = deg_rad(lon1d);
    let lat2r = deg_rad(lat2d);
    let lon2r = deg_rad(lon2d);
    let u = ((lat2r - lat1r) / 2.0).sin();
    let v = ((lon2r - lon1r) / 2.0).sin();
    let a = u * u + lat1r.cos() * lat2r.cos() * v * v;
    let v70 = 2.0 * EARTH_RADIUS_IN_METERS * a.sqrt().asin();
    let v72 = (v == 0.0).then(|| EARTH_RADIUS_IN_METERS * (lat2r - lat1r).abs());
    Distance { v70, v72 }
}

/// Whether a point is inside the shape and, if so, its distance to the centre (metres), as
/// Redis decides it (`geoAppendIfWithinShape`). `Err` when Redis 7.0 and 7.2+ decide
/// differently (see [`Distance`]), so that a replay never guesses which.
pub fn within(shape: &Shape, lon: f64, lat: f64) -> Result<Option<Distance>, VersionDependent> {
    let (x1, y1) = (shape.longitude, shape.latitude);
    let inside = match shape.size {
        ShapeSize::Radius(r) => {
            let radius = r * shape.conversion;
            let d = distance(x1, y1, lon, lat);
            // Redis tests `distance > radius`, so a NaN distance would count as inside. (At
            // exact antipodes the haversine's argument rounds to at most 1 + 2^-52, whose
            // square root rounds to 1: no NaN has been seen, but the test stays Redis's.)
            let outside = d.v70 > radius;
            if d.v72.is_some_and(|alt| (alt > radius) != outside) {
                return Err(VersionDependent);
            }
            return Ok((!outside).then_some(d));
        }
        ShapeSize::Box(w, h) => {
            let (width_m, height_m) = (w * shape.conversion, h * shape.conversion);
            // lon_distance = dist(x2,y2,x1,y2), lat_distance = dist(x2,y2,x2,y1): the latter's
            // longitudes are equal, so 7.2 computes it as R·|Δlat|.
            let lon_d = distance(lon, lat, x1, lat);
            let lat_d = distance(lon, lat, lon, y1);
            let verdict =
                |lon_d: f64, lat_d: f64| !(lon_d > width_m / 2.0 || lat_d > height_m / 2.0);
            let inside = verdict(lon_d.v70, lat_d.v70);
            let inside72 = verdict(
                lon_d.v72.unwrap_or(lon_d.v70),
                lat_d.v72.unwrap_or(lat_d.v70),
            );
            if inside != inside72 {
                return Err(VersionDependent);
            }
            inside
        }
    };
    Ok(inside.then(|| distance(x1, y1, lon, lat)))
}

impl Distance {
    /// True when Redis 7.0 and 7.2+ compute different values.
    pub fn version_dependent(&self) -> bool {
        self.v72.is_some_and(|alt| alt != self.v70)
    }

    /// The 7.2+ value.
    pub fn v72_or_v70(&self) -> f64 {
        self.v72.unwrap_or(self.v70)
    }
}

/// A search result that Redis 7.0 and 7.2+ compute differently.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VersionDependent;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interleave_round_trips() {
        for (x, y) in [
            (0u32, 0u32),
            (1, 0),
            (0, 1),
            (0x3ffffff, 0x2aaaaaa),
            (u32::MAX, 7),
        ] {
            let v = deinterleave64(interleave64(x, y));
            assert_eq!((v as u32, (v >> 32) as u32), (x, y));
        }
    }

    #[test]
    fn neighbours_are_adjacent_cells() {
        let c = encode(13.361389, 38.115556, 10).unwrap();
        let a = decode(c).unwrap();
        let east = decode(moved(c, 1, 0)).unwrap();
        let north = decode(moved(c, 0, 1)).unwrap();
        assert_eq!(east.long_min, a.long_max);
        assert_eq!(north.lat_min, a.lat_max);
        assert_eq!(moved(moved(c, 1, 1), -1, -1), c);
    }
}
