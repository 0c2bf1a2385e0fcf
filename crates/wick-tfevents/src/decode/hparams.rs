//! The `hparams` plugin content (`HParamsPluginData`) as serializable values.

use super::json::JsonF64;
use super::DecodedValue;
use crate::proto::hparams as pb;
use prost::Message;
use prost_types::value::Kind;
use serde::Serialize;
use std::collections::BTreeMap;

/// A `google.protobuf.Value`, typed: numbers stay numbers, strings strings.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum HParamJson {
    /// No value (or an unset kind).
    Null,
    /// A number; non-finite values serialize as `"NaN"` etc.
    Number(JsonF64),
    /// A string.
    String(String),
    /// A boolean.
    Bool(bool),
    /// A list.
    List(Vec<HParamJson>),
    /// A struct.
    Struct(BTreeMap<String, HParamJson>),
}

impl From<&prost_types::Value> for HParamJson {
    fn from(v: &prost_types::Value) -> Self {
        match &v.kind {
            None | Some(Kind::NullValue(_)) => HParamJson::Null,
            Some(Kind::NumberValue(n)) => HParamJson::Number(JsonF64(*n)),
            Some(Kind::StringValue(s)) => HParamJson::String(s.clone()),
            Some(Kind::BoolValue(b)) => HParamJson::Bool(*b),
            Some(Kind::ListValue(l)) => HParamJson::List(l.values.iter().map(HParamJson::from).collect()),
            Some(Kind::StructValue(s)) => {
                HParamJson::Struct(s.fields.iter().map(|(k, v)| (k.clone(), v.into())).collect())
            }
        }
    }
}

/// The experiment: the hyper-parameter and metric columns of the HParams table.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Experiment {
    /// Experiment name.
    pub name: String,
    /// Markdown description.
    pub description: String,
    /// Who ran it.
    pub user: String,
    /// Creation time, seconds since the Unix epoch.
    pub time_created_secs: JsonF64,
    /// Hyper-parameter columns.
    pub hparams: Vec<HParamColumn>,
    /// Metric columns.
    pub metrics: Vec<MetricColumn>,
}

/// One hyper-parameter column.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HParamColumn {
    /// Name, as used in session values.
    pub name: String,
    /// Column title.
    pub display_name: String,
    /// Markdown description.
    pub description: String,
    /// `DATA_TYPE_FLOAT64`, `DATA_TYPE_STRING`, `DATA_TYPE_BOOL` or `DATA_TYPE_UNSET`.
    #[serde(rename = "type")]
    pub data_type: String,
    /// Allowed values, when declared.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub domain: Option<Domain>,
    /// Whether the values differ between sessions.
    pub differs: bool,
}

/// A hyper-parameter's domain: `{"discrete": […]}` or `{"interval": {"min", "max"}}`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Domain {
    /// A finite set of values.
    Discrete(Vec<HParamJson>),
    /// A real interval.
    Interval {
        /// Lower bound.
        min: JsonF64,
        /// Upper bound.
        max: JsonF64,
    },
}

/// One metric column.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MetricColumn {
    /// The scalar tag.
    pub tag: String,
    /// Sub-run of the session run holding it (`""`: the session run).
    pub group: String,
    /// Column title.
    pub display_name: String,
    /// Markdown description.
    pub description: String,
    /// `DATASET_UNKNOWN`, `DATASET_TRAINING` or `DATASET_VALIDATION`.
    pub dataset_type: String,
}

fn enum_name<E: TryFrom<i32>>(v: i32, name: impl Fn(E) -> &'static str) -> String {
    E::try_from(v).map_or_else(|_| format!("UNKNOWN({v})"), |e| name(e).to_string())
}

/// Decodes an `hparams` plugin content into an experiment, session start or session end.
pub(super) fn decode_hparams(content: &[u8]) -> DecodedValue {
    let data = match pb::HParamsPluginData::decode(content) {
        Ok(d) => d,
        Err(e) => return DecodedValue::invalid(format!("hparams content is not a valid HParamsPluginData: {e}")),
    };
    use pb::h_params_plugin_data::Data;
    match data.data {
        None => DecodedValue::invalid("hparams content holds no experiment, session start or session end"),
        Some(Data::Experiment(e)) => DecodedValue::HparamsExperiment(Experiment {
            name: e.name,
            description: e.description,
            user: e.user,
            time_created_secs: JsonF64(e.time_created_secs),
            hparams: e.hparam_infos.iter().map(column).collect(),
            metrics: e
                .metric_infos
                .iter()
                .map(|m| {
                    let name = m.name.clone().unwrap_or_default();
                    MetricColumn {
                        tag: name.tag,
                        group: name.group,
                        display_name: m.display_name.clone(),
                        description: m.description.clone(),
                        dataset_type: enum_name(m.dataset_type, |d: pb::DatasetType| d.as_str_name()),
                    }
                })
                .collect(),
        }),
        Some(Data::SessionStartInfo(s)) => DecodedValue::HparamsSessionStart {
            hparams: s.hparams.iter().map(|(k, v)| (k.clone(), v.into())).collect(),
            group_name: s.group_name,
            start_time_secs: JsonF64(s.start_time_secs),
            model_uri: s.model_uri,
            monitor_url: s.monitor_url,
        },
        Some(Data::SessionEndInfo(s)) => DecodedValue::HparamsSessionEnd {
            status: enum_name(s.status, |st: pb::Status| st.as_str_name()),
            end_time_secs: JsonF64(s.end_time_secs),
        },
    }
}

fn column(h: &pb::HParamInfo) -> HParamColumn {
    use pb::h_param_info::Domain as D;
    HParamColumn {
        name: h.name.clone(),
        display_name: h.display_name.clone(),
        description: h.description.clone(),
        data_type: enum_name(h.r#type, |t: pb::DataType| t.as_str_name()),
        domain: h.domain.as_ref().map(|d| match d {
            D::DomainDiscrete(l) => Domain::Discrete(l.values.iter().map(HParamJson::from).collect()),
            D::DomainInterval(i) => Domain::Interval { min: JsonF64(i.min_value), max: JsonF64(i.max_value) },
        }),
        differs: h.differs,
    }
}
