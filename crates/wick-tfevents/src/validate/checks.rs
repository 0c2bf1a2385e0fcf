//! Per-run checks on decoded events: file version, wall time, plugin metadata and
//! content version, scalar layout, step order, and whether each plugin can read its
//! values. A problem repeated on later values of one tag is reported once, with a count.

use super::{Problem, Severity};
use crate::decode::{self, decode_value, plugin_content, plugin_content_version, plugin_name, DecodeOptions};
use crate::lazy::LazyEvent;
use crate::proto::event::What;
use crate::proto::session_log::SessionStatus;
use crate::proto::summary::{value::Value as Kind, Value};
use crate::proto::{DataType, TensorProto};
use crate::summary::plugin;
use std::collections::HashMap;
use std::path::Path;

/// Plugins whose data class TensorBoard knows without `metadata.data_class`.
const KNOWN_PLUGINS: &[&str] = &[
    "scalars",
    "histograms",
    "text",
    "hparams",
    "pr_curves",
    "mesh",
    "custom_scalars",
    "images",
    "audio",
    "graph_run_metadata",
    "graph_run_metadata_graph",
    "graph_keras_model",
];

/// Plugins whose content `version` must be 0.
const VERSIONED_PLUGINS: &[&str] = &["scalars", "histograms", "images", "text", "pr_curves", "hparams", "audio"];

/// Plugins whose values [`decode_value`] reads specifically (an unreadable value is an
/// error there; elsewhere it only means the tensor itself is malformed).
const DECODED_PLUGINS: &[&str] = &["scalars", "histograms", "images", "text", "pr_curves", "hparams", "audio"];

/// Tags written once (at step 0) by the hparams plugin; exempt from the step check.
const HPARAMS_TAG_PREFIX: &str = "_hparams_/";

/// Kinds of per-tag problems, for reporting each once per tag.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Check {
    PluginChanged,
    ScalarLayout,
    Undecodable,
    BackwardsHistogram,
    StepOrder,
}

/// What the checks remember of one tag: 16 bytes, so that a run of millions of tags
/// (one event can hold millions of values) stays small.
#[derive(Debug, Default, Clone, Copy)]
struct TagState {
    /// Plugin of the tag's first value (its series' metadata in TensorBoard), as an
    /// index into [`RunChecker::plugins`].
    plugin: u16,
    /// Whether a value carrying plugin data was checked already.
    content_checked: bool,
    /// Whether `last_step` is set.
    has_step: bool,
    /// The file `last_step` was read from, as an index into [`RunChecker::files`].
    last_file: u32,
    last_step: i64,
}

/// The checks of one run; tag state spans the run's files.
#[derive(Debug, Default)]
pub(super) struct RunChecker {
    problems: Vec<Problem>,
    /// Per tag, keyed by a 64-bit hash of the tag (two tags colliding would only share
    /// their step and plugin checks).
    tags: HashMap<u64, TagState>,
    /// Plugin names seen, for [`TagState::plugin`].
    plugins: Vec<String>,
    /// Files seen, for [`TagState::last_file`].
    files: Vec<std::path::PathBuf>,
    /// First problem of each (tag, check), and how many more were suppressed.
    repeated: HashMap<(String, Check), (usize, u64)>,
}

impl RunChecker {
    /// Records a problem as it is.
    pub(super) fn push(&mut self, p: Problem) {
        self.problems.push(p);
    }

    /// The problems found, with repeat counts appended to the first of each kind.
    pub(super) fn finish(mut self) -> Vec<Problem> {
        for (index, more) in self.repeated.into_values() {
            if more > 0 {
                let p = &mut self.problems[index];
                let s = if more == 1 { "" } else { "s" };
                p.message.push_str(&format!(" ({more} later value{s} of this tag too)"));
            }
        }
        self.problems
    }

    fn report(&mut self, check: Check, p: Problem) {
        let key = (p.tag.clone().unwrap_or_default(), check);
        match self.repeated.get_mut(&key) {
            Some((_, more)) => *more += 1,
            None => {
                self.repeated.insert(key, (self.problems.len(), 0));
                self.problems.push(p);
            }
        }
    }

