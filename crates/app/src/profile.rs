//! "About me" and the contact card as their forms hold them, and what the SDK records from
//! them; and the size a contact card's photo is brought down to on the device. Pure, so the
//! forms' rules are tested on the host.

use base64::Engine as _;
use fieldnotes_model::validate::MAX_TITLE_CHARS;
use fieldnotes_model::{
    AboutMePatch, ContactCardPatch, NewAboutMe, NewContactCard, NoteStatus, Picture, SubjectKind,
};

/// The four questions of "about me", in the person's own voice, in the profile's order.
pub const QUESTIONS: [&str; 4] = [
    "What I like doing for fun",
    "What I don't like",
    "What is important to me",
    "How best to help me",
];

/// A record's status as the screens name it.
pub fn status_label(status: NoteStatus) -> &'static str {
    match status {
        NoteStatus::Draft => "Draft",
        NoteStatus::Completed => "Completed",
        NoteStatus::SignedOff => "Signed off",
    }
}

/// A picture as a `data:` address for an `<img>` (the app's content security policy allows
/// `data:` images and nothing from elsewhere).
pub fn data_address(picture: &Picture) -> String {
    format!(
        "data:{};base64,{}",
        picture.media_type,
        base64::engine::general_purpose::STANDARD.encode(&picture.bytes)
    )
}

/// A photo's longest side once brought down on the device, in pixels: enough for a face on a
/// card, a small part of a phone camera's.
pub const PHOTO_EDGE: u32 = 480;

/// The most a photo may weigh once brought down, in bytes. Every record is synced to every
/// device in its scope and kept in its history, so a card stays small; well under the
/// model's own cap on a picture.
pub const PHOTO_MAX_BYTES: usize = 150 * 1024;

/// The JPEG qualities tried in turn until the photo fits [`PHOTO_MAX_BYTES`].
pub const PHOTO_QUALITIES: [f64; 4] = [0.85, 0.7, 0.55, 0.4];

/// The width and height of a `width` × `height` picture brought down so that its longest side
/// is at most `edge` (a smaller picture keeps its size; neither side is ever 0).
pub fn fit(width: u32, height: u32, edge: u32) -> (u32, u32) {
    let longest = width.max(height);
    if longest <= edge || longest == 0 {
        return (width.max(1), height.max(1));
    }
    let scale = |side: u32| {
        let scaled = u64::from(side) * u64::from(edge) / u64::from(longest);
        u32::try_from(scaled).unwrap_or(edge).max(1)
    };
    (scale(width), scale(height))
}

/// What a form still needs, in the words shown beside it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProfileError {
    #[error("Write at least one answer before saving.")]
    Empty,
    #[error("Give the name the children know you by.")]
    NoName,
    #[error("A name is at most {MAX_TITLE_CHARS} characters.")]
    NameTooLong,
    #[error("Each of the three things is at most {MAX_TITLE_CHARS} characters.")]
    ThingTooLong,
}

/// The four answers of an "about me" profile, as the form holds them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AboutDraft {
    pub fun: String,
    pub dislikes: String,
    pub important: String,
    pub how_to_help: String,
}

impl AboutDraft {
    /// The form filled with a profile's answers, to edit it.
    pub fn from_profile(profile: &NewAboutMe) -> Self {
        Self {
            fun: profile.fun.clone(),
            dislikes: profile.dislikes.clone(),
            important: profile.important.clone(),
            how_to_help: profile.how_to_help.clone(),
        }
    }

    fn answers(&self) -> [String; 4] {
        [
            &self.fun,
            &self.dislikes,
            &self.important,
            &self.how_to_help,
        ]
        .map(|a| a.trim().to_owned())
    }

