//! The listing logic of ListObjects(V2): prefix, delimiter roll-up into common prefixes,
//! a start point and a page size. Pure, so it is tested against a naive model.
//!
//! One rule serves `start-after`, `marker` and continuation tokens alike: an entry is
//! listed when its name (key, or common prefix) sorts after the start point. A token is
//! the name of the page's last entry, so resuming after a common prefix skips every key
//! under it.

use std::collections::BTreeMap;
use std::ops::Bound;

/// One line of a listing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Entry<'a, V> {
    Object(&'a str, &'a V),
    /// Keys that share the prefix up to and including the delimiter, listed once.
    CommonPrefix(String),
}

impl<V> Entry<'_, V> {
    pub fn name(&self) -> &str {
        match self {
            Entry::Object(k, _) => k,
            Entry::CommonPrefix(p) => p,
        }
    }
}

/// A page of a listing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Page<'a, V> {
    pub entries: Vec<Entry<'a, V>>,
    /// More entries follow: resume after the last entry's name.
    pub truncated: bool,
}

/// Lists `keys` under `prefix`, rolled up at `delimiter` (none if empty), after `after`,
/// at most `max` entries.
pub fn list<'a, V>(
    keys: &'a BTreeMap<String, V>,
    prefix: &str,
    delimiter: &str,
    after: Option<&str>,
    max: usize,
) -> Page<'a, V> {
    let mut page = Page {
        entries: Vec::new(),
        truncated: false,
    };
    if max == 0 {
        return page;
    }
    let start = match after {
        Some(a) if a >= prefix => Bound::Excluded(a),
        _ => Bound::Included(prefix),
    };
    for (key, value) in keys.range::<str, _>((start, Bound::Unbounded)) {
        if !key.starts_with(prefix) {
            // keys under a prefix are contiguous, and the range starts inside them
            break;
        }
        let rest = &key[prefix.len()..];
        let common = (!delimiter.is_empty())
            .then(|| rest.find(delimiter))
            .flatten()
            .map(|at| &key[..prefix.len() + at + delimiter.len()]);
        let entry = match common {
            Some(cp) => {
                if after.is_some_and(|a| cp <= a)
                    || page.entries.last().is_some_and(|e| e.name() == cp)
                {
                    continue;
                }
                Entry::CommonPrefix(cp.to_owned())
            }
            None => Entry::Object(key.as_str(), value),
        };
        if page.entries.len() == max {
            page.truncated = true;
            break;
        }
        page.entries.push(entry);
    }
    page
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn keys(names: &[&str]) -> BTreeMap<String, ()> {
        names.iter().map(|k| ((*k).to_owned(), ())).collect()
    }

    fn names<V>(page: &Page<'_, V>) -> Vec<String> {
        page.entries.iter().map(|e| e.name().to_owned()).collect()
    }

    #[test]
    fn delimiter_rolls_up() {
        let k = keys(&["a/1", "a/2", "b", "c/x/y", "c/z", "d"]);
        let page = list(&k, "", "/", None, 1000);
        assert_eq!(names(&page), ["a/", "b", "c/", "d"]);
        assert!(!page.truncated);
        let page = list(&k, "c/", "/", None, 1000);
        assert_eq!(names(&page), ["c/x/", "c/z"]);
        let page = list(&k, "", "", None, 1000);
        assert_eq!(page.entries.len(), 6);
    }

    #[test]
    fn resumes_after_a_common_prefix() {
        let k = keys(&["a/1", "a/2", "b"]);
        let page = list(&k, "", "/", None, 1);
        assert_eq!(names(&page), ["a/"]);
        assert!(page.truncated);
        let page = list(&k, "", "/", Some("a/"), 1);
        assert_eq!(names(&page), ["b"]);
        assert!(!page.truncated);
    }

    #[test]
    fn start_after_before_the_prefix() {
        let k = keys(&["a", "b/1", "b/2", "c"]);
        let page = list(&k, "b/", "", Some("a"), 10);
        assert_eq!(names(&page), ["b/1", "b/2"]);
        let page = list(&k, "b/", "", Some("b/1"), 10);
        assert_eq!(names(&page), ["b/2"]);
        assert!(list(&k, "", "", None, 0).entries.is_empty());
    }

    /// The model: every name (key or common prefix) under the prefix, sorted, deduplicated.
    fn model(keys: &BTreeMap<String, ()>, prefix: &str, delimiter: &str) -> Vec<String> {
        let mut out: Vec<String> = keys
            .keys()
            .filter(|k| k.starts_with(prefix))
            .map(|k| {
                let rest = &k[prefix.len()..];
                match rest.find(delimiter).filter(|_| !delimiter.is_empty()) {
                    Some(at) => k[..prefix.len() + at + delimiter.len()].to_owned(),
                    None => k.clone(),
                }
            })
            .collect();
        out.sort();
        out.dedup();
        out
    }

    proptest! {
        #[test]
        fn pages_concatenate_to_the_model(
            raw in proptest::collection::btree_set("[ab/.]{0,6}", 0..40),
            prefix in "[ab/]{0,2}",
            delimiter in prop_oneof![Just(""), Just("/"), Just("b/"), Just(".")],
            after in proptest::option::of("[ab/.]{0,4}"),
            max in 1usize..6,
        ) {
            let k: BTreeMap<String, ()> = raw.into_iter().map(|s| (s, ())).collect();
            let expected: Vec<String> = model(&k, &prefix, delimiter)
                .into_iter()
                .filter(|n| after.as_deref().is_none_or(|a| n.as_str() > a))
                .collect();
            let mut got = Vec::new();
            let mut cursor = after.clone();
            loop {
                let page = list(&k, &prefix, delimiter, cursor.as_deref(), max);
                prop_assert!(page.entries.len() <= max);
                got.extend(names(&page));
                if !page.truncated {
                    break;
                }
                prop_assert_eq!(page.entries.len(), max);
                cursor = page.entries.last().map(|e| e.name().to_owned());
            }
            prop_assert_eq!(got, expected);
        }
    }
}