    /// Checks one event of `file` at `offset`; `first` says it is the file's first record.
    /// Summary values are decoded one at a time.
    pub(super) fn event(&mut self, file: &Path, offset: u64, lazy: &LazyEvent, first: bool) {
        let event = &lazy.header();
        let at = |severity, tag: Option<&str>, message: String| Problem {
            severity,
            file: file.to_path_buf(),
            offset: Some(offset),
            tag: tag.map(str::to_string),
            message,
        };
        if first {
            match &event.what {
                Some(What::FileVersion(v)) if v.starts_with("brain.Event:") => {}
                Some(What::FileVersion(v)) => {
                    self.push(at(
                        Severity::Warning,
                        None,
                        format!("file_version is {v:?}, expected \"brain.Event:2\""),
                    ));
                }
                _ => self.push(at(
                    Severity::Warning,
                    None,
                    "first event has no file_version (\"brain.Event:2\"); TensorBoard reads the file anyway".into(),
                )),
            }
        }
        if event.wall_time.is_nan() {
            self.push(at(
                Severity::Error,
                None,
                "wall_time is NaN: TensorBoard's default loader stops reading this file here".into(),
            ));
        } else if event.wall_time.is_infinite() {
            self.push(at(
                Severity::Warning,
                None,
                format!("wall_time is {}: TensorBoard's default loader drops this event", event.wall_time),
            ));
        }
        match &event.what {
            Some(What::SessionLog(log)) if log.status == SessionStatus::Start as i32 => self.restart(event.step),
            Some(What::Summary(_)) => {
                let file_index = self.file_index(file);
                for value in lazy.summary_values() {
                    self.value(&value, event.step, file_index, &at);
                }
            }
            _ => {}
        }
    }

    /// A `SessionLog START` at `step` purges later points (tensorboardX `purge_step`):
    /// writing from `step` on again is intended, not out of order.
    fn restart(&mut self, step: i64) {
        for state in self.tags.values_mut() {
            if state.has_step && state.last_step >= step {
                state.last_step = step.saturating_sub(1);
            }
        }
    }

    /// The index of `file` in `files`, added when new (files come in order, so it is
    /// the last one or a new one).
    fn file_index(&mut self, file: &Path) -> u32 {
        if self.files.last().map(|f| f.as_path()) != Some(file) {
            self.files.push(file.to_path_buf());
        }
        u32::try_from(self.files.len() - 1).unwrap_or(u32::MAX)
    }

    /// The index of `plugin` in `plugins`, added when new.
    fn plugin_index(&mut self, plugin: &str) -> u16 {
        let i = self.plugins.iter().position(|p| p == plugin).unwrap_or_else(|| {
            self.plugins.push(plugin.to_string());
            self.plugins.len() - 1
        });
        u16::try_from(i).unwrap_or(u16::MAX)
    }

