//! Broken-down time for `$utime(…)` and `$time(…)` without libc: Unix seconds to a civil
//! date (the days-from-civil algorithm), and local time from the TZif zone file.
//!
//! The zone file is the one `TZ` names (`:Europe/Berlin`, `Europe/Berlin` or an absolute
//! path) or `/etc/localtime`; it is read once per process. No file, an unreadable one or
//! an empty `TZ` means UTC. Only the transition table is used: before its first
//! transition the first non-DST type applies, after its last one the last transition's
//! type. The POSIX TZ rule in the file's footer is not applied, so a "slim" zone file
//! (one that leaves future transitions to that rule) gives the last listed offset for
//! later instants.

use std::sync::OnceLock;

/// A broken-down time, in the ranges the `$time(…)` pseudo-variables show.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Tm {
    /// 0-60.
    pub(crate) sec: u32,
    /// 0-59.
    pub(crate) min: u32,
    /// 0-23.
    pub(crate) hour: u32,
    /// Day of the month, 1-31.
    pub(crate) mday: u32,
    /// Month, 1-12.
    pub(crate) mon: u32,
    /// The full year.
    pub(crate) year: i64,
    /// Day of the week, 1-7, Sunday is 1.
    pub(crate) wday: u32,
    /// Day of the year, 1-366.
    pub(crate) yday: u32,
    /// Whether daylight saving time is in effect.
    pub(crate) isdst: bool,
}

/// Days since 1970-01-01 of a proleptic Gregorian date (month 1-12).
pub(crate) fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let m = i64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The date (year, month 1-12, day 1-31) of a day counted from 1970-01-01.
pub(crate) fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    // The ranges are 1-31 and 1-12 by construction.
    (year, day_u32(month), day_u32(day))
}

fn day_u32(n: i64) -> u32 {
    u32::try_from(n).unwrap_or(0)
}

/// UTC broken-down time of Unix seconds.
pub(crate) fn utc(secs: i64) -> Tm {
    broken_down(secs, false)
}

/// Local broken-down time of Unix seconds (see the module comment for the zone).
pub(crate) fn local(secs: i64) -> Tm {
    let (offset, isdst) = zone().map_or((0, false), |z| z.lookup(secs));
    broken_down(secs.saturating_add(i64::from(offset)), isdst)
}

fn broken_down(secs: i64, isdst: bool) -> Tm {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (year, mon, mday) = civil_from_days(days);
    let yday = days - days_from_civil(year, 1, 1) + 1;
    Tm {
        sec: day_u32(rem % 60),
        min: day_u32(rem / 60 % 60),
        hour: day_u32(rem / 3600),
        mday,
        mon,
        year,
        // 1970-01-01 was a Thursday (Sunday = 1, so Thursday = 5).
        wday: day_u32((days + 4).rem_euclid(7) + 1),
        yday: day_u32(yday),
        isdst,
    }
}

/// A zone's transition table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Zone {
    /// Transition instants, ascending.
    times: Vec<i64>,
    /// The local time type from each transition on (an index into `types`).
    idx: Vec<u8>,
    /// UTC offset in seconds and DST flag of each type.
    types: Vec<(i32, bool)>,
}

impl Zone {
    /// The UTC offset and DST flag in force at `t`.
    pub(crate) fn lookup(&self, t: i64) -> (i32, bool) {
        let n = self.times.partition_point(|&x| x <= t);
        let ty = match n.checked_sub(1) {
            Some(i) => self.idx.get(i).map_or(0, |&x| usize::from(x)),
            None => self.types.iter().position(|t| !t.1).unwrap_or(0),
        };
        self.types.get(ty).copied().unwrap_or((0, false))
    }
}

/// The zone of this process, read once.
fn zone() -> Option<&'static Zone> {
    static ZONE: OnceLock<Option<Zone>> = OnceLock::new();
    ZONE.get_or_init(|| {
        let path = zone_path(std::env::var("TZ").ok().as_deref())?;
        parse_tzif(&std::fs::read(path).ok()?)
    })
    .as_ref()
}

