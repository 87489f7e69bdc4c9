//! What the status line says. It is always on screen: whether the device has a connection
//! (the browser's `navigator.onLine` and its `online` and `offline` events), how many changes
//! are waiting, when the app last synced, and how many records the server refused.

/// Whether the browser has a network connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Connection {
    Online,
    Offline,
}

impl Connection {
    /// From `navigator.onLine`.
    pub fn from_online(online: bool) -> Self {
        if online { Self::Online } else { Self::Offline }
    }

    /// The status line's words.
    pub fn message(self) -> &'static str {
        match self {
            Self::Online => "Online",
            Self::Offline => "Offline: your work stays on this device",
        }
    }

    /// The status line's `data-connection` value, which the style sheet colours by.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Online => "online",
            Self::Offline => "offline",
        }
    }
}

/// What the status line says about the device's work with the server: how many changes wait
/// to be sent, how many records the server refused, and when the device last synced.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SyncWords {
    /// Changes recorded here and not yet confirmed by the server.
    pub pending: u64,
    /// Records holding changes the server refused.
    pub held: u64,
    /// The last successful sync, as the device's clock and locale write it (`10:42`).
    pub last_synced: Option<String>,
    /// A sync is running now.
    pub syncing: bool,
    /// Why the last sync failed, in the SDK's words (with what to do next).
    pub problem: Option<String>,
}

impl SyncWords {
    /// The waiting count and the last sync, one short line: "2 changes waiting to be sent ·
    /// last synced 10:42".
    pub fn summary(&self) -> String {
        let waiting = match self.pending {
            0 => "Nothing waiting to be sent".to_owned(),
            1 => "1 change waiting to be sent".to_owned(),
            n => format!("{n} changes waiting to be sent"),
        };
        let when = if self.syncing {
            "syncing now".to_owned()
        } else {
            match &self.last_synced {
                Some(at) => format!("last synced {at}"),
                None => "not synced yet".to_owned(),
            }
        };
        format!("{waiting} · {when}")
    }

    /// How many records the server refused, when any (the status line offers "See why").
    pub fn refused(&self) -> Option<String> {
        match self.held {
            0 => None,
            1 => Some("1 record was refused by the server and is kept on this device".to_owned()),
            n => Some(format!(
                "{n} records were refused by the server and are kept on this device"
            )),
        }
    }
}

/// A message from the SDK as a sentence on screen: a capital first letter and a full stop.
pub fn sentence(message: &str) -> String {
    let message = message.trim();
    let mut chars = message.chars();
    let Some(first) = chars.next() else {
        return String::new();
    };
    let mut out: String = first.to_uppercase().chain(chars).collect();
    if !out.ends_with(['.', '!', '?']) {
        out.push('.');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offline_says_the_work_stays_on_the_device() {
        let offline = Connection::from_online(false);
        assert_eq!(offline, Connection::Offline);
        assert!(offline.message().starts_with("Offline"));
        assert!(offline.message().contains("stays on this device"));
        assert_eq!(offline.as_str(), "offline");
    }

    #[test]
    fn the_sync_line_counts_what_waits_and_says_when_it_last_synced() {
        let mut words = SyncWords::default();
        assert_eq!(
            words.summary(),
            "Nothing waiting to be sent · not synced yet"
        );
        assert_eq!(words.refused(), None);
        words.pending = 1;
        words.last_synced = Some("10:42".into());
        assert_eq!(
            words.summary(),
            "1 change waiting to be sent · last synced 10:42"
        );
        words.pending = 3;
        words.syncing = true;
        assert_eq!(
            words.summary(),
            "3 changes waiting to be sent · syncing now"
        );
        words.held = 2;
        let refused = words.refused().unwrap();
        assert!(refused.starts_with("2 records were refused"), "{refused}");
        assert!(refused.contains("kept on this device"), "{refused}");
    }

    #[test]
    fn a_message_is_shown_as_a_sentence() {
        assert_eq!(
            sentence("sign-in refused: wrong password"),
            "Sign-in refused: wrong password."
        );
        assert_eq!(sentence("Already one."), "Already one.");
        assert_eq!(sentence(""), "");
    }

    #[test]
    fn online_is_short() {
        let online = Connection::from_online(true);
        assert_eq!(online.message(), "Online");
        assert_eq!(online.as_str(), "online");
    }
}
