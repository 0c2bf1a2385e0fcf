//! `Logs`: the metric values passed to callbacks, in Keras' key order.

/// Metric values by name, as Keras passes them to callbacks: the training loop inserts
/// its keys in alphabetical order (`accuracy`, `loss`, `val_accuracy`, `val_loss`), and
/// keys that callbacks add (e.g. `learning_rate`) follow in the order they were added.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Logs {
    entries: Vec<(String, f64)>,
}

impl Logs {
    /// Empty logs (what begin hooks receive).
    pub fn new() -> Self {
        Logs::default()
    }

    /// Logs holding `pairs` sorted by key, as Keras' `pythonify_logs` sorts them.
    pub fn sorted<K: Into<String>>(pairs: impl IntoIterator<Item = (K, f64)>) -> Self {
        let mut entries: Vec<(String, f64)> = pairs.into_iter().map(|(k, v)| (k.into(), v)).collect();
        entries.sort_by(|a, b| a.0.cmp(&b.0));
        entries.dedup_by(|later, earlier| later.0 == earlier.0);
        Logs { entries }
    }

    /// The value of `key`.
    pub fn get(&self, key: &str) -> Option<f64> {
        self.entries.iter().find(|(k, _)| k == key).map(|(_, v)| *v)
    }

    /// Sets `key`: replaces its value in place, or appends it.
    pub fn set(&mut self, key: impl Into<String>, value: f64) {
        let key = key.into();
        match self.entries.iter_mut().find(|(k, _)| *k == key) {
            Some(entry) => entry.1 = value,
            None => self.entries.push((key, value)),
        }
    }

    /// Removes `key`, returning its value.
    pub fn remove(&mut self, key: &str) -> Option<f64> {
        let i = self.entries.iter().position(|(k, _)| k == key)?;
        Some(self.entries.remove(i).1)
    }

    /// Adds every entry of `other` with `prefix` prepended (e.g. `val_`), then re-sorts
    /// as Keras does when it merges validation results into the epoch logs.
    pub fn merge_prefixed(&mut self, prefix: &str, other: &Logs) {
        for (k, v) in other.iter() {
            self.set(format!("{prefix}{k}"), v);
        }
        self.entries.sort_by(|a, b| a.0.cmp(&b.0));
    }

    /// Entries in order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, f64)> + '_ {
        self.entries.iter().map(|(k, v)| (k.as_str(), *v))
    }

    /// Keys in order.
    pub fn keys(&self) -> impl Iterator<Item = &str> + '_ {
        self.entries.iter().map(|(k, _)| k.as_str())
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when there is no entry.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sorted_then_appended() {
        let mut l = Logs::sorted([("loss", 1.0), ("accuracy", 0.5)]);
        l.set("learning_rate", 0.1);
        l.set("loss", 0.9);
        assert_eq!(l.keys().collect::<Vec<_>>(), ["accuracy", "loss", "learning_rate"]);
        assert_eq!(l.get("loss"), Some(0.9));
        let mut e = Logs::sorted([("loss", 1.0), ("accuracy", 0.5)]);
        e.merge_prefixed("val_", &Logs::sorted([("loss", 2.0), ("accuracy", 0.25)]));
        assert_eq!(e.keys().collect::<Vec<_>>(), ["accuracy", "loss", "val_accuracy", "val_loss"]);
    }
}
