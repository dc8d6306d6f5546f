//! Known structure tags (bolt-reference §3.2), used for `Debug` and by code that wants to recognise
//! graph values. Nothing here rejects a tag: unknown tags pass through untouched.

/// Node: id, labels, properties (+ element_id from 5.0).
pub const NODE: u8 = 0x4E;
/// Relationship: id, start id, end id, type, properties (+ 3 element ids from 5.0).
pub const RELATIONSHIP: u8 = 0x52;
/// UnboundRelationship: id, type, properties (+ element_id from 5.0).
pub const UNBOUND_RELATIONSHIP: u8 = 0x72;
/// Path: nodes, unbound relationships, indices.
pub const PATH: u8 = 0x50;
pub const DATE: u8 = 0x44;
pub const TIME: u8 = 0x54;
pub const LOCAL_TIME: u8 = 0x74;
pub const LOCAL_DATE_TIME: u8 = 0x64;
/// Legacy (≤4.4) DateTime with offset: seconds include the offset.
pub const LEGACY_DATE_TIME: u8 = 0x46;
/// Legacy (≤4.4) DateTime with zone id.
pub const LEGACY_DATE_TIME_ZONE_ID: u8 = 0x66;
/// UTC DateTime with offset (5.0+, or 4.3/4.4 with the `utc` patch).
pub const DATE_TIME: u8 = 0x49;
/// UTC DateTime with zone id (5.0+, or 4.3/4.4 with the `utc` patch).
pub const DATE_TIME_ZONE_ID: u8 = 0x69;
pub const DURATION: u8 = 0x45;
pub const POINT_2D: u8 = 0x58;
pub const POINT_3D: u8 = 0x59;
/// Vector (6.0+): type marker bytes, packed data bytes.
pub const VECTOR: u8 = 0x56;
/// UnsupportedType (6.0+): name, min major, min minor, extra.
pub const UNSUPPORTED_TYPE: u8 = 0x3F;

/// The name of a value-structure tag, if known.
pub fn name(tag: u8) -> Option<&'static str> {
    Some(match tag {
        NODE => "Node",
        RELATIONSHIP => "Relationship",
        UNBOUND_RELATIONSHIP => "UnboundRelationship",
        PATH => "Path",
        DATE => "Date",
        TIME => "Time",
        LOCAL_TIME => "LocalTime",
        LOCAL_DATE_TIME => "LocalDateTime",
        LEGACY_DATE_TIME => "LegacyDateTime",
        LEGACY_DATE_TIME_ZONE_ID => "LegacyDateTimeZoneId",
        DATE_TIME => "DateTime",
        DATE_TIME_ZONE_ID => "DateTimeZoneId",
        DURATION => "Duration",
        POINT_2D => "Point2D",
        POINT_3D => "Point3D",
        VECTOR => "Vector",
        UNSUPPORTED_TYPE => "UnsupportedType",
        _ => return None,
    })
}