    /// A new profile of `subject_kind` `subject_id` (a child's id, or the worker's own user
    /// id), or what is missing: a profile that says nothing is not saved.
    pub fn to_new(
        &self,
        subject_kind: SubjectKind,
        subject_id: &str,
    ) -> Result<NewAboutMe, ProfileError> {
        let [fun, dislikes, important, how_to_help] = self.answers();
        if [&fun, &dislikes, &important, &how_to_help]
            .iter()
            .all(|a| a.is_empty())
        {
            return Err(ProfileError::Empty);
        }
        Ok(NewAboutMe {
            subject_kind,
            subject_id: subject_id.to_owned(),
            fun,
            dislikes,
            important,
            how_to_help,
        })
    }

    /// The changes from the profile `was`: only the answers that differ, so an edit made on
    /// one device does not overwrite another device's edit of a different answer. `None`
    /// when nothing changed.
    pub fn to_patch(&self, was: &NewAboutMe) -> Result<Option<AboutMePatch>, ProfileError> {
        let new = self.to_new(was.subject_kind, &was.subject_id)?;
        let changed = |now: String, before: &str| (now != before).then_some(now);
        let patch = AboutMePatch {
            fun: changed(new.fun, &was.fun),
            dislikes: changed(new.dislikes, &was.dislikes),
            important: changed(new.important, &was.important),
            how_to_help: changed(new.how_to_help, &was.how_to_help),
            status: None,
        };
        Ok((patch != AboutMePatch::default()).then_some(patch))
    }
}

/// A contact card as the form holds it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CardDraft {
    pub display_name: String,
    pub three_things: [String; 3],
    pub how_to_reach: String,
    pub when_to_reach: String,
    /// The photo, already brought down on the device.
    pub picture: Option<Picture>,
}

impl CardDraft {
    /// The form filled with a card, to edit it.
    pub fn from_card(card: &NewContactCard) -> Self {
        let mut things: [String; 3] = Default::default();
        for (slot, thing) in things.iter_mut().zip(&card.three_things) {
            slot.clone_from(thing);
        }
        Self {
            display_name: card.display_name.clone(),
            three_things: things,
            how_to_reach: card.how_to_reach.clone(),
            when_to_reach: card.when_to_reach.clone(),
            picture: card.picture.clone(),
        }
    }

    /// The card of the worker `worker_id` (their user id), or what is missing. Empty "things"
    /// are left out.
    pub fn to_new(&self, worker_id: &str) -> Result<NewContactCard, ProfileError> {
        let display_name = self.display_name.trim();
        if display_name.is_empty() {
            return Err(ProfileError::NoName);
        }
        if display_name.chars().count() > MAX_TITLE_CHARS {
            return Err(ProfileError::NameTooLong);
        }
        let three_things: Vec<String> = self
            .three_things
            .iter()
            .map(|t| t.trim().to_owned())
            .filter(|t| !t.is_empty())
            .collect();
        if three_things
            .iter()
            .any(|t| t.chars().count() > MAX_TITLE_CHARS)
        {
            return Err(ProfileError::ThingTooLong);
        }
        Ok(NewContactCard {
            worker_id: worker_id.to_owned(),
            display_name: display_name.to_owned(),
            picture: self.picture.clone(),
            three_things,
            how_to_reach: self.how_to_reach.trim().to_owned(),
            when_to_reach: self.when_to_reach.trim().to_owned(),
        })
    }

    /// The changes from the card `was` (only what differs), or `None` when nothing changed.
    pub fn to_patch(&self, was: &NewContactCard) -> Result<Option<ContactCardPatch>, ProfileError> {
        let new = self.to_new(&was.worker_id)?;
        let patch = ContactCardPatch {
            display_name: (new.display_name != was.display_name).then_some(new.display_name),
            picture: (new.picture != was.picture).then_some(new.picture),
            three_things: (new.three_things != was.three_things).then_some(new.three_things),
            how_to_reach: (new.how_to_reach != was.how_to_reach).then_some(new.how_to_reach),
            when_to_reach: (new.when_to_reach != was.when_to_reach).then_some(new.when_to_reach),
        };
        Ok((patch != ContactCardPatch::default()).then_some(patch))
    }
}

