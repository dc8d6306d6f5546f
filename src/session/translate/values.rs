//! Result values and query parameters between the value shapes of two Bolt versions.
//!
//! Two things changed in the value model after 4.4 (bolt-reference §3.2):
//! - Bolt 5.0 added `element_id` to Node (3 → 4 fields), Relationship (5 → 8) and
//!   UnboundRelationship (3 → 4). Towards an older client the extra fields are dropped: the
//!   numeric ids they sit beside are the ones older drivers read.
//! - Bolt 5.0 (and 4.3/4.4 with `patch_bolt: ["utc"]`) sends DateTime as UTC seconds (`I` 0x49,
//!   `i` 0x69) instead of local wall-clock seconds (`F` 0x46, `f` 0x66). With an offset the two
//!   convert exactly: local = UTC + offset. With a time-zone id the offset depends on the
//!   instant: it is the zone's offset at that instant in the IANA database compiled into boltgate
//!   (`chrono-tz`). From a legacy wall-clock time to UTC a local time may fall in a gap or an
//!   overlap of the zone; boltgate then picks as the server does (Java's `ZonedDateTime.ofLocal`:
//!   the earlier offset in an overlap, the offset before a gap). A zone id the database does not
//!   know is refused ([`Untranslatable::UnknownZone`]), never converted wrongly.
//!
//! Values are rewritten in place. Recursion is bounded by the decoder's nesting limit.

use boltgate_proto::packstream::{Structure, Value};
use chrono::offset::LocalResult;
use chrono::{DateTime, Offset, TimeZone};
use chrono_tz::Tz;

use super::Untranslatable;

const NODE: u8 = 0x4E;
const RELATIONSHIP: u8 = 0x52;
const UNBOUND_RELATIONSHIP: u8 = 0x72;
const DATE_TIME_LEGACY: u8 = 0x46;
const DATE_TIME_ZONE_ID_LEGACY: u8 = 0x66;
const DATE_TIME_UTC: u8 = 0x49;
const DATE_TIME_ZONE_ID_UTC: u8 = 0x69;

/// How one side of a session shapes its values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shapes {
    /// Nodes and relationships carry `element_id` fields (5.0+).
    pub element_ids: bool,
    /// DateTime in UTC seconds (5.0+, or 4.3/4.4 with the `utc` patch agreed).
    pub utc: bool,
}

impl Shapes {
    pub fn of(version: boltgate_proto::Version, utc_patch: bool) -> Shapes {
        let five = version.major >= 5;
        Shapes {
            element_ids: five,
            utc: five || utc_patch,
        }
    }
}

/// A value from the server (`from`) made what the client (`to`) reads.
pub fn to_client(v: &mut Value, from: Shapes, to: Shapes) -> Result<(), Untranslatable> {
    match v {
        Value::List(items) => items.iter_mut().try_for_each(|i| to_client(i, from, to)),
        Value::Map(m) => {
            let mut entries = std::mem::take(m).into_entries();
            let done = entries
                .iter_mut()
                .try_for_each(|(_, v)| to_client(v, from, to));
            *m = entries.into();
            done
        }
        Value::Structure(s) => {
            structure_to_client(s, from, to)?;
            s.fields.iter_mut().try_for_each(|f| to_client(f, from, to))
        }
        _ => Ok(()),
    }
}

fn structure_to_client(s: &mut Structure, from: Shapes, to: Shapes) -> Result<(), Untranslatable> {
    if from.element_ids && !to.element_ids {
        let keep = match (s.tag, s.fields.len()) {
            (NODE, 4) => 3,
            (RELATIONSHIP, 8) => 5,
            (UNBOUND_RELATIONSHIP, 4) => 3,
            _ => s.fields.len(),
        };
        s.fields.truncate(keep);
    }
    if from.utc && !to.utc {
        match s.tag {
            DATE_TIME_UTC => {
                let (seconds, offset) = seconds_offset(s)?;
                let local = seconds
                    .checked_add(offset)
                    .ok_or(Untranslatable::DateTimeRange { seconds, offset })?;
                s.tag = DATE_TIME_LEGACY;
                s.fields[0] = Value::Integer(local);
            }
            DATE_TIME_ZONE_ID_UTC => {
                let (utc, tz) = seconds_zone(s)?;
                let local = offset_at(tz, utc)
                    .and_then(|offset| utc.checked_add(offset))
                    .ok_or_else(|| Untranslatable::ZonedDateTimeRange {
                        seconds: utc,
                        zone: tz.name().to_string(),
                    })?;
                s.tag = DATE_TIME_ZONE_ID_LEGACY;
                s.fields[0] = Value::Integer(local);
            }
            _ => {}
        }
    }
    Ok(())
}

