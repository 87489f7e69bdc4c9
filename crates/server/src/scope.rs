//! Who may see and write which records: a pure function of the facts the store holds about a
//! person (their role, team, allocations, referrals and access grants).
//!
//! Records carry a scope key (`child:ID` or `worker:ID`, see `fieldnotes_model::scope`):
//!
//! | role | reads | writes |
//! | --- | --- | --- |
//! | social worker | children allocated to them; children they hold a running access grant for; the team's children when the team opted in to pod-wide reading; team members' own records | allocated and granted children, children whose allocation ended within the grace period, their own records |
//! | youth worker | young people referred to them (referral started, not ended); team members' own records | referred young people, referrals ended within the grace period, their own records |
//! | manager | every child of their team; team members' own records | the same |
//! | admin | everything | everything |
//!
//! The grace period lets a device that recorded offline send that work after the allocation
//! ended (it is attributed and audited like any change); it gives no read access.

use std::collections::BTreeSet;

use fieldnotes_protocol::ScopeKey;
use fieldnotes_protocol::auth::Role;
use fieldnotes_store::ScopeFilter;
use fieldnotes_store::directory::ScopeFacts;

/// One person's scope at one moment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scope {
    /// Everything (admins).
    pub all: bool,
    pub read: BTreeSet<String>,
    pub write: BTreeSet<String>,
    /// The person's team's limit on short-plan points (3 without a team).
    pub plan_point_limit: usize,
}

impl Scope {
    /// The scope the facts give a person in `role`.
    pub fn from_facts(facts: &ScopeFacts, role: Role) -> Scope {
        let children = |ids: &[String]| {
            ids.iter()
                .map(|c| ScopeKey::child(c.as_str()).to_string())
                .collect::<Vec<_>>()
        };
        let own = ScopeKey::worker(facts.user.info.user_id.as_str()).to_string();
        let team_workers: Vec<String> = facts
            .team_members
            .iter()
            .map(|w| ScopeKey::worker(w.as_str()).to_string())
            .collect();
        let plan_point_limit = facts
            .team
            .as_ref()
            .and_then(|t| usize::try_from(t.plan_point_limit).ok())
            .unwrap_or(fieldnotes_model::PLAN_POINT_LIMIT);
        let mut read = BTreeSet::new();
        let mut write = BTreeSet::new();
        read.insert(own.clone());
        write.insert(own);
        read.extend(team_workers.iter().cloned());
        match role {
            Role::Admin => {
                return Scope {
                    all: true,
                    read,
                    write,
                    plan_point_limit,
                };
            }
            Role::Manager => {
                for key in children(&facts.team_children)
                    .into_iter()
                    .chain(children(&facts.granted))
                {
                    read.insert(key.clone());
                    write.insert(key);
                }
                write.extend(team_workers);
            }
            Role::SocialWorker => {
                let pod = facts.team.as_ref().is_some_and(|t| t.pod_read_access);
                for key in children(&facts.allocated)
                    .into_iter()
                    .chain(children(&facts.granted))
                {
                    read.insert(key.clone());
                    write.insert(key);
                }
                if pod {
                    read.extend(children(&facts.team_children));
                }
                write.extend(children(&facts.recently_ended));
            }
            Role::YouthWorker => {
                for key in children(&facts.referred) {
                    read.insert(key.clone());
                    write.insert(key);
                }
                write.extend(children(&facts.recently_ended));
            }
        }
        Scope {
            all: false,
            read,
            write,
            plan_point_limit,
        }
    }

    pub fn can_read(&self, key: &str) -> bool {
        self.all || self.read.contains(key)
    }

    pub fn can_write(&self, key: &str) -> bool {
        self.all || self.write.contains(key)
    }

    /// What the feed may send.
    pub fn filter(&self) -> ScopeFilter {
        if self.all {
            ScopeFilter::All
        } else {
            ScopeFilter::Keys(self.read.iter().cloned().collect())
        }
    }

    /// The keys a device holding everything in scope lists: `*` for admins.
    pub fn device_keys(&self) -> BTreeSet<String> {
        if self.all {
            BTreeSet::from([ScopeKey::ALL_TEXT.to_owned()])
        } else {
            self.read.clone()
        }
    }
}