/// The zone file for a `TZ` value (`None` when TZ is unset); `None` means UTC.
fn zone_path(tz: Option<&str>) -> Option<String> {
    let Some(tz) = tz else {
        return Some("/etc/localtime".into());
    };
    let name = tz.strip_prefix(':').unwrap_or(tz);
    if name.is_empty() || name.contains("..") {
        return None;
    }
    Some(if name.starts_with('/') {
        name.to_string()
    } else {
        format!("/usr/share/zoneinfo/{name}")
    })
}

/// Big-endian reader over a byte slice.
struct Reader<'a> {
    b: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let s = self.b.get(self.pos..self.pos.checked_add(n)?)?;
        self.pos += n;
        Some(s)
    }

    fn u32(&mut self) -> Option<u32> {
        Some(u32::from_be_bytes(self.take(4)?.try_into().ok()?))
    }

    fn i32(&mut self) -> Option<i32> {
        Some(i32::from_be_bytes(self.take(4)?.try_into().ok()?))
    }

    fn i64(&mut self) -> Option<i64> {
        Some(i64::from_be_bytes(self.take(8)?.try_into().ok()?))
    }

    fn count(&mut self) -> Option<usize> {
        usize::try_from(self.u32()?).ok()
    }
}

/// The counts of a TZif header.
struct Counts {
    isut: usize,
    isstd: usize,
    leap: usize,
    time: usize,
    types: usize,
    chars: usize,
}

fn header(r: &mut Reader<'_>) -> Option<(u8, Counts)> {
    if r.take(4)? != b"TZif" {
        return None;
    }
    let version = *r.take(1)?.first()?;
    r.take(15)?;
    let c = Counts {
        isut: r.count()?,
        isstd: r.count()?,
        leap: r.count()?,
        time: r.count()?,
        types: r.count()?,
        chars: r.count()?,
    };
    Some((version, c))
}

/// Parses a TZif file: the 64-bit table of a version 2+ file, the 32-bit one of a
/// version 1 file. `None` when the data is not a valid TZif file.
pub(crate) fn parse_tzif(data: &[u8]) -> Option<Zone> {
    let mut r = Reader { b: data, pos: 0 };
    let (version, c) = header(&mut r)?;
    if version >= b'2' {
        // Skip the version 1 block to the 64-bit one.
        let v1 = c.time * 5 + c.types * 6 + c.chars + c.leap * 8 + c.isstd + c.isut;
        r.take(v1)?;
        let (_, c) = header(&mut r)?;
        return table(&mut r, &c, true);
    }
    table(&mut r, &c, false)
}