    fn value(&mut self, value: &Value, step: i64, file: u32, at: &impl Fn(Severity, Option<&str>, String) -> Problem) {
        let tag = value.tag.as_str();
        let plugin = plugin_name(value).to_string();
        let explicit_plugin =
            value.metadata.as_ref().and_then(|m| m.plugin_data.as_ref()).is_some_and(|p| !p.plugin_name.is_empty());
        let is_legacy = decode::legacy_plugin(value).is_some();

        let key = {
            use std::hash::{Hash, Hasher};
            // Fixed keys: the same tag always hashes the same.
            let mut h = std::hash::DefaultHasher::new();
            tag.hash(&mut h);
            h.finish()
        };
        let plugin_index = self.plugin_index(&plugin);
        let new_tag = !self.tags.contains_key(&key);
        let state = self.tags.entry(key).or_default();
        if new_tag {
            state.plugin = plugin_index;
        }
        let tag_plugin = self.plugins.get(usize::from(state.plugin)).cloned().unwrap_or_default();
        let check_content = !state.content_checked && explicit_plugin;
        state.content_checked |= explicit_plugin;
        let last_step = state.has_step.then_some(state.last_step);
        // A later file going back in steps is a resumed run (Keras' BackupAndRestore, a
        // restarted script); within one file it is a mistake.
        let same_file = state.has_step && state.last_file == file;
        if !tag.starts_with(HPARAMS_TAG_PREFIX) {
            state.last_step = step;
            state.has_step = true;
            state.last_file = file;
        }

        if new_tag {
            if !explicit_plugin && !is_legacy {
                self.push(at(
                    Severity::Error,
                    Some(tag),
                    "first value of this tag has no metadata.plugin_data.plugin_name: TensorBoard never shows the tag"
                        .into(),
                ));
            }
            let data_class = value.metadata.as_ref().map_or(0, |m| m.data_class);
            if !plugin.is_empty() && !KNOWN_PLUGINS.contains(&plugin.as_str()) && data_class == 0 {
                self.push(at(
                    Severity::Warning,
                    Some(tag),
                    format!("plugin {plugin:?} is not built into TensorBoard and metadata.data_class is unset: TensorBoard keeps no data for it"),
                ));
            }
        } else if !plugin.is_empty() && !tag_plugin.is_empty() && plugin != tag_plugin {
            self.report(
                Check::PluginChanged,
                at(
                    Severity::Warning,
                    Some(tag),
                    format!("value of plugin {plugin:?} under a tag whose first value is {tag_plugin:?}: TensorBoard drops it"),
                ),
            );
        }

        if check_content && VERSIONED_PLUGINS.contains(&plugin.as_str()) {
            let content = plugin_content(value);
            if !content.is_empty() {
                match plugin_content_version(content) {
                    Ok(0) => {}
                    Ok(v) => self.push(at(
                        Severity::Error,
                        Some(tag),
                        format!("plugin {plugin:?} content has version {v}: TensorBoard 2.21 reads only version 0 and hides the tag"),
                    )),
                    Err(e) => self.push(at(Severity::Error, Some(tag), format!("plugin {plugin:?} {e}"))),
                }
            }
        }

        match &value.value {
            Some(Kind::Tensor(t)) if plugin == plugin::SCALARS => {
                if let Some(problem) = scalar_layout(t) {
                    self.report(Check::ScalarLayout, at(Severity::Error, Some(tag), problem));
                }
            }
            _ => self.decodes(value, &plugin, at),
        }

        if let Some(Kind::Histo(h)) = &value.value {
            if let Some(&first_limit) = h.bucket_limit.first() {
                if h.min > first_limit {
                    self.report(
                        Check::BackwardsHistogram,
                        at(
                            Severity::Warning,
                            Some(tag),
                            format!(
                                "legacy histogram's first bucket ends at {first_limit}, below its min {}: TensorBoard's default loader shows a backwards bucket (empty outer buckets should be dropped)",
                                h.min
                            ),
                        ),
                    );
                }
            }
        }

        if let Some(prev) = last_step.filter(|&prev| step <= prev && !tag.starts_with(HPARAMS_TAG_PREFIX)) {
            self.report(
                Check::StepOrder,
                if same_file {
                    at(
                        Severity::Error,
                        Some(tag),
                        format!(
                            "step {step} is not greater than the previous step {prev} of this tag: TensorBoard's default loader discards the earlier points with step >= {step}"
                        ),
                    )
                } else {
                    at(
                        Severity::Warning,
                        Some(tag),
                        format!(
                            "this file restarts the tag at step {step} after step {prev} in an earlier file (a resumed run?): TensorBoard's default loader keeps the newer points and discards the earlier ones with step >= {step}"
                        ),
                    )
                },
            );
        }
    }

    /// Reports a value its plugin cannot read.
    fn decodes(&mut self, value: &Value, plugin: &str, at: &impl Fn(Severity, Option<&str>, String) -> Problem) {
        if let decode::DecodedValue::Invalid { reason } = decode_value(value, &DecodeOptions::default()) {
            let severity = if DECODED_PLUGINS.contains(&plugin) { Severity::Error } else { Severity::Warning };
            let message =
                if plugin.is_empty() { reason } else { format!("plugin {plugin:?} cannot read this value: {reason}") };
            self.report(Check::Undecodable, at(severity, Some(&value.tag), message));
        }
    }
}

/// Why a `scalars` tensor is not one TensorBoard's default loader keeps: it must be
/// `DT_FLOAT`, rank 0, with one value in `float_val` or a 4-byte `tensor_content`.
fn scalar_layout(t: &TensorProto) -> Option<String> {
    let rank0 = t.tensor_shape.as_ref().is_none_or(|s| s.dim.is_empty() && !s.unknown_rank);
    let one_value = if t.tensor_content.is_empty() { t.float_val.len() == 1 } else { t.tensor_content.len() == 4 };
    if t.dtype == DataType::DtFloat as i32 && rank0 && one_value {
        return None;
    }
    let shape = decode::shape_of(t).map_or_else(|e| e, |s| format!("{s:?}"));
    Some(format!(
        "scalar tensor is {} with shape {shape}: TensorBoard's default loader drops scalars that are not DT_FLOAT rank 0 with exactly one value",
        decode::dtype_name(t.dtype)
    ))
}
