//! How both sides fill a message: changes up to a byte budget (a device's push, a server's pull
//! page), grouped by document in the order each document first appears.

use std::collections::HashMap;

/// Bytes of change data one message may still take. The first change always fits, however
/// large, so every message makes progress; after it, a change fits while the total stays within
/// the budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ByteBudget {
    max: u64,
    used: u64,
    taken: usize,
}

impl ByteBudget {
    /// A budget of `max` bytes (0 still takes one change).
    pub fn new(max: u64) -> Self {
        ByteBudget {
            max,
            used: 0,
            taken: 0,
        }
    }

    /// Take a change of `len` bytes if it fits; `false` (and nothing taken) when it does not.
    pub fn take(&mut self, len: u64) -> bool {
        if self.taken > 0 && self.used.saturating_add(len) > self.max {
            return false;
        }
        self.used = self.used.saturating_add(len);
        self.taken += 1;
        true
    }

    /// Changes taken so far.
    pub fn taken(&self) -> usize {
        self.taken
    }

    /// Bytes taken so far.
    pub fn used(&self) -> u64 {
        self.used
    }

    /// The budget's limit.
    pub fn max(&self) -> u64 {
        self.max
    }
}

/// `items` grouped by the document each belongs to, in the order each document first appears
/// (and, within a document, in the order given).
pub fn group_by_document<T>(
    items: impl IntoIterator<Item = T>,
    doc_id: impl Fn(&T) -> &str,
) -> Vec<(String, Vec<T>)> {
    let mut groups: Vec<(String, Vec<T>)> = Vec::new();
    let mut index: HashMap<String, usize> = HashMap::new();
    for item in items {
        let id = doc_id(&item);
        let slot = match index.get(id) {
            Some(&slot) => slot,
            None => {
                index.insert(id.to_owned(), groups.len());
                groups.push((id.to_owned(), Vec::new()));
                groups.len() - 1
            }
        };
        groups[slot].1.push(item);
    }
    groups
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_change_always_fits_and_the_rest_stay_within_the_budget() {
        let mut budget = ByteBudget::new(10);
        assert!(budget.take(25), "the first change fits however large");
        assert!(!budget.take(1), "nothing more once over");
        let mut budget = ByteBudget::new(10);
        assert!(budget.take(4));
        assert!(budget.take(6), "exactly the budget fits");
        assert!(!budget.take(1));
        assert_eq!((budget.taken(), budget.used()), (2, 10));
        let mut zero = ByteBudget::new(0);
        assert!(zero.take(3));
        assert!(!zero.take(0), "a zero budget takes the first change only");
    }

    #[test]
    fn groups_keep_first_seen_order_of_documents_and_of_changes() {
        let items = [("b", 1), ("a", 2), ("b", 3), ("c", 4), ("a", 5)];
        let groups = group_by_document(items, |i| i.0);
        let shape: Vec<(String, Vec<i32>)> = groups
            .into_iter()
            .map(|(doc, items)| (doc, items.into_iter().map(|i| i.1).collect()))
            .collect();
        assert_eq!(
            shape,
            vec![
                ("b".to_owned(), vec![1, 3]),
                ("a".to_owned(), vec![2, 5]),
                ("c".to_owned(), vec![4]),
            ]
        );
    }
}