/// A query parameter from the client (`from`) made what the server (`to`) reads.
pub fn to_server(v: &mut Value, from: Shapes, to: Shapes) -> Result<(), Untranslatable> {
    match v {
        Value::List(items) => items.iter_mut().try_for_each(|i| to_server(i, from, to)),
        Value::Map(m) => {
            let mut entries = std::mem::take(m).into_entries();
            let done = entries
                .iter_mut()
                .try_for_each(|(_, v)| to_server(v, from, to));
            *m = entries.into();
            done
        }
        Value::Structure(s) => {
            if !from.utc && to.utc {
                match s.tag {
                    DATE_TIME_LEGACY => {
                        let (local, offset) = seconds_offset(s)?;
                        let utc =
                            local
                                .checked_sub(offset)
                                .ok_or(Untranslatable::DateTimeRange {
                                    seconds: local,
                                    offset,
                                })?;
                        s.tag = DATE_TIME_UTC;
                        s.fields[0] = Value::Integer(utc);
                    }
                    DATE_TIME_ZONE_ID_LEGACY => {
                        let (local, tz) = seconds_zone(s)?;
                        let utc = offset_for_local(tz, local)
                            .and_then(|offset| local.checked_sub(offset))
                            .ok_or_else(|| Untranslatable::ZonedDateTimeRange {
                                seconds: local,
                                zone: tz.name().to_string(),
                            })?;
                        s.tag = DATE_TIME_ZONE_ID_UTC;
                        s.fields[0] = Value::Integer(utc);
                    }
                    _ => {}
                }
            }
            s.fields.iter_mut().try_for_each(|f| to_server(f, from, to))
        }
        _ => Ok(()),
    }
}

/// The seconds and the zone of a DateTime with a time-zone id (either form): three fields,
/// seconds, nanoseconds, zone id.
fn seconds_zone(s: &Structure) -> Result<(i64, Tz), Untranslatable> {
    match s.fields.as_slice() {
        [Value::Integer(seconds), Value::Integer(_), Value::String(zone)] => {
            let tz = zone
                .parse::<Tz>()
                .map_err(|_| Untranslatable::UnknownZone {
                    zone: zone.to_string(),
                })?;
            Ok((*seconds, tz))
        }
        _ => Err(Untranslatable::Malformed {
            what: "DateTime structure (expected 2 integers and a zone id)",
        }),
    }
}

/// The offset of `tz`, in seconds, at the instant `utc` seconds after the epoch.
fn offset_at(tz: Tz, utc: i64) -> Option<i64> {
    let at = DateTime::from_timestamp(utc, 0)?.naive_utc();
    Some(i64::from(
        tz.offset_from_utc_datetime(&at).fix().local_minus_utc(),
    ))
}

/// The offset of `tz` for the wall-clock time `local` (seconds, as if UTC), picked as Java's
/// `ZonedDateTime.ofLocal` picks it (the server's rule): in an overlap the earlier offset (the
/// earlier instant); in a gap the offset before it (the time is moved forward by the gap).
fn offset_for_local(tz: Tz, local: i64) -> Option<i64> {
    let at = DateTime::from_timestamp(local, 0)?.naive_utc();
    match tz.offset_from_local_datetime(&at) {
        LocalResult::Single(o) | LocalResult::Ambiguous(o, _) => {
            Some(i64::from(o.fix().local_minus_utc()))
        }
        // Transitions are months apart: a day before the gap the earlier offset holds.
        LocalResult::None => offset_at(tz, local.checked_sub(86_400)?),
    }
}

