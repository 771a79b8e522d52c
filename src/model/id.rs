//! The ids the router makes: time-ordered UUIDv7s with a prefix that says their kind.

use std::fmt;
use std::str::FromStr;
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

/// The last id made, so that the next made in the same millisecond sorts after
/// it: the process's ids sort by creation. Ids take the time they are given (a
/// test's clock may run behind the system's); only within a millisecond does
/// this sequence them.
static LAST: Mutex<u128> = Mutex::new(0);

/// The random bits a UUIDv7 keeps below its variant: what a same-millisecond id
/// counts up in.
const LOW_RANDOM: u128 = (1 << 62) - 1;

/// A UUIDv7 whose time is `ms`.
fn uuid_at(ms: u64) -> u128 {
    let mut last = LAST.lock().unwrap_or_else(|e| e.into_inner());
    let id = if (*last >> 80) as u64 == ms && *last & LOW_RANDOM != LOW_RANDOM {
        *last + 1
    } else {
        let nanos = u32::try_from((ms % 1000) * 1_000_000).unwrap_or(0);
        let timestamp = uuid::Timestamp::from_unix(uuid::NoContext, ms / 1000, nanos);
        uuid::Uuid::new_v7(timestamp).as_u128()
    };
    *last = id;
    id
}

/// The smallest id (of any kind here: all are UUIDv7s) created at `ms`.
pub(crate) fn first_id_at(ms: u64) -> u128 {
    u128::from(ms.min((1 << 48) - 1)) << 80
}

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident, $prefix:literal) => {
        $(#[$doc])*
        ///
        /// A UUIDv7: time-ordered, so keys sort by creation and pages read oldest first.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        pub struct $name(pub u128);

        impl $name {
            /// A new id created at `ms` (unix milliseconds, on the router's clock).
            pub fn at(ms: u64) -> Self {
                Self(uuid_at(ms))
            }

            /// When it was created, in unix milliseconds.
            pub fn created_at_ms(self) -> u64 {
                (self.0 >> 80) as u64
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!($prefix, "{:032x}"), self.0)
            }
        }

        impl FromStr for $name {
            type Err = InvalidId;

            fn from_str(s: &str) -> Result<Self, InvalidId> {
                let hex = s.strip_prefix($prefix).ok_or(InvalidId)?;
                if hex.len() != 32 {
                    return Err(InvalidId);
                }
                u128::from_str_radix(hex, 16).map(Self).map_err(|_| InvalidId)
            }
        }
    };
}

id_type!(
    /// A delivery: one event to one webhook. Sent as `webhook-id`, stable across retries and replays.
    DeliveryId,
    "dlv_"
);
id_type!(
    /// The store's own key for an event; the sender-facing id is [`EventRecord::id`].
    EventKey,
    "evk_"
);

/// A string that is not an id of the expected kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("not a valid id")]
pub struct InvalidId;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_through_text_and_sort_by_creation() {
        let a = DeliveryId::at(1_000);
        let b = DeliveryId::at(1_000);
        assert!(a < b, "made in the same millisecond, still in order");
        assert_eq!(
            (a.created_at_ms(), DeliveryId::at(7).created_at_ms()),
            (1_000, 7)
        );
        assert_eq!(a.to_string().parse::<DeliveryId>(), Ok(a));
        assert!(a.to_string().starts_with("dlv_"));
        assert_eq!("evk_00".parse::<DeliveryId>(), Err(InvalidId));
        assert_eq!("dlv_zz".parse::<DeliveryId>(), Err(InvalidId));
    }
}
