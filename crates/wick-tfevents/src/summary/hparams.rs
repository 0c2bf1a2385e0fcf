//! HParams: an experiment (the table's columns) and per-run session start/end records,
//! all as content of plugin `hparams` (version 0) on fixed tags.
//!
//! The dashboard shows one row per run that holds a session start; its metric columns are
//! ordinary scalar series in that run or in its sub-runs (`MetricName::group` names the
//! sub-run, e.g. `"validation"` for the Keras layout `run/validation`).

use super::{check_tag, metadata, plugin, tensor::f32_tensor, tensor_value, Value};
use crate::proto::hparams as pb;
use crate::{Error, Result};
use prost::Message;
use prost_types::value::Kind;

/// Tag of the experiment value.
pub const EXPERIMENT_TAG: &str = "_hparams_/experiment";
/// Tag of a session's start value (its hyper-parameter values).
pub const SESSION_START_TAG: &str = "_hparams_/session_start_info";
/// Tag of a session's end value (its status).
pub const SESSION_END_TAG: &str = "_hparams_/session_end_info";

/// A hyper-parameter value: a number, a string or a boolean.
#[derive(Debug, Clone, PartialEq)]
pub enum HParamValue {
    /// Any number; TensorBoard keeps numbers as f64.
    Number(f64),
    /// A string (e.g. an optimizer name).
    Text(String),
    /// A flag.
    Bool(bool),
}

macro_rules! number_from {
    ($($t:ty),*) => {$(
        impl From<$t> for HParamValue {
            fn from(v: $t) -> Self { HParamValue::Number(v as f64) }
        }
    )*};
}
number_from!(f64, f32, i64, i32, u32, u64, usize);

impl From<bool> for HParamValue {
    fn from(v: bool) -> Self {
        HParamValue::Bool(v)
    }
}
impl From<&str> for HParamValue {
    fn from(v: &str) -> Self {
        HParamValue::Text(v.to_string())
    }
}
impl From<String> for HParamValue {
    fn from(v: String) -> Self {
        HParamValue::Text(v)
    }
}

impl HParamValue {
    fn data_type(&self) -> pb::DataType {
        match self {
            HParamValue::Number(_) => pb::DataType::Float64,
            HParamValue::Text(_) => pb::DataType::String,
            HParamValue::Bool(_) => pb::DataType::Bool,
        }
    }

    fn to_proto(&self, tag: &str, name: &str) -> Result<prost_types::Value> {
        let kind = match self {
            HParamValue::Number(v) if !v.is_finite() => {
                return Err(Error::InvalidValue {
                    tag: tag.to_string(),
                    message: format!("hparam {name:?} is {v}; TensorBoard needs a finite number"),
                })
            }
            HParamValue::Number(v) => Kind::NumberValue(*v),
            HParamValue::Text(s) => Kind::StringValue(s.clone()),
            HParamValue::Bool(b) => Kind::BoolValue(*b),
        };
        Ok(prost_types::Value { kind: Some(kind) })
    }
}

/// The values a hyper-parameter column may take.
#[derive(Debug, Clone, PartialEq)]
pub enum Domain {
    /// A finite set of values, all of one kind.
    Discrete(Vec<HParamValue>),
    /// A real interval `[min, max]`.
    Interval {
        /// Lower bound.
        min: f64,
        /// Upper bound.
        max: f64,
    },
}

/// One hyper-parameter column of the experiment.
#[derive(Debug, Clone, PartialEq)]
pub struct HParam {
    /// Name, as used in each session's values.
    pub name: String,
    /// Column title; empty means the name.
    pub display_name: String,
    /// Markdown description.
    pub description: String,
    /// Allowed values, when known.
    pub domain: Option<Domain>,
}

impl HParam {
    /// A column with no declared domain.
    pub fn new(name: impl Into<String>) -> Self {
        HParam { name: name.into(), display_name: String::new(), description: String::new(), domain: None }
    }

    /// Declares the domain.
    pub fn with_domain(mut self, domain: Domain) -> Self {
        self.domain = Some(domain);
        self
    }

    /// Sets the description.
    pub fn with_description(mut self, description: impl Into<String>) -> Self {
        self.description = description.into();
        self
    }
}

/// Which data a metric is computed on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DatasetType {
    /// Not said.
    #[default]
    Unknown,
    /// Training data.
    Training,
    /// Validation data.
    Validation,
}

/// One metric column: the last value of scalar `tag` in sub-run `group` of each session
/// (TensorBoard's `MetricInfo`).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct MetricInfo {
    /// Scalar tag, e.g. `epoch_accuracy`.
    pub tag: String,
    /// Sub-run of the session run holding the scalar (`""`: the session run itself).
    pub group: String,
    /// Column title; empty means the tag.
    pub display_name: String,
    /// Markdown description.
    pub description: String,
    /// Which data the metric is computed on.
    pub dataset_type: DatasetType,
}

impl MetricInfo {
    /// A metric read from the session run itself.
    pub fn new(tag: impl Into<String>) -> Self {
        MetricInfo { tag: tag.into(), ..Default::default() }
    }

    /// The same metric read from sub-run `group` (e.g. `"validation"`).
    pub fn in_group(mut self, group: impl Into<String>) -> Self {
        self.group = group.into();
        self
    }