/// A photo's size as the form tells it: "480 × 360, 41 KB".
pub fn photo_size(width: u32, height: u32, bytes: usize) -> String {
    format!("{width} × {height}, {} KB", bytes.div_ceil(1024))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_photo_is_brought_down_to_its_longest_side_keeping_its_shape() {
        assert_eq!(fit(4032, 3024, PHOTO_EDGE), (480, 360));
        assert_eq!(fit(3024, 4032, PHOTO_EDGE), (360, 480));
        assert_eq!(fit(300, 200, PHOTO_EDGE), (300, 200));
        assert_eq!(fit(10_000, 1, PHOTO_EDGE), (480, 1));
        assert_eq!(fit(0, 0, PHOTO_EDGE), (1, 1));
    }

    #[test]
    fn a_profile_that_says_nothing_is_not_saved_and_answers_are_trimmed() {
        assert_eq!(
            AboutDraft::default().to_new(SubjectKind::Child, "child-01"),
            Err(ProfileError::Empty)
        );
        let draft = AboutDraft {
            fun: "  Football and drawing ".into(),
            how_to_help: "Text me first\n".into(),
            ..AboutDraft::default()
        };
        let profile = draft.to_new(SubjectKind::Child, "child-01").unwrap();
        assert_eq!(profile.fun, "Football and drawing");
        assert_eq!(profile.how_to_help, "Text me first");
        assert_eq!(
            (profile.subject_kind, profile.subject_id.as_str()),
            (SubjectKind::Child, "child-01")
        );
    }

    #[test]
    fn an_edit_of_a_profile_changes_only_what_differs() {
        let was = NewAboutMe {
            subject_kind: SubjectKind::Worker,
            subject_id: "sw-a".into(),
            fun: "Walking".into(),
            dislikes: "Being late".into(),
            important: String::new(),
            how_to_help: String::new(),
        };
        let mut draft = AboutDraft::from_profile(&was);
        assert_eq!(draft.to_patch(&was), Ok(None));
        draft.important = "My family".into();
        let patch = draft.to_patch(&was).unwrap().unwrap();
        assert_eq!(patch.important.as_deref(), Some("My family"));
        assert_eq!(
            (patch.fun, patch.dislikes, patch.how_to_help),
            (None, None, None)
        );
        draft = AboutDraft::default();
        assert_eq!(draft.to_patch(&was), Err(ProfileError::Empty));
    }

    #[test]
    fn a_card_needs_a_name_and_keeps_only_the_things_given() {
        let mut draft = CardDraft {
            three_things: ["I have a dog".into(), "  ".into(), "I love curry ".into()],
            ..CardDraft::default()
        };
        assert_eq!(draft.to_new("sw-a"), Err(ProfileError::NoName));
        draft.display_name = " Sam Worker ".into();
        let card = draft.to_new("sw-a").unwrap();
        assert_eq!(card.display_name, "Sam Worker");
        assert_eq!(card.three_things, ["I have a dog", "I love curry"]);
        draft.three_things[1] = "x".repeat(MAX_TITLE_CHARS + 1);
        assert_eq!(draft.to_new("sw-a"), Err(ProfileError::ThingTooLong));
    }

    #[test]
    fn a_card_edit_changes_only_what_differs_and_a_new_photo_is_a_change() {
        let was = CardDraft {
            display_name: "Sam".into(),
            three_things: ["Dogs".into(), String::new(), String::new()],
            ..CardDraft::default()
        }
        .to_new("sw-a")
        .unwrap();
        let mut draft = CardDraft::from_card(&was);
        assert_eq!(draft.to_patch(&was), Ok(None));
        draft.picture = Some(Picture {
            media_type: "image/jpeg".into(),
            bytes: vec![0xff, 0xd8, 0xff],
        });
        let patch = draft.to_patch(&was).unwrap().unwrap();
        assert!(matches!(patch.picture, Some(Some(_))));
        assert_eq!((patch.display_name, patch.three_things), (None, None));
    }
}