/// What a device must be sent and told, from the keys it says it holds in full.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScopeDelta {
    /// Keys in scope the device does not hold: send their history, sorted.
    pub backfill: Vec<String>,
    /// Keys the device holds that left its scope: tell it to remove them, sorted.
    pub remove: Vec<String>,
}

/// Compare what a device holds with what it may hold.
pub fn delta(scope: &Scope, held: &[String]) -> ScopeDelta {
    let wanted = scope.device_keys();
    let held: BTreeSet<String> = held.iter().cloned().collect();
    let remove: Vec<String> = held.difference(&wanted).cloned().collect();
    let backfill = if remove.iter().any(|k| ScopeKey::is_all_text(k)) {
        // The device must first drop everything it holds; it lists what is left next round.
        Vec::new()
    } else {
        wanted.difference(&held).cloned().collect()
    };
    ScopeDelta { backfill, remove }
}

#[cfg(test)]
mod tests {
    use fieldnotes_store::directory::{Team, UserInfo, UserRecord};

    use super::*;

    fn facts(role: Role, pod: bool) -> ScopeFacts {
        ScopeFacts {
            user: UserRecord {
                info: UserInfo {
                    user_id: "me".into(),
                    username: "me".into(),
                    display_name: "Me".into(),
                    role,
                    team_id: Some("t1".into()),
                },
                password_hash: None,
                external_subject: None,
                active: true,
                created_at_ms: 0,
            },
            team: Some(Team {
                team_id: "t1".into(),
                name: "Pod 1".into(),
                pod_read_access: pod,
                plan_point_limit: 3,
            }),
            allocated: vec!["c1".into()],
            referred: vec!["c3".into()],
            recently_ended: vec!["c9".into()],
            team_children: vec!["c1".into(), "c2".into()],
            team_members: vec!["me".into(), "colleague".into()],
            granted: vec!["c7".into()],
        }
    }

    #[test]
    fn a_social_worker_reads_allocated_and_granted_children_and_the_teams_cards() {
        let s = Scope::from_facts(&facts(Role::SocialWorker, false), Role::SocialWorker);
        for key in ["child:c1", "child:c7", "worker:me", "worker:colleague"] {
            assert!(s.can_read(key), "{key}");
        }
        for key in ["child:c2", "child:c3", "child:c9"] {
            assert!(!s.can_read(key), "{key}");
        }
        assert!(s.can_write("child:c9"), "late work after allocation ended");
        assert!(
            !s.can_write("worker:colleague"),
            "not a colleague's own card"
        );
    }

    #[test]
    fn pod_reading_is_read_only() {
        let s = Scope::from_facts(&facts(Role::SocialWorker, true), Role::SocialWorker);
        assert!(s.can_read("child:c2"));
        assert!(!s.can_write("child:c2"));
    }

    #[test]
    fn a_youth_worker_sees_only_referred_young_people() {
        let s = Scope::from_facts(&facts(Role::YouthWorker, true), Role::YouthWorker);
        assert!(s.can_read("child:c3") && s.can_write("child:c3"));
        for key in ["child:c1", "child:c2", "child:c7"] {
            assert!(!s.can_read(key), "{key}");
        }
    }

    #[test]
    fn a_manager_reads_and_writes_the_teams_children() {
        let s = Scope::from_facts(&facts(Role::Manager, false), Role::Manager);
        assert!(s.can_write("child:c1") && s.can_write("child:c2"));
        assert!(!s.can_read("child:c3"));
        assert!(s.can_read("child:c7"), "a manager's duty access counts too");
    }

    #[test]
    fn delta_backfills_new_keys_and_removes_lost_ones() {
        let s = Scope::from_facts(&facts(Role::SocialWorker, false), Role::SocialWorker);
        let d = delta(&s, &["child:c1".into(), "child:c2".into()]);
        assert_eq!(d.remove, vec!["child:c2".to_owned()]);
        assert_eq!(
            d.backfill,
            vec![
                "child:c7".to_owned(),
                "worker:colleague".to_owned(),
                "worker:me".to_owned()
            ]
        );
    }

    #[test]
    fn a_demoted_admin_drops_everything_before_refilling() {
        let s = Scope::from_facts(&facts(Role::SocialWorker, false), Role::SocialWorker);
        let d = delta(&s, &["*".into(), "child:c1".into()]);
        assert_eq!(d.remove, vec!["*".to_owned()]);
        assert!(d.backfill.is_empty());
    }
}