/// The seconds and the offset of a DateTime with an offset (either form): three fields,
/// seconds, nanoseconds, offset seconds.
fn seconds_offset(s: &Structure) -> Result<(i64, i64), Untranslatable> {
    match s.fields.as_slice() {
        [Value::Integer(seconds), Value::Integer(_), Value::Integer(offset)] => {
            Ok((*seconds, *offset))
        }
        _ => Err(Untranslatable::Malformed {
            what: "DateTime structure (expected 3 integers)",
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use boltgate_proto::packstream::Map;
    use boltgate_proto::Version;

    fn st(tag: u8, fields: Vec<Value>) -> Value {
        Value::Structure(Structure::new(tag, fields))
    }

    const OLD: Shapes = Shapes {
        element_ids: false,
        utc: false,
    };
    const NEW: Shapes = Shapes {
        element_ids: true,
        utc: true,
    };

    fn node5(id: i64) -> Value {
        let props: Map = [("name", Value::from("a"))].into_iter().collect();
        st(
            NODE,
            vec![
                id.into(),
                Value::List(vec!["L".into()]),
                props.into(),
                format!("4:x:{id}").into(),
            ],
        )
    }

    fn node3(id: i64) -> Value {
        let props: Map = [("name", Value::from("a"))].into_iter().collect();
        st(
            NODE,
            vec![id.into(), Value::List(vec!["L".into()]), props.into()],
        )
    }

    #[test]
    fn shapes_follow_the_version_and_the_utc_patch() {
        assert_eq!(Shapes::of(Version::V4_4, false), OLD);
        assert!(Shapes::of(Version::V4_4, true).utc);
        assert!(!Shapes::of(Version::V4_4, true).element_ids);
        assert_eq!(Shapes::of(Version::V5_1, false), NEW);
    }

    #[test]
    fn element_ids_are_dropped_for_an_older_client_inside_paths_lists_and_maps() {
        let rel5 = st(
            RELATIONSHIP,
            vec![
                7.into(),
                1.into(),
                2.into(),
                "T".into(),
                Value::Map(Map::new()),
                "5:x:7".into(),
                "4:x:1".into(),
                "4:x:2".into(),
            ],
        );
        let unbound5 = st(
            UNBOUND_RELATIONSHIP,
            vec![7.into(), "T".into(), Value::Map(Map::new()), "5:x:7".into()],
        );
        let path = st(
            0x50,
            vec![
                Value::List(vec![node5(1), node5(2)]),
                Value::List(vec![unbound5]),
                Value::List(vec![1.into(), 1.into()]),
            ],
        );
        let mut v = Value::List(vec![
            node5(1),
            rel5,
            path,
            Value::Map([("n", node5(3))].into_iter().collect()),
        ]);
        to_client(&mut v, NEW, OLD).unwrap();
        let items = v.as_list().unwrap();
        assert_eq!(items[0], node3(1));
        assert_eq!(items[1].as_structure().unwrap().fields.len(), 5);
        let path = items[2].as_structure().unwrap();
        assert_eq!(path.fields[0], Value::List(vec![node3(1), node3(2)]));
        let unbound = &path.fields[1].as_list().unwrap()[0];
        assert_eq!(unbound.as_structure().unwrap().fields.len(), 3);
        assert_eq!(items[3].as_map().unwrap().get("n"), Some(&node3(3)));
    }

    #[test]
    fn utc_date_time_with_an_offset_becomes_local_seconds_and_back() {
        // 1970-01-01T02:15:00.000000042+01:00 (bolt-reference §3.2): I(4500, 42, 3600) is
        // F(8100, 42, 3600).
        let utc = st(DATE_TIME_UTC, vec![4500.into(), 42.into(), 3600.into()]);
        let legacy = st(DATE_TIME_LEGACY, vec![8100.into(), 42.into(), 3600.into()]);
        let mut v = utc.clone();
        to_client(&mut v, NEW, OLD).unwrap();
        assert_eq!(v, legacy);
        let mut p = legacy.clone();
        to_server(&mut p, OLD, NEW).unwrap();
        assert_eq!(p, utc);
        // Negative offsets too.
        let mut v = st(DATE_TIME_UTC, vec![0.into(), 0.into(), (-18000).into()]);
        to_client(&mut v, NEW, OLD).unwrap();
        assert_eq!(v.as_structure().unwrap().fields[0], Value::Integer(-18000));
    }

    #[test]
    fn same_shapes_change_nothing() {
        let utc = st(DATE_TIME_UTC, vec![4500.into(), 42.into(), 3600.into()]);
        let mut v = Value::List(vec![node5(1), utc.clone()]);
        let before = v.clone();
        to_client(&mut v, NEW, NEW).unwrap();
        assert_eq!(v, before);
        // A 4.4 client with the utc patch keeps UTC DateTimes but loses element ids.
        let patched = Shapes {
            element_ids: false,
            utc: true,
        };
        let mut v = utc.clone();
        to_client(&mut v, NEW, patched).unwrap();
        assert_eq!(v, utc);
    }

    fn zoned(tag: u8, seconds: i64, zone: &str) -> Value {
        st(tag, vec![seconds.into(), 7.into(), zone.into()])
    }

    #[test]
    fn zone_id_date_times_convert_with_the_zones_offset_at_that_instant() {
        // 2024-07-02T03:04:05[Europe/Paris], summer: +02:00.
        let (utc, local) = (1_719_882_245, 1_719_889_445);
        let mut v = zoned(DATE_TIME_ZONE_ID_UTC, utc, "Europe/Paris");
        to_client(&mut v, NEW, OLD).unwrap();
        assert_eq!(v, zoned(DATE_TIME_ZONE_ID_LEGACY, local, "Europe/Paris"));
        to_server(&mut v, OLD, NEW).unwrap();
        assert_eq!(v, zoned(DATE_TIME_ZONE_ID_UTC, utc, "Europe/Paris"));
        // Winter: +01:00 (2024-01-15T12:00:00 local).
        let mut w = zoned(DATE_TIME_ZONE_ID_LEGACY, 1_705_320_000, "Europe/Paris");
        to_server(&mut w, OLD, NEW).unwrap();
        assert_eq!(
            w,
            zoned(DATE_TIME_ZONE_ID_UTC, 1_705_316_400, "Europe/Paris")
        );
    }

    #[test]
    fn a_local_time_in_an_overlap_or_a_gap_is_placed_as_the_server_places_it() {
        // 2024-10-27T02:30 happens twice in Paris: the earlier offset (+02:00) is taken.
        let mut v = zoned(DATE_TIME_ZONE_ID_LEGACY, 1_729_996_200, "Europe/Paris");
        to_server(&mut v, OLD, NEW).unwrap();
        assert_eq!(
            v,
            zoned(DATE_TIME_ZONE_ID_UTC, 1_729_989_000, "Europe/Paris")
        );
        // 2024-03-31T02:30 does not exist there: the offset before the gap (+01:00), so the
        // instant is 01:30 UTC (03:30 local), as Java moves it forward by the gap.
        let mut g = zoned(DATE_TIME_ZONE_ID_LEGACY, 1_711_852_200, "Europe/Paris");
        to_server(&mut g, OLD, NEW).unwrap();
        assert_eq!(
            g,
            zoned(DATE_TIME_ZONE_ID_UTC, 1_711_848_600, "Europe/Paris")
        );
    }

    #[test]
    fn an_unknown_zone_id_is_refused_both_ways() {
        let unknown = Err(Untranslatable::UnknownZone {
            zone: "Mars/Olympus".into(),
        });
        let mut v = zoned(DATE_TIME_ZONE_ID_UTC, 0, "Mars/Olympus");
        assert_eq!(to_client(&mut v, NEW, OLD), unknown);
        let mut p = Value::Map(
            [("t", zoned(DATE_TIME_ZONE_ID_LEGACY, 0, "Mars/Olympus"))]
                .into_iter()
                .collect(),
        );
        assert_eq!(to_server(&mut p, OLD, NEW), unknown);
    }

    #[test]
    fn malformed_and_overflowing_date_times_are_errors_not_panics() {
        let mut v = st(DATE_TIME_UTC, vec!["x".into()]);
        assert!(matches!(
            to_client(&mut v, NEW, OLD),
            Err(Untranslatable::Malformed { .. })
        ));
        let mut v = st(DATE_TIME_UTC, vec![i64::MAX.into(), 0.into(), 1.into()]);
        assert!(matches!(
            to_client(&mut v, NEW, OLD),
            Err(Untranslatable::DateTimeRange { .. })
        ));
        let mut p = st(DATE_TIME_LEGACY, vec![i64::MIN.into(), 0.into(), 1.into()]);
        assert!(matches!(
            to_server(&mut p, OLD, NEW),
            Err(Untranslatable::DateTimeRange { .. })
        ));
    }

    #[test]
    fn a_zoned_date_time_out_of_range_names_its_zone_not_an_offset() {
        let mut v = zoned(DATE_TIME_ZONE_ID_UTC, i64::MAX, "Europe/Paris");
        let err = to_client(&mut v, NEW, OLD).unwrap_err();
        assert_eq!(
            err,
            Untranslatable::ZonedDateTimeRange {
                seconds: i64::MAX,
                zone: "Europe/Paris".into()
            }
        );
        assert!(err.to_string().contains("Europe/Paris"), "{err}");
        let mut p = zoned(DATE_TIME_ZONE_ID_LEGACY, i64::MIN, "Asia/Tokyo");
        let err = to_server(&mut p, OLD, NEW).unwrap_err();
        assert!(
            matches!(&err, Untranslatable::ZonedDateTimeRange { zone, .. } if zone == "Asia/Tokyo"),
            "{err}"
        );
    }
}