fn table(r: &mut Reader<'_>, c: &Counts, wide: bool) -> Option<Zone> {
    if c.types == 0 {
        return None;
    }
    let times = (0..c.time)
        .map(|_| {
            if wide {
                r.i64()
            } else {
                r.i32().map(i64::from)
            }
        })
        .collect::<Option<Vec<_>>>()?;
    let idx = r.take(c.time)?.to_vec();
    let types = (0..c.types)
        .map(|_| {
            let off = r.i32()?;
            let dst = r.take(2)?.first().is_some_and(|&d| d != 0);
            Some((off, dst))
        })
        .collect::<Option<Vec<_>>>()?;
    if idx.iter().any(|&i| usize::from(i) >= types.len()) {
        return None;
    }
    Some(Zone { times, idx, types })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_dates() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
        assert_eq!(civil_from_days(-1), (1969, 12, 31));
        for d in [-800_000, -1, 0, 59, 10_000, 19_782, 2_000_000] {
            let (y, m, day) = civil_from_days(d);
            assert_eq!(days_from_civil(y, m, day), d);
        }
    }

    #[test]
    fn utc_broken_down() {
        // 2024-02-29 13:45:30 UTC, a Thursday, day 60 of the year.
        let t = utc(1_709_214_330);
        assert_eq!(
            t,
            Tm {
                sec: 30,
                min: 45,
                hour: 13,
                mday: 29,
                mon: 2,
                year: 2024,
                wday: 5,
                yday: 60,
                isdst: false
            }
        );
        // 2023-12-31 23:59:59, a Sunday, day 365.
        let t = utc(1_704_067_199);
        assert_eq!(
            (t.year, t.mon, t.mday, t.wday, t.yday),
            (2023, 12, 31, 1, 365)
        );
        assert_eq!((t.hour, t.min, t.sec), (23, 59, 59));
        // Before the epoch: 1969-12-31 23:00:00, a Wednesday.
        let t = utc(-3600);
        assert_eq!(
            (t.year, t.mon, t.mday, t.hour, t.wday),
            (1969, 12, 31, 23, 4)
        );
    }

    /// A version 2 TZif file: +1h standard time, +2h DST from 1000 to 2000.
    fn tzif() -> Vec<u8> {
        fn hdr(out: &mut Vec<u8>, timecnt: u32, charcnt: u32) {
            out.extend_from_slice(b"TZif2");
            out.extend_from_slice(&[0; 15]);
            for n in [0, 0, 0, timecnt, 2, charcnt] {
                out.extend_from_slice(&n.to_be_bytes());
            }
        }
        fn types(out: &mut Vec<u8>) {
            out.extend_from_slice(&7200i32.to_be_bytes());
            out.extend_from_slice(&[1, 0]);
            out.extend_from_slice(&3600i32.to_be_bytes());
            out.extend_from_slice(&[0, 5]);
        }
        let mut out = Vec::new();
        // Version 1 block: no transitions, to be skipped.
        hdr(&mut out, 0, 9);
        types(&mut out);
        out.extend_from_slice(b"DST\0STD\0\0");
        hdr(&mut out, 2, 8);
        out.extend_from_slice(&1000i64.to_be_bytes());
        out.extend_from_slice(&2000i64.to_be_bytes());
        out.extend_from_slice(&[0, 1]);
        types(&mut out);
        out.extend_from_slice(b"DST\0STD\0");
        out.extend_from_slice(b"\nSTD-1\n");
        out
    }

    #[test]
    fn tzif_transitions() {
        let z = parse_tzif(&tzif()).unwrap();
        assert_eq!(
            z.lookup(0),
            (3600, false),
            "before the first: first non-DST type"
        );
        assert_eq!(z.lookup(1000), (7200, true));
        assert_eq!(z.lookup(1999), (7200, true));
        assert_eq!(z.lookup(2000), (3600, false));
        assert_eq!(
            z.lookup(i64::MAX),
            (3600, false),
            "after the last: its type"
        );
        let data = tzif();
        for cut in [0, 10, 44, 60, data.len() - 30] {
            assert_eq!(parse_tzif(&data[..cut]), None, "cut at {cut}");
        }
        assert_eq!(parse_tzif(b"nope"), None);
    }

    #[test]
    fn tz_names() {
        assert_eq!(zone_path(None).as_deref(), Some("/etc/localtime"));
        assert_eq!(
            zone_path(Some(":Europe/Berlin")).as_deref(),
            Some("/usr/share/zoneinfo/Europe/Berlin")
        );
        assert_eq!(zone_path(Some("/tmp/z")).as_deref(), Some("/tmp/z"));
        assert_eq!(zone_path(Some("")), None);
    }

    #[test]
    fn berlin() {
        let path = "/usr/share/zoneinfo/Europe/Berlin";
        let Ok(data) = std::fs::read(path) else {
            eprintln!("skipped: {path} is not installed");
            return;
        };
        let z = parse_tzif(&data).unwrap();
        // 1995-07-01 12:00 UTC is CEST, 1995-01-15 12:00 UTC is CET (in every table,
        // "slim" ones included).
        assert_eq!(z.lookup(804_600_000), (7200, true));
        assert_eq!(z.lookup(790_171_200), (3600, false));
        // 1995-03-26 01:00 UTC is when DST began.
        assert_eq!(z.lookup(796_179_599), (3600, false));
        assert_eq!(z.lookup(796_179_600), (7200, true));
    }

    #[test]
    fn local_time_never_panics() {
        let t = local(0);
        assert!(t.year == 1970 || t.year == 1969);
        let _ = local(i64::MIN / 2);
        let _ = utc(i64::MAX / 2);
    }
}