    /// Sets the column title.
    pub fn with_display_name(mut self, name: impl Into<String>) -> Self {
        self.display_name = name.into();
        self
    }
}

/// How a session (one run) ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionStatus {
    /// Not known.
    Unknown,
    /// Finished normally.
    Success,
    /// Failed.
    Failure,
    /// Still running.
    Running,
}

fn hparams_value(tag: &str, data: pb::h_params_plugin_data::Data) -> Value {
    let content = pb::HParamsPluginData { version: 0, data: Some(data) }.encode_to_vec();
    // TensorFlow's placeholder tensor: DT_FLOAT of shape [0].
    tensor_value(tag, metadata(plugin::HPARAMS, content), f32_tensor(&[0], &[]))
}

/// The experiment: hyper-parameter and metric columns. Write it once, in the parent run
/// of the sessions (TensorBoard uses only one experiment per log directory).
pub fn experiment(hparams: &[HParam], metrics: &[MetricInfo], time_created_secs: f64) -> Result<Value> {
    let mut infos = Vec::with_capacity(hparams.len());
    for h in hparams {
        check_tag(&h.name).map_err(|_| Error::InvalidValue {
            tag: EXPERIMENT_TAG.into(),
            message: "a hyper-parameter has an empty name".into(),
        })?;
        let (ty, domain) = match &h.domain {
            None => (pb::DataType::Unset, None),
            Some(Domain::Interval { min, max }) => {
                if !(min.is_finite() && max.is_finite() && min <= max) {
                    return Err(Error::InvalidValue {
                        tag: EXPERIMENT_TAG.into(),
                        message: format!("hparam {:?} has interval [{min}, {max}]; need finite min <= max", h.name),
                    });
                }
                (
                    pb::DataType::Float64,
                    Some(pb::h_param_info::Domain::DomainInterval(pb::Interval { min_value: *min, max_value: *max })),
                )
            }
            Some(Domain::Discrete(values)) => {
                let ty = values.first().map_or(pb::DataType::Unset, HParamValue::data_type);
                if let Some(v) = values.iter().find(|v| v.data_type() != ty) {
                    return Err(Error::InvalidValue {
                        tag: EXPERIMENT_TAG.into(),
                        message: format!(
                            "hparam {:?} mixes kinds in its domain ({v:?} differs from the first value)",
                            h.name
                        ),
                    });
                }
                let list = values.iter().map(|v| v.to_proto(EXPERIMENT_TAG, &h.name)).collect::<Result<Vec<_>>>()?;
                (ty, Some(pb::h_param_info::Domain::DomainDiscrete(prost_types::ListValue { values: list })))
            }
        };
        infos.push(pb::HParamInfo {
            name: h.name.clone(),
            display_name: h.display_name.clone(),
            description: h.description.clone(),
            r#type: ty as i32,
            domain,
            differs: false,
        });
    }
    let metric_infos = metrics
        .iter()
        .map(|m| {
            check_tag(&m.tag).map_err(|_| Error::InvalidValue {
                tag: EXPERIMENT_TAG.into(),
                message: "a metric has an empty tag".into(),
            })?;
            Ok(pb::MetricInfo {
                name: Some(pb::MetricName { group: m.group.clone(), tag: m.tag.clone() }),
                display_name: m.display_name.clone(),
                description: m.description.clone(),
                dataset_type: match m.dataset_type {
                    DatasetType::Unknown => pb::DatasetType::DatasetUnknown,
                    DatasetType::Training => pb::DatasetType::DatasetTraining,
                    DatasetType::Validation => pb::DatasetType::DatasetValidation,
                } as i32,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let exp = pb::Experiment { time_created_secs, hparam_infos: infos, metric_infos, ..Default::default() };
    Ok(hparams_value(EXPERIMENT_TAG, pb::h_params_plugin_data::Data::Experiment(exp)))
}

/// A session's start: its hyper-parameter values. `group_name` groups repeated sessions
/// of one trial (empty: the run name).
pub fn session_start<K: AsRef<str>>(
    hparams: &[(K, HParamValue)],
    group_name: &str,
    start_time_secs: f64,
) -> Result<Value> {
    let mut map = std::collections::HashMap::with_capacity(hparams.len());
    for (name, value) in hparams {
        let name = name.as_ref();
        if name.is_empty() {
            return Err(Error::InvalidValue {
                tag: SESSION_START_TAG.into(),
                message: "a hyper-parameter has an empty name".into(),
            });
        }
        map.insert(name.to_string(), value.to_proto(SESSION_START_TAG, name)?);
    }
    let info = pb::SessionStartInfo {
        hparams: map,
        group_name: group_name.to_string(),
        start_time_secs,
        ..Default::default()
    };
    Ok(hparams_value(SESSION_START_TAG, pb::h_params_plugin_data::Data::SessionStartInfo(info)))
}

/// A session's end with its status.
pub fn session_end(status: SessionStatus, end_time_secs: f64) -> Value {
    let status = match status {
        SessionStatus::Unknown => pb::Status::Unknown,
        SessionStatus::Success => pb::Status::Success,
        SessionStatus::Failure => pb::Status::Failure,
        SessionStatus::Running => pb::Status::Running,
    };
    let info = pb::SessionEndInfo { status: status as i32, end_time_secs };
    hparams_value(SESSION_END_TAG, pb::h_params_plugin_data::Data::SessionEndInfo(info))
}
