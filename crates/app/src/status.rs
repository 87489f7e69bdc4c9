//! What the status line says. It is always on screen; for now it tells whether the device has
//! a connection (the browser's `navigator.onLine` and its `online` and `offline` events).
//! Later it also says how many changes are waiting, when the app last synced and which records
//! were refused.

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
            Self::Offline => {
                "Offline: the app keeps working, and what you record stays on this device until \
                 the signal comes back"
            }
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

/// What the sign-in form answers until the browser SDK can sign in.
pub const SIGN_IN_NOT_READY: &str = "Signing in from the browser is not ready yet: nothing was sent. Use the fieldnotes \
     command on a laptop for now.";

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
    fn online_is_short() {
        let online = Connection::from_online(true);
        assert_eq!(online.message(), "Online");
        assert_eq!(online.as_str(), "online");
    }
}
